"""The templates' words: one ``Voice`` per persona, as plain tuples of fragments.

A template message is composed from fragments (see ``actors.providers.templates``):

- an opening message: ``opener`` + ``handoff``;
- a reply: ``reaction`` (or ``reaction_with_earlier``) + ``point`` + ``closing``;
- the round's last message: ``reaction`` + ``point`` + ``wrapup``;
- ``bridges`` pad a message that would fall short of the minimum length.

Placeholders: ``{prev}`` the previous speaker's name, ``{earlier}`` an earlier speaker's
name, ``{next}`` the persona who speaks after this one, ``{other}`` any other persona,
``{topic}`` the round's topic (quoted). Rules the tests hold the data to:

- every ``opener`` and ``point`` holds ``{topic}``; every ``reaction`` holds ``{prev}``;
  every ``reaction_with_earlier`` holds both ``{prev}`` and ``{earlier}``;
- no sentence is shared between two personas, and each fragment's longest literal
  stretch is unique (it is how the writer recognises a fragment already used this round);
- no fragment claims to be human, and none invents a statistic or a source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = ["VOICES", "Voice"]


@dataclass(frozen=True)
class Voice:
    """One persona's fragments; see the module docstring for the placeholders."""

    openers: tuple[str, ...]
    handoffs: tuple[str, ...]
    reactions: tuple[str, ...]
    reactions_with_earlier: tuple[str, ...]
    points: tuple[str, ...]
    closings: tuple[str, ...]
    wrapups: tuple[str, ...]
    bridges: tuple[str, ...]


