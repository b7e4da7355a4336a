"""What the agents say in the README's screenshots: two rounds, each reply on its topic.

``REPLIES[topic][agent]`` holds the agent's four turns of that round, in order;
``SOURCES[topic]`` the search results Perplexity cites. The fakes in ``screenshots.py``
find the round's topic in each request's system prompt ("Today's topic: ...").
"""

from __future__ import annotations

from typing import Final

FOUR_DAY_WEEK: Final = "Is a four-day work week good for business?"
AI_SUPPORT: Final = "Should small businesses adopt AI agents for customer support?"
TOPICS: Final = (FOUR_DAY_WEEK, AI_SUPPORT)

REPLIES: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    FOUR_DAY_WEEK: {
        "openai": (
            "I'd treat it as an operating change, not a perk. If a team can keep response "
            "times and delivery dates with four days, the business gains retention and hiring "
            "leverage almost for free. If it can't, you've just moved overtime into Thursday.",
            "Clio's point about coverage is the crux. Customer-facing teams can stagger days off, "
            "so the office is open five days while each person works four. That's a scheduling "
            "problem, and scheduling problems are solvable.",
            "Scout, the trials you cite are mostly knowledge work. I'd pilot it for one quarter "
            "in one team, publish the metrics we'll judge it by up front, and keep the right to "
            "roll it back.",
            "So my answer is yes, with a pilot, clear metrics and staggered coverage. The "
            "companies that get this right will use the extra day as a hiring advantage for years.",
        ),
        "anthropic": (
            "Orion, I agree it's an operating change, but the second-order effects matter. A "
            "compressed week can quietly become four ten-hour days, and fatigue shows up later "
            "as mistakes and turnover rather than in the pilot's first month.",
            "Staggering helps, yet it also fragments the team: fewer overlapping hours means "
            "more handoffs and more meetings squeezed into less time. Who carries that "
            "coordination load is worth asking before the trial starts.",
            "I'd add one metric to Orion's list: how people outside the pilot feel. A four-day "
            "team next to a five-day team can breed resentment unless the criteria for joining "
            "are transparent.",
            "Done carefully, I think it's good for business, mainly because it forces an honest "
            "look at which meetings and reports actually matter. That audit pays off even if "
            "the pilot ends.",
        ),
        "perplexity": (
            "The evidence is more encouraging than I expected. In the large UK pilot, most of "
            "the participating companies kept the four-day week after the trial, and reported "
            "revenue stayed broadly flat while sick days and resignations fell.",
            "On Clio's fatigue worry: the pilots that reduced hours, rather than compressing "
            "them, reported the biggest drops in burnout. Four ten-hour days is a different "
            "policy, and the data on it is much thinner.",
            "One caveat: the companies that volunteered were self-selected and mostly small. "
            "Manufacturing and retail are underrepresented, so I'd be careful extrapolating "
            "to shift-based businesses.",
            "Summing up the research: real gains in retention and wellbeing, neutral revenue "
            "in the trials we have, and an open question for sectors that were not studied.",
        ),
        "gemini": (
            "Picture the labour market in ten years: if a third of employers offer four days, "
            "the rest will pay a premium to compete for the same people. Early movers get to "
            "shape that norm instead of reacting to it.",
            "Building on Orion's scheduling point, AI assistants could absorb the handoff work "
            "Clio worries about: summaries of what happened on your day off, drafted replies, "
            "and a shared log that makes staggered teams feel continuous.",
            "Scout's caveat about shift work is fair, but there are creative versions there "
            "too: nine-day fortnights, seasonal schedules, or rotating long weekends. The idea "
            "is more flexible than the label.",
            "I'm optimistic. The four-day week is really a bet on focus over presence, and "
            "businesses that learn to measure output instead of hours will be ready for "
            "whatever the next shift in work looks like.",
        ),
    },
    AI_SUPPORT: {
        "openai": (
            "Yes, but start narrow. Let an AI agent handle order status, opening hours and "
            "returns, which are most of the tickets, and route anything involving money or an "
            "upset customer to a person within one click.",
            "Clio, the escalation path is the product. I'd measure how often customers ask for "
            "a human and how long they wait once they do; if either climbs, the agent is "
            "covering the wrong questions.",
            "On cost, Scout's numbers match what I've seen: the savings come from the night "
            "and weekend hours a small team can't staff, not from replacing the people who "
            "handle the hard cases.",
            "My recommendation: a 90-day pilot on the top five ticket types, a visible 'talk "
            "to a person' button, and a weekly review of every conversation the agent got wrong.",
        ),
        "anthropic": (
            "Orion, starting narrow is right, but a small business has less room for error "
            "than a big one. One confidently wrong answer about a refund policy can cost a "
            "loyal customer, and there's no PR team to repair it.",
            "I'd also be honest with customers that they're talking to an AI. People forgive "
            "a bot that says it's a bot; they feel misled when they find out later.",
            "There's a quieter risk: the support team learns less about the product when the "
            "easy tickets disappear. Those repetitive questions were telling you what to fix "
            "on the website.",
            "So I'd say yes, cautiously: disclose it, keep a human one step away, and feed "
            "what the agent hears back into the product so the common questions stop coming.",
        ),
        "perplexity": (
            "Surveys of small retailers suggest that a majority of support tickets are "
            "repetitive questions about orders, shipping and returns, which is exactly where "
            "AI agents resolve the most conversations without a handoff.",
            "Customer attitudes are mixed. Studies find most people are fine with AI for quick "
            "answers but strongly prefer a person for complaints and billing disputes, which "
            "supports Clio's point about escalation.",
            "On cost, published case studies report the biggest savings from after-hours "
            "coverage. Resolution quality depends heavily on how current the help-centre "
            "articles are that the agent draws on.",
            "The evidence points to a hybrid model: AI for the routine majority, people for "
            "the sensitive minority, and regular audits. Businesses that skipped the audits "
            "saw satisfaction scores slip.",
        ),
        "gemini": (
            "Imagine a corner bakery that answers every question at 2 a.m. in five languages. "
            "That used to be a big-company luxury; now it's a subscription. That's a genuine "
            "shift in who can offer great service.",
            "Clio's worry about losing product insight has a flip side: the agent can tag "
            "every conversation, so the owner sees a weekly digest of what confused customers, "
            "which a busy team rarely has time to write.",
            "Scout's point about help-centre articles is the hidden opportunity. The agent "
            "forces you to write down how the business works, and that document becomes "
            "training material for new staff too.",
            "I'd go further than a pilot: small businesses should design their service around "
            "AI plus a human safety net from the start. The ones that do will compete on "
            "responsiveness with companies a hundred times their size.",
        ),
    },
}

SOURCES: Final[dict[str, tuple[dict[str, str], ...]]] = {
    FOUR_DAY_WEEK: (
        {"url": "https://autonomy.work/portfolio/uk4dwpilotresults/", "title": "UK four-day week pilot results",
         "date": "2023-02-21"},
        {"url": "https://www.4dayweek.com/research", "title": "Four-day week research", "date": "2024-06-01"},
    ),
    AI_SUPPORT: (
        {"url": "https://www.zendesk.com/blog/customer-experience-trends/", "title": "Customer experience trends",
         "date": "2025-01-15"},
        {"url": "https://www.gartner.com/en/customer-service-support", "title": "Customer service research",
         "date": "2025-03-10"},
    ),
}