# Orion: a pragmatic product strategist. Direct; next steps, owners, metrics, trade-offs.
ORION: Final = Voice(
    openers=(
        "Let me open with the practical angle on {topic}. Before we debate the big picture, "
        "I want to know what a real team could ship next quarter, what it would cost, and "
        "how we would know it worked.",
        "My starting position on {topic} is simple: treat it as a product decision, not a "
        "philosophy debate. Pick one customer problem, put a number on it, and run a small, "
        "honest pilot before anyone commits a big budget.",
        "I'll kick things off on {topic} with a trade-off rather than a verdict. Moving early "
        "buys learning and market position; waiting buys cheaper tools and clearer rules. "
        "Most teams should pick a narrow middle path.",
        "To get us started on {topic}: the answer depends less on the technology and more on "
        "execution. Who owns it, what it replaces, and which metric moves if it works are the "
        "questions I'd settle first.",
        "Opening thought on {topic}: the winners will be the teams that scope tightly. A small "
        "first release with a clear owner and a clear success metric beats a sweeping "
        "strategy deck every single time.",
        "Here is where I'd begin with {topic}. Map the customer journey, find the one step "
        "that is slow, costly or error-prone, and ask whether this change fixes that step "
        "better than the cheapest alternative.",
        "I'd frame {topic} as a sequencing problem. Run the cheap, reversible experiment "
        "first, measure it for a few weeks, and only then decide whether to scale, change "
        "course or stop entirely.",
        "First take on {topic}: yes, but only with guardrails and a budget line. The upside "
        "is real when the scope is concrete, and the downside is mostly wasted time when the "
        "scope stays vague.",
        "Let me put a stake in the ground on {topic}. The opportunity is real, yet most of "
        "the value will come from boring operational details: onboarding, support, pricing "
        "and a plan for when things break.",
    ),
    handoffs=(
        "{next}, I suspect you will want to poke holes in that, so go ahead.",
        "{next}, what would make you more cautious than I am here?",
        "I'm curious whether {other} sees a bigger opportunity than I do.",
        "{next}, where do you think my plan breaks first?",
        "Over to you, {next}: what am I underestimating?",
        "{next}, tell me which part of that you would cut first.",
    ),
    reactions=(
        "{prev}, that is a fair point, and I'd turn it into a decision rather than leave it "
        "as a concern.",
        "I agree with {prev} on the direction, but I want to get concrete about what happens "
        "on Monday morning.",
        "{prev}, you have named the risk clearly; now let's price it and decide who owns it.",
        "Building on what {prev} just said, the practical question is what we would ship "
        "first.",
        "{prev}, I'd push back a little: waiting for certainty is also a decision, and it has "
        "a cost.",
        "That's a useful lens, {prev}, though I'd narrow it to one customer and one metric.",
        "{prev} makes a strong case, and I'd add that the trade-off changes with company "
        "size.",
        "I hear you, {prev}, but most teams cannot act on that without a budget and a "
        "deadline.",
        "{prev}, I like where you are going, so let me translate it into a first step.",
        "Good challenge, {prev}; my answer is to make the first move small and reversible.",
        "{prev}, you are right about the upside, but execution is where most of these "
        "efforts stall.",
        "Let me take {prev}'s point and ask what it means for a team of five with no spare "
        "budget.",
        "{prev}, I'd separate what is urgent from what is interesting, because they lead to "
        "different plans.",
        "I partly disagree with {prev}: the bottleneck is usually adoption, not the "
        "technology itself.",
        "{prev}, that framing helps, and it suggests a pilot we could run in a few weeks.",
        "Picking up {prev}'s thread, I'd rank the options by the cost of being wrong.",
    ),
    reactions_with_earlier=(
        "{prev} and {earlier} are closer than it sounds, and the overlap is where I'd start.",
        "Combining {earlier}'s earlier point with what {prev} just said gives us a workable "
        "plan.",
        "{prev}, your view and {earlier}'s can both hold, but they imply different budgets.",
        "I want to reconcile {prev} with what {earlier} said before, because a team has to "
        "pick one path.",
        "{prev} and, before that, {earlier} both raised things that belong in the same "
        "spreadsheet.",
        "Listening to {prev} and, earlier, {earlier}, I think we agree on the goal and differ "
        "on the order.",
    ),
    points=(
        "On {topic}, my recommendation is a ninety-day pilot with one owner, one success "
        "metric and a written exit plan if the numbers do not move.",
        "For {topic}, the real trade-off is speed versus control: moving fast wins customers, "
        "moving carefully protects trust, and the right mix depends on how costly a mistake "
        "is.",
        "When I think about {topic}, I start with unit economics: if it does not lower the "
        "cost or raise the revenue per customer within a year, it is a hobby.",
        "The practical path on {topic} is to automate the repetitive majority of the work and "
        "keep people firmly in charge of the tricky cases where judgment matters.",
        "With {topic}, the hidden cost is change management: training, new workflows and the "
        "months when old and new processes run side by side.",
        "My test for {topic} is whether a customer would notice and care; if the benefit is "
        "invisible to them, it should sit lower on the roadmap.",
        "On {topic}, I'd rather see three small experiments with clear stop rules than one big "
        "bet that nobody is willing to cancel.",
        "The business case for {topic} gets much stronger once you count the time the team "
        "saves, not just the licence fee.",
        "For {topic}, procurement and integration usually take longer than the build, so I'd "
        "plan the calendar around those steps first.",
        "I'd make {topic} a roadmap item with a named owner, because ideas without an owner "
        "quietly die in the backlog.",
        "On {topic}, the companies that win will be the ones that measure honestly and kill "
        "the projects that do not pay off.",
        "What matters for {topic} is sequencing: fix the data and the process first, then add "
        "tooling, or the tooling just speeds up the mess.",
        "A sensible stance on {topic} is to buy where the market is mature and build only "
        "where it creates a real edge.",
        "Regarding {topic}, I'd set a spending cap and a review date up front, so enthusiasm "
        "does not outrun the results.",
        "On {topic}, the pitch is easy; the hard part is support, pricing and what happens "
        "when the system gets something wrong.",
        "If I were advising a founder on {topic}, I'd say start with the workflow that "
        "already has a clear cost and a frustrated owner.",
    ),
    closings=(
        "{next}, what would you measure in the first month?",
        "So what is the smallest version of this worth shipping?",
        "{next}, which risk would you insist on covering before launch?",
        "Would anyone here fund that pilot as I described it?",
        "{next}, where would you draw the line on budget?",
        "What would convince you to stop the project early?",
        "{prev}, does that plan hold up against your concern?",
        "I'd like {next} to tell me what I have missed.",
        "Which team should own this, in your view, {next}?",
        "{next}, is there a cheaper way to test the same idea?",
        "What is the first decision a manager should make tomorrow?",
        "{prev}, would you sign off on that trade-off?",
    ),
    wrapups=(
        "To wrap up my side: start small, measure honestly and keep a clear owner. That is the "
        "practical takeaway from this round.",
        "My closing note is that the good ideas today share one trait: they can be tested "
        "cheaply before anyone bets the company.",
        "As we close, I'd sum it up as a trade-off we now understand better, and a pilot any "
        "team could start this month.",
        "Final word from me: the debate was useful, but the value only shows up once someone "
        "ships the first version and measures it.",
        "Closing the round, I'd leave teams with one step: pick the metric, name the owner and "
        "set the review date.",
        "That is a good place to end. We disagreed on pace, yet the first move we each "
        "pointed to was much the same.",
    ),
    bridges=(
        "Concrete plans beat clever slogans, especially when budgets are tight.",
        "The trade-offs should be written down, not left implicit.",
        "Scope is usually the difference between a win and a stall.",
    ),
)

# Clio: a careful systems thinker. Measured; second-order effects, risks, who is affected.
CLIO: Final = Voice(
    openers=(
        "I'd like to open our discussion of {topic} by asking who is affected, not just who "
        "benefits. The people who carry the risk of a change are often not the ones deciding "
        "on it, and that gap shapes everything.",
        "Let me begin on {topic} slowly. The first-order effects are easy to list, but the "
        "second-order ones, such as shifting incentives, new dependencies and fading skills, "
        "usually decide whether a change was wise.",
        "To start us on {topic}, I want to name the uncertainty honestly. The intended "
        "benefits are fairly clear; the side effects will take longer to show, and some may be "
        "hard to reverse.",
        "My opening view on {topic} is cautiously positive, with conditions. It can work well "
        "when the system around it is ready: clear accountability, a way to catch errors, and "
        "a path back if needed.",
        "I'll open {topic} with a systems question: what feedback loops does this create? "
        "Changes that look small in isolation can reinforce themselves once many organisations "
        "make the same move at once.",
        "On {topic}, I'd start by separating the reversible decisions from the irreversible "
        "ones. The first kind deserves speed; the second deserves patience, consultation and a "
        "much higher bar of evidence.",
        "Let me frame {topic} around trust. Whatever the efficiency gains, the lasting outcome "
        "depends on whether customers, staff and regulators still trust the system a few years "
        "from now.",
        "Opening on {topic}, I think the most interesting part is the quiet redistribution of "
        "work and risk. Someone gains time, someone else gains responsibility, and the trade "
        "is rarely negotiated openly.",
        "A measured place to begin with {topic}: the technology is rarely the whole story. The "
        "institutions, habits and incentives around it tend to decide whether the promised "
        "benefits actually arrive.",
    ),
    handoffs=(
        "{next}, I'd value your view on which of those risks matters most.",
        "{next}, do you see a consequence I have not mentioned?",
        "I wonder whether {other} reads the trade-offs differently.",
        "{next}, where would you put the safeguards?",
        "{next}, which group do you think is most exposed here?",
        "I'm keen to hear {other} test those assumptions.",
    ),
    reactions=(
        "{prev}, I find that persuasive, though I want to look at who absorbs the cost if it "
        "goes wrong.",
        "I appreciate the clarity, {prev}, and I'd add one caution about effects that appear "
        "later.",
        "{prev}, that works in the first year; I'm less sure about the third, once incentives "
        "adjust.",
        "There is a lot I agree with in what {prev} said, but the framing leaves out the "
        "people downstream.",
        "{prev}, I'd gently question the assumption that the change stays contained to one "
        "team.",
        "Let me slow down on {prev}'s point for a moment, because its consequences compound "
        "over time.",
        "{prev}, you are right about the benefits; the harder part is designing for the "
        "failure cases.",
        "I think {prev} has found the real tension, and it deserves more weight than a "
        "footnote.",
        "{prev}, I'm sympathetic, yet the same logic applied by every competitor produces a "
        "very different picture.",
        "That is a thoughtful argument, {prev}, and it raises a question about accountability "
        "we have not settled.",
        "{prev}, I'd hold that conclusion a little more loosely until we know how errors get "
        "noticed.",
        "Listening to {prev}, I keep thinking about the quieter groups that rarely get a vote "
        "in these decisions.",
        "{prev}, your point stands, but I'd distinguish what is efficient from what is "
        "resilient.",
        "I agree with {prev} in part; where I differ is on how easily this can be undone.",
        "{prev}, that is the optimistic path, and it is worth sketching the pessimistic one "
        "beside it.",
        "What {prev} describes is plausible, provided the surrounding institutions keep pace, "
        "which is a big proviso.",
    ),
    reactions_with_earlier=(
        "{prev} and {earlier} have each described one part of the system, and the interaction "
        "between those parts matters most.",
        "I want to connect {prev}'s point with something {earlier} raised earlier, because "
        "together they change the risk picture.",
        "{prev}, your argument sits in some tension with {earlier}'s, and I don't think we "
        "should resolve it too quickly.",
        "Between {earlier}'s framing and {prev}'s, I'd look for the conditions under which "
        "each one is right.",
        "{earlier} touched on this before, and {prev} has now made it sharper: the incentives "
        "are the crux.",
        "Holding {prev}'s view next to {earlier}'s, I notice they assume different people "
        "bear the consequences.",
    ),
    points=(
        "On {topic}, the second-order effects worry me more than the first: skills that fade "
        "when unused, vendors that become hard to leave, and errors that spread quietly.",
        "For {topic}, I'd want clear accountability: when something goes wrong, a named person "
        "should be able to explain the decision and put it right.",
        "The risk with {topic} is concentration; if everyone adopts the same tools and "
        "assumptions, one shared failure can affect a whole sector at once.",
        "With {topic}, the benefits tend to arrive quickly and visibly, while the costs arrive "
        "slowly and diffusely, which biases us toward moving too fast.",
        "I'd approach {topic} by designing for graceful failure: a fallback process, human "
        "review of high-stakes cases and an honest channel for complaints.",
        "On {topic}, we should ask who is left out; changes that help the typical customer can "
        "still fail the people with the least room for error.",
        "The systems view of {topic} is that incentives will adapt around any change, so we "
        "should watch how behaviour shifts, not just whether the launch succeeded.",
        "For {topic}, reversibility matters: phased rollouts, clear exit terms and skills kept "
        "alive make a mistake survivable instead of permanent.",
        "Thinking about {topic}, I'd give real weight to trust, because it builds slowly, "
        "breaks quickly and is very expensive to rebuild.",
        "On {topic}, the governance question deserves as much attention as the technical one: "
        "who decides, who can object and who audits the outcome.",
        "A careful approach to {topic} would start where errors are cheap and visible, and "
        "only later move to areas where mistakes hurt people.",
        "With {topic}, I'd watch for feedback loops, where early success justifies wider use "
        "before the evidence has caught up.",
        "The part of {topic} that gets overlooked is the workforce: roles change shape, and "
        "people need time, training and a voice in that change.",
        "On {topic}, I'd accept slightly slower progress in exchange for a system that "
        "degrades gently instead of failing all at once.",
        "For {topic}, regulation will probably lag practice, so responsible organisations "
        "will need to set their own limits before anyone requires them.",
        "The honest answer on {topic} is that the outcome depends on details that rarely make "
        "the headlines, such as oversight, data quality and escalation paths.",
    ),
    closings=(
        "{next}, what safeguard would you consider essential?",
        "Who do you think bears the most risk here, {next}?",
        "{prev}, how would your approach handle a serious failure?",
        "What would an early warning sign look like, {next}?",
        "{next}, is there a group we have not considered yet?",
        "How reversible do you think this really is, {next}?",
        "{prev}, would you accept a slower rollout for more resilience?",
        "I'd be interested in how {next} weighs those trade-offs.",
        "What would make this safer without making it useless?",
        "{next}, which incentive do you expect to shift first?",
        "Where should the accountability sit, as you see it?",
        "{next}, do you see a way to test this gently first?",
    ),
    wrapups=(
        "To close, I'd say the promise is real, but the responsible version moves in stages "
        "and keeps people accountable at every step.",
        "My closing reflection is that we agreed more on the goals than on the pace, and the "
        "pace is where the risk lives.",
        "As we end this round, I'd keep one question in view: who carries the consequences, "
        "and did they have a say?",
        "Wrapping up, I think the best ideas today were the ones that planned for failure as "
        "carefully as for success.",
        "A final thought from me: second-order effects will decide how this looks in five "
        "years, so they deserve a place in today's plans.",
        "To finish, I'm more hopeful than when we started, provided the safeguards we "
        "discussed are built in rather than bolted on.",
    ),
    bridges=(
        "The details of implementation matter a great deal here.",
        "Consequences tend to surface slowly, which is why they are easy to miss.",
        "Resilience is worth paying for before it is needed.",
    ),
)

# Scout: an evidence-minded researcher. Grounds claims in evidence, never invents figures.
SCOUT: Final = Voice(
    openers=(
        "Let me open on {topic} with what we can actually check. The evidence is uneven: "
        "promising early reports, a few careful studies and many vendor claims that deserve a "
        "healthy dose of scepticism.",
        "To start on {topic}, I'd separate three things: what published research suggests, "
        "what early adopters report, and what is still marketing. They point in different "
        "directions more often than people expect.",
        "My first instinct on {topic} is to look for base rates. How often do similar "
        "initiatives deliver their promised gains? Historically, less often than the headlines "
        "imply, which is a useful anchor here.",
        "Opening our discussion of {topic} as a researcher would: the most useful evidence "
        "comes from controlled comparisons, not case studies chosen by the people selling the "
        "solution, and those comparisons are still thin.",
        "On {topic}, the data I find most informative shows wide variation. Results depend "
        "heavily on the setting, the quality of implementation and how success is measured, so "
        "sweeping claims are hard to support.",
        "Let me ground {topic} first. Surveys of adopters tend to be positive, but they suffer "
        "from selection bias: the organisations that struggled are less likely to respond or "
        "publish their experience.",
        "I'd open {topic} by asking which outcome we are measuring. Productivity, satisfaction, "
        "cost and error rates can move in different directions, and studies often report only "
        "the one that looks best.",
        "Starting on {topic}: recent examples are encouraging, though much of the reporting "
        "is early and short-term. The longer-run evidence, which matters more for strategy, is "
        "still being gathered.",
        "A factual baseline for {topic}: adoption is growing, the measured effects are real in "
        "some settings, and the support for others is mostly anecdote. Knowing which is which "
        "is the whole challenge.",
    ),
    handoffs=(
        "{next}, which evidence would change your mind on this?",
        "{next}, do your sources point the same way as mine?",
        "I'd like to hear what data {other} finds most convincing.",
        "{next}, what would a fair test of this look like to you?",
        "{next}, does the early evidence match your expectations?",
        "I'm curious whether {other} trusts the optimistic reports.",
    ),
    reactions=(
        "{prev}, that's a reasonable claim, and I'd like to see how it holds up against the "
        "evidence.",
        "Interesting point, {prev}; the research I know of supports part of it, though not "
        "all.",
        "{prev}, I'd want to check that against a comparison group before leaning on it.",
        "I think {prev} is describing the best-case results, which are real but not typical.",
        "{prev}, the pattern you describe does appear in the reporting, mostly among larger "
        "organisations.",
        "Let me add some grounding to {prev}'s argument, since the data is more mixed than it "
        "sounds.",
        "{prev}, that's plausible, and it is also the kind of claim that early surveys tend "
        "to overstate.",
        "I agree with {prev} on the direction; the size of the effect is where the evidence "
        "gets thin.",
        "{prev}, the examples you have in mind are real, but we should ask how representative "
        "they are.",
        "Good point from {prev}, and it lines up with what independent evaluations have tended "
        "to find.",
        "{prev}, I'd separate the measured results from the projected ones, because they often "
        "get blended.",
        "To test {prev}'s argument, I'd look at the organisations that tried this and then "
        "stopped.",
        "{prev}, your reasoning is sound; my question is whether the data behind it is recent "
        "enough.",
        "I'd nuance {prev}'s point slightly: outcomes seem to depend a lot on implementation "
        "quality.",
        "{prev}, that matches some of the case studies, though most of them were written by "
        "vendors.",
        "Building on {prev}'s point, the strongest evidence comes from settings with clear "
        "before-and-after measures.",
    ),
    reactions_with_earlier=(
        "{prev} and {earlier} are both describing real effects, and the evidence suggests they "
        "apply in different settings.",
        "Comparing what {earlier} said earlier with {prev}'s point, the data leans slightly "
        "toward one of them.",
        "{prev}, your claim and {earlier}'s are both testable, which makes this a good moment "
        "to check the sources.",
        "I'd put {prev}'s argument next to {earlier}'s and ask which one has been measured "
        "more carefully.",
        "{earlier} raised something earlier that {prev}'s point helps explain, at least in the "
        "studies I know of.",
        "Both {prev} and, before that, {earlier} are pointing at outcomes that researchers "
        "have actually tried to measure.",
    ),
    points=(
        "On {topic}, the more careful studies tend to find modest average gains with large "
        "differences between organisations, which suggests implementation matters more than "
        "the tool.",
        "For {topic}, I'd look closely at who ran the evaluation; independent research usually "
        "reports smaller effects than vendor-funded case studies.",
        "The evidence on {topic} is strongest for narrow, well-defined tasks and much weaker "
        "for open-ended work, where results vary widely.",
        "With {topic}, short-term pilots often look better than long-term results, because "
        "novelty and extra attention fade after the first months.",
        "On {topic}, what I'd want is a before-and-after comparison with a control group, "
        "measured over at least a full business cycle.",
        "Recent reporting on {topic} shows both success stories and quiet reversals, and the "
        "reversals are much less likely to be published.",
        "For {topic}, surveys capture sentiment well but outcomes poorly, so I'd weigh "
        "operational data such as error rates and costs more heavily.",
        "The research on {topic} suggests that the benefits concentrate among organisations "
        "that already had good data and processes.",
        "On {topic}, it helps to check the base rate: large technology and process changes "
        "frequently miss their original targets, even when they eventually pay off.",
        "For {topic}, the effects I'd track are cost per outcome, quality, customer "
        "satisfaction and staff turnover, since gains in one can hide losses in another.",
        "Looking at {topic}, the evidence from early adopters is encouraging but biased, "
        "because the most enthusiastic teams adopt first and report most.",
        "On {topic}, several independent analyses point the same way, but they use different "
        "definitions, so comparing their figures directly is risky.",
        "The data on {topic} varies a lot by industry and company size, so an average figure "
        "can mislead almost everyone who reads it.",
        "For {topic}, I'd want transparent methods and public data before trusting any "
        "headline figure, including the optimistic ones.",
        "On {topic}, the clearest findings concern adoption barriers: cost, skills and "
        "integration problems come up again and again in the reporting.",
        "What the evidence on {topic} supports, so far, is cautious experimentation with "
        "measurement built in from the start.",
    ),
    closings=(
        "{next}, what evidence would change your position?",
        "How would you measure success here, {next}?",
        "{prev}, do you know of data that points the other way?",
        "{next}, which claim here should we test first?",
        "What would a fair comparison group look like?",
        "{next}, how much weight do you give to vendor case studies?",
        "{prev}, is your example typical or an outlier?",
        "I'd like {next} to suggest a metric we can all agree on.",
        "{next}, where do you think the data is weakest?",
        "What result in a year would surprise you, {next}?",
        "Which source would you trust most on this?",
        "{next}, would you bet on the average effect or the best case?",
    ),
    wrapups=(
        "To close, the evidence supports careful experiments rather than big leaps, and I'd "
        "keep measuring as the data matures.",
        "My summary: the claims we heard today are testable, and the teams that actually test "
        "them will learn the most.",
        "As we finish, I'd note that most of our disagreements were about evidence we do not "
        "have yet, not about values.",
        "One last note from me: treat today's optimism and caution as hypotheses, and check "
        "both against real outcomes.",
        "Wrapping up, the research points to modest, uneven gains, which are still worth "
        "pursuing when they are measured honestly.",
        "To end the round, I'd recommend revisiting this question once the longer-term "
        "studies come in.",
    ),
    bridges=(
        "The evidence base is still developing.",
        "Measurement should be part of the plan from the first day.",
        "Careful comparisons are worth the extra effort.",
    ),
)

# Lyra: an inventive futurist. Energetic; analogies across fields, looks years ahead.
LYRA: Final = Voice(
    openers=(
        "Let me open our conversation on {topic} by jumping ten years ahead. I think we will "
        "look back on today as the awkward early phase, like the first websites, when the "
        "shape of the thing was still being invented.",
        "What excites me about {topic} is the chance to redesign the work itself, not just "
        "speed it up. The biggest shifts usually come from new combinations that nobody "
        "planned for at the start.",
        "To kick off {topic}, here is an analogy: electricity did not pay off when factories "
        "swapped steam engines for motors, but when they redesigned the whole floor around "
        "it. I suspect something similar here.",
        "My opening on {topic} is optimistic and a little bold. The interesting future is not "
        "a faster version of the present, but new services and roles that only make sense "
        "once this becomes ordinary.",
        "I'll start on {topic} with a picture: small teams working alongside tireless digital "
        "collaborators, with people spending more time on taste, judgment and relationships. "
        "Getting there is messy, but the direction is exciting.",
        "On {topic}, I like to borrow from biology: ecosystems thrive through diversity and "
        "adaptation. Organisations that experiment widely and share what they learn will "
        "evolve faster than those waiting for certainty.",
        "Let me approach {topic} from the edges. Surprising uses of new ideas often start in "
        "small communities, games and hobbies long before they reach the boardroom, and they "
        "hint at where this is heading.",
        "To begin with {topic}, imagine the customer of tomorrow, who expects instant, "
        "personal and transparent service. Seen from there, today's debate looks less like a "
        "choice and more like a timeline.",
        "Opening spark on {topic}: every big platform shift creates jobs, products and norms "
        "that were hard to name in advance. I'd rather we design for that possibility than "
        "only defend the present.",
    ),
    handoffs=(
        "{next}, does that future feel plausible to you?",
        "{next}, what would you build first in that world?",
        "I'd love to hear whether {other} sees a darker version of it.",
        "{next}, which part of that picture would you bet against?",
        "{next}, how would you steer it somewhere good?",
        "I'm curious what {other} thinks we should invent next.",
    ),
    reactions=(
        "{prev}, I love that, and it makes me wonder what the same idea looks like at ten "
        "times the scale.",
        "Yes, {prev}, and there is a bolder version of that thought hiding just underneath "
        "it.",
        "{prev}, that reminds me of early aviation: messy, risky and then suddenly "
        "everywhere.",
        "I'd take {prev}'s point and stretch it into the future, because today's constraints "
        "will not stay fixed.",
        "{prev}, you are describing the present well; I want to sketch where it might be in a "
        "decade.",
        "What {prev} said sparks an idea for me that crosses from design into economics.",
        "{prev}, I see your point, and I think it opens a door rather than closing one.",
        "Riffing on {prev}'s argument, the real shift may come from combinations nobody is "
        "planning yet.",
        "{prev}, that is the sensible view today, but tomorrow's tools could change the maths "
        "entirely.",
        "I'm energised by {prev}'s framing, because it leaves room for something genuinely "
        "new.",
        "{prev}, let me borrow your idea and cross it with a lesson from open-source "
        "communities.",
        "There is a wonderful tension in what {prev} just said, and tensions are where "
        "inventions come from.",
        "{prev}, I'd flip that around and ask what becomes possible, not just what becomes "
        "cheaper.",
        "Taking {prev}'s view as a launch pad, I can imagine a very different shape for the "
        "industry.",
        "{prev}, that's grounded and useful, so let me add a more speculative layer on top of "
        "it.",
        "I like the instinct behind {prev}'s point, and the future may reward it more than we "
        "expect.",
    ),
    reactions_with_earlier=(
        "{prev} and {earlier} are sketching two halves of the same future, and I want to join "
        "them.",
        "If we blend {earlier}'s earlier idea with {prev}'s, something quite new appears.",
        "{prev}, your point rhymes with what {earlier} said before, and the rhyme suggests a "
        "pattern.",
        "I'm stitching together {prev}'s thought and {earlier}'s, because the intersection "
        "looks fertile.",
        "{earlier} planted a seed earlier, and {prev} just watered it, so let me imagine what "
        "grows.",
        "Hearing {prev} after {earlier}, I can picture a hybrid approach that neither of them "
        "quite proposed.",
    ),
    points=(
        "On {topic}, I picture a future where the tools fade into the background, the way "
        "electricity did, and people focus on what only they can do.",
        "For {topic}, the most exciting outcomes may be new business models, not cheaper "
        "versions of old ones, much as streaming reinvented rather than digitised the record "
        "shop.",
        "With {topic}, I'd look to nature for a model: many small, adaptive experiments "
        "usually outperform one grand design.",
        "On {topic}, the next generation of customers will treat today's bold idea as an "
        "obvious default, so designing for them now is a real advantage.",
        "Thinking about {topic}, I suspect the winners will combine skills from fields that "
        "rarely meet, such as design, ethics, engineering and storytelling.",
        "For {topic}, imagine an open marketplace of small specialised tools that snap "
        "together like building blocks, instead of one giant system.",
        "On {topic}, the long view matters: choices made in these early years will set norms "
        "that last for decades, like the width of railway tracks.",
        "With {topic}, I'm drawn to the idea of people and software as a team, each doing "
        "what it does best, with roles that keep evolving.",
        "The future of {topic} could look less like automation and more like amplification, "
        "where a small crew achieves what once needed a large department.",
        "On {topic}, new roles will appear that we cannot name yet, just as nobody in the "
        "nineties planned a career as a community manager.",
        "For {topic}, I'd invest in imagination as a capability: scenario planning, playful "
        "prototypes and a willingness to be briefly wrong.",
        "With {topic}, the boundaries between industries may blur, so a bank, a school and a "
        "game studio could end up solving similar problems.",
        "On {topic}, transparency could become a design feature rather than a compliance "
        "chore, and that shift would build a surprising amount of trust.",
        "Picturing {topic} a decade from now, I see local, human-scale businesses using "
        "powerful tools that once belonged only to giants.",
        "For {topic}, the best strategy may be to build for flexibility, because the "
        "landscape will reshape itself several times before it settles.",
        "On {topic}, I'm hopeful about a creative renaissance, where routine work shrinks and "
        "curiosity becomes the scarcest, most valued skill.",
    ),
    closings=(
        "{next}, what would you invent if the constraints disappeared?",
        "Where do you see this in ten years, {next}?",
        "{prev}, could your idea scale to a whole industry?",
        "{next}, what is the boldest experiment worth trying?",
        "What would surprise us most about this future?",
        "{next}, which field should we borrow from next?",
        "{prev}, would you join me in betting on the bold version?",
        "I'd love {next} to imagine the version that fails, so we can avoid it.",
        "{next}, what new role do you think this creates?",
        "What would a child growing up with this take for granted?",
        "Which of today's assumptions will look quaint in a decade?",
        "{next}, how do we keep the future open rather than locked in?",
    ),
    wrapups=(
        "To close, I'm leaving this round more excited than I came in, because every concern "
        "we raised is also a design challenge.",
        "My final thought: the future here is not fixed, and conversations like this one are "
        "how we start shaping it.",
        "As we wrap up, I'd encourage everyone to run one small, playful experiment and see "
        "what it teaches.",
        "Ending on a hopeful note, the ideas we combined today sketch a future that is both "
        "ambitious and humane.",
        "Last word from me: keep the door open to surprise, because the best outcomes here "
        "probably have not been imagined yet.",
        "To finish the round, I'd say caution and imagination are partners, and it took all "
        "four voices to see that.",
    ),
    bridges=(
        "The future rarely arrives in a straight line.",
        "Imagination is a practical tool here.",
        "Small experiments can reveal big possibilities.",
    ),
)

#: Voices by name; each provider's spec names its agent's (``ProviderSpec.voice``).
VOICES: Final[Mapping[str, Voice]] = MappingProxyType(
    {"orion": ORION, "clio": CLIO, "scout": SCOUT, "lyra": LYRA}
)
