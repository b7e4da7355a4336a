/*!
 * Roundtable widget: a live, scheduled conversation between four AI agents.
 *
 * One dependency-free script, no build step. It self-initialises:
 *   [data-roundtable]                      the live widget (WebSocket /ws, fallback polling)
 *   [data-roundtable-conversation="<id>"]  one past round (GET /api/conversations/<id>)
 *   [data-roundtable-history]              past rounds, newest first, with "older" paging
 *
 * The server is the script tag's data-server attribute (default: the page's origin).
 * The agents (ids, names, labels, colours) come from the server too (hello.agents, or
 * /api/status.agents); the script knows none of them. Colours are set through the CSSOM
 * (style.setProperty), which a `style-src 'self'` policy allows.
 * Model output is untrusted: every server-provided string goes through textContent,
 * and links are only ever set from validated http(s) URLs.
 */
(function () {
  'use strict';

  /**
   * A revealed message (WebSocket `message` event, or an item of hello.messages /
   * /api/conversations/<id>.messages, where conversation_id may be absent).
   * @typedef {Object} Message
   * @property {number} [conversation_id]
   * @property {number} seq                 1-based position in the round
   * @property {string} agent               an agent id of hello.agents
   * @property {string} persona             display name (always shown from the data)
   * @property {string} provider            who really answered
   * @property {string} model
   * @property {'api'|'fallback'|'template'} source
   * @property {string} content
   * @property {{url: string, title?: string}[]} [citations]
   * @property {number} revealed_at         Unix epoch ms
   * @property {number} [prompt_tokens]     the details below may be absent (older servers)
   * @property {number} [completion_tokens]
   * @property {number} [cost_usd]
   * @property {number} [latency_ms]
   * @property {?string} [fallback_reason]  why the agent's own provider did not answer
   */

  /**
   * An agent taking part (hello.agents, /api/status.agents), in speaking order.
   * @typedef {Object} Agent
   * @property {string} id                  the agent id (= its provider's name)
   * @property {string} persona             display name
   * @property {string} label               its provider, for people ("OpenAI")
   * @property {string} colour              "#rrggbb" on a light background
   * @property {string} [colour_dark]       "#rrggbb" on a dark background
   */

  /**
   * Engine state shared by hello, state and /api/countdown.
   * @typedef {Object} EngineState
   * @property {'countdown'|'active'|'complete'|'paused'} state
   * @property {?number} next_round_at      Unix epoch ms of the next slot
   * @property {?string} next_topic
   */

  var AGENT_ID = /^[a-z][a-z0-9_]{0,31}$/;
  var COLOUR = /^#[0-9a-fA-F]{6}$/;
  var PING_EVERY_MS = 15000;
  var QUICK_PINGS_MS = [0, 400, 900];
  var SAMPLE_WINDOW = 12;            // keep recent clock samples only (device clocks get adjusted)
  var BACKOFF_BASE_MS = 500;
  var BACKOFF_CAP_MS = 30000;
  var POLL_AFTER_FAILURES = 3;
  var POLL_EVERY_MS = 5000;
  var SILENCE_LIMIT_MS = 45000;      // no frame at all for this long: the socket is dead
  var FETCH_TIMEOUT_MS = 8000;

  var script = document.currentScript;
  var SERVER = serverBase(script && script.getAttribute('data-server'));

  /** @param {?string} attr @returns {string} origin-like base URL without trailing slash */
  function serverBase(attr) {
    try {
      var url = new URL(attr || window.location.origin, window.location.href);
      if (url.protocol === 'http:' || url.protocol === 'https:') {
        return url.href.replace(/\/+$/, '');
      }
    } catch (e) { /* fall through to the page origin */ }
    return window.location.origin;
  }

  function wsUrl() {
    return SERVER.replace(/^http/, 'ws') + '/ws';
  }

  /** Injects roundtable.css from the server unless the host page already has it. */
  function ensureStylesheet() {
    if (document.querySelector('link[rel="stylesheet"][href*="roundtable.css"]')) return;
    var version = script && script.src ? (script.src.split('?')[1] || '') : '';
    var link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = SERVER + '/static/css/roundtable.css' + (version ? '?' + version : '');
    document.head.appendChild(link);
  }

  // ---------------------------------------------------------------- DOM helpers

  /** Creates an element; `text` is always set as textContent (never parsed as HTML). */
  function h(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  /** @returns {?string} the URL if it is absolute http(s), else null */
  function safeHttpUrl(value) {
    try {
      var url = new URL(String(value));
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function externalLink(href, text) {
    var a = h('a', 'rt-link', text);
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
    return a;
  }

  function conversationHref(id) {
    return Number.isInteger(id) ? SERVER + '/c/' + id : null;
  }

  function pad(n) {
    return (n < 10 ? '0' : '') + n;
  }

  /** 75_000 -> "01:15"; 3_725_000 -> "1:02:05"; rounds up so 0 shows only at the slot. */
  function formatDuration(ms) {
    var total = Math.max(0, Math.ceil(ms / 1000));
    var hours = Math.floor(total / 3600);
    var rest = pad(Math.floor((total % 3600) / 60)) + ':' + pad(total % 60);
    return hours ? hours + ':' + rest : rest;
  }

  function formatClockTime(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function formatDate(ms) {
    return new Date(ms).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
  }

  function plural(n, word) {
    return n + ' ' + word + (n === 1 ? '' : 's');
  }

  /** GET/POST JSON with a timeout; resolves {ok, status, body}; rejects on network errors. */
  function fetchJson(path, options) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller && setTimeout(function () { controller.abort(); }, FETCH_TIMEOUT_MS);
    var init = Object.assign({ cache: 'no-store' }, options || {});
    if (controller) init.signal = controller.signal;
    return fetch(SERVER + path, init).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        return { ok: response.ok, status: response.status, body: body };
      });
    }).finally(function () { clearTimeout(timer); });
  }

  // ---------------------------------------------------------------- one clock for everyone

  /**
   * Server clock estimate. offset = server time - device time, from the sample with the
   * smallest round trip among recent ones; a hello (round trip unknown) only seeds it.
   */
  function Clock() {
    this.offset = 0;
    this.synced = false;
    this.samples = [];
  }

  /** A sample without a known round trip (hello): used until a measured one exists. */
  Clock.prototype.seed = function (serverTime, receivedAt) {
    if (typeof serverTime !== 'number') return;
    if (!this.samples.length) this.offset = serverTime - receivedAt;
    this.synced = true;
  };

  /** A measured sample: request sent at `sentAt`, answer received at `receivedAt` (device ms). */
  Clock.prototype.sample = function (serverTime, sentAt, receivedAt) {
    if (typeof serverTime !== 'number' || typeof sentAt !== 'number') return;
    var rtt = receivedAt - sentAt;
    if (rtt < 0) return;
    this.samples.push({ rtt: rtt, offset: serverTime + rtt / 2 - receivedAt });
    if (this.samples.length > SAMPLE_WINDOW) this.samples.shift();
    var best = this.samples.reduce(function (a, b) { return b.rtt < a.rtt ? b : a; });
    this.offset = best.offset;
    this.synced = true;
  };

  /** @returns {number} the server's current time in epoch ms */
  Clock.prototype.now = function () {
    return Date.now() + this.offset;
  };

  // ---------------------------------------------------------------- messages

  // ---------------------------------------------------------------- agents

  /** @type {Object<string, Agent>} the agents the server named, by id */
  var agents = Object.create(null);

  /** Learns the agents from hello.agents or /api/status.agents; ignores anything malformed. */
  function learnAgents(list) {
    if (!Array.isArray(list)) return;
    list.forEach(function (agent) {
      if (agent && typeof agent.id === 'string' && AGENT_ID.test(agent.id)) agents[agent.id] = agent;
    });
  }

  function agentOf(message) {
    var id = message && message.agent;
    return typeof id === 'string' && agents[id] ? id : 'unknown';
  }

  /**
   * Shows `node` (a message card or the typing line) as `agentId`: data-agent, and the
   * agent's colours as custom properties through the CSSOM. A host page may still theme an
   * agent with --rt-color-<id> and --rt-color-<id>-dark.
   */
  function paintAgent(node, agentId) {
    node.setAttribute('data-agent', agentId);
    var agent = agents[agentId];
    [['--rt-agent-light', 'colour', ''], ['--rt-agent-dark', 'colour_dark', '-dark']].forEach(function (p) {
      var colour = agent && COLOUR.test(String(agent[p[1]])) ? agent[p[1]] : null;
      if (colour) node.style.setProperty(p[0], 'var(--rt-color-' + agentId + p[2] + ', ' + colour + ')');
      else node.style.removeProperty(p[0]);
    });
  }

  /** The honest-attribution badge, or null for a message from the agent's own API. */
  function sourceBadge(message) {
    if (message.source === 'fallback') {
      return h('span', 'rt-badge rt-badge-fallback', 'fallback: ' + (message.provider || 'another provider') + ' answered');
    }
    if (message.source === 'template') {
      return h('span', 'rt-badge rt-badge-template', 'template \u2014 no AI answered');
    }
    return null;
  }

  /**
   * "provider · model" without saying the provider twice ("perplexity · sonar", not
   * "perplexity · perplexity/sonar"); empty for a template, whose badge says so.
   * The server's web/transcript.py model_label() labels the shared page the same way.
   */
  function modelLabel(message) {
    if (message.source === 'template') return '';
    var provider = String(message.provider || '');
    var model = String(message.model || '');
    if (provider && model.indexOf(provider + '/') === 0) model = model.slice(provider.length + 1);
    return [provider, model !== provider ? model : ''].filter(Boolean).join(' \u00b7 ');
  }

  function renderCitations(citations) {
    var list = h('ul', 'rt-citations');
    (Array.isArray(citations) ? citations : []).forEach(function (citation) {
      var href = citation && safeHttpUrl(citation.url);
      if (!href) return;
      var item = h('li');
      item.appendChild(externalLink(href, citation.title || new URL(href).hostname));
      list.appendChild(item);
    });
    return list.children.length ? list : null;
  }

  /** @param {Message} message @returns {HTMLLIElement} */
  function renderMessage(message) {
    var item = h('li', 'rt-msg');
    paintAgent(item, agentOf(message));
    item.setAttribute('data-source', ['api', 'fallback', 'template'].indexOf(message.source) >= 0 ? message.source : 'api');
    item.setAttribute('data-seq', String(message.seq));
    var known = agents[agentOf(message)];
    var persona = String(message.persona || (known && known.persona) || message.agent || '?');
    var head = h('div', 'rt-msg-head');
    var avatar = h('span', 'rt-avatar', persona.charAt(0).toUpperCase());
    avatar.setAttribute('aria-hidden', 'true');
    head.appendChild(avatar);
    head.appendChild(h('span', 'rt-persona', persona));
    var label = modelLabel(message);
    if (label) head.appendChild(h('span', 'rt-model', label));
    var badge = sourceBadge(message);
    if (badge) head.appendChild(badge);
    if (typeof message.revealed_at === 'number') {
      var time = h('time', 'rt-time', formatClockTime(message.revealed_at));
      time.dateTime = new Date(message.revealed_at).toISOString();
      head.appendChild(time);
    }
    item.appendChild(head);
    item.appendChild(h('p', 'rt-content', message.content || ''));
    var citations = renderCitations(message.citations);
    if (citations) item.appendChild(citations);
    var details = renderDetails(message);
    if (details) item.appendChild(details);
    return item;
  }

  function isNumber(value) {
    return typeof value === 'number' && isFinite(value);
  }

  /**
   * A closed disclosure with what the message cost: tokens, cost, time taken, and why a
   * fallback answered. Null when the server sent none of those fields.
   */
  function renderDetails(message) {
    var rows = [];
    var prompt = isNumber(message.prompt_tokens) ? message.prompt_tokens : 0;
    var completion = isNumber(message.completion_tokens) ? message.completion_tokens : 0;
    var cost = isNumber(message.cost_usd) ? message.cost_usd : 0;
    // A template made no call: zero tokens and no cost would only be noise.
    if (prompt || completion) rows.push(['Tokens', prompt + ' in \u00b7 ' + completion + ' out']);
    var estimate = message.cost_estimated ? ' (estimated)' : '';
    if (cost || prompt || completion) rows.push(['Cost', cost ? '$' + cost.toFixed(6) + estimate : 'nothing']);
    if (isNumber(message.latency_ms)) {
      var ms = message.latency_ms;
      rows.push(['Took', ms < 1000 ? Math.round(ms) + ' ms' : (ms / 1000).toFixed(1) + ' s']);
    }
    if (message.fallback_reason) rows.push(['Why a fallback', String(message.fallback_reason)]);
    if (!rows.length) return null;
    var details = h('details', 'rt-details');
    details.appendChild(h('summary', null, 'Details'));
    var list = details.appendChild(h('dl'));
    rows.forEach(function (row) {
      list.appendChild(h('dt', null, row[0]));
      list.appendChild(h('dd', null, row[1]));
    });
    return details;
  }

  /** Inserts `item` into `list` ordered by data-seq. */
  function insertBySeq(list, item, seq) {
    var next = Array.prototype.find.call(list.children, function (child) {
      return Number(child.getAttribute('data-seq')) > seq;
    });
    list.insertBefore(item, next || null);
  }

  // ---------------------------------------------------------------- the live widget

  /** The live conversation widget inside `root`. */
  function LiveWidget(root) {
    this.root = root;
    this.clock = new Clock();
    this.engine = { state: null, next_round_at: null, next_topic: null };
    this.conversation = null;         // {id, topic, forced}
    this.running = null;              // id of the round in progress (held while paused)
    this.lastConversation = null;     // {id, topic, message_count}
    this.perRound = 16;
    this.seen = new Set();            // conversation_id + ':' + seq
    this.typingSeq = null;
    this.stick = true;
    this.lastScrollTop = 0;
    this.failures = 0;
    this.ws = null;
    this.timers = {};
    this.build();
    this.render();
    this.connect();
    window.addEventListener('online', this.reconnectNow.bind(this));
  }

  LiveWidget.prototype.build = function () {
    var root = this.root;
    root.classList.add('rt-widget');
    root.textContent = '';
    var bar = root.appendChild(h('div', 'rt-bar'));
    this.status = bar.appendChild(h('p', 'rt-status', 'Connecting\u2026'));
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('data-status', 'connecting');
    var hero = this.hero = root.appendChild(h('section', 'rt-hero'));
    hero.setAttribute('aria-label', 'Round status');
    this.eyebrow = hero.appendChild(h('p', 'rt-eyebrow'));
    this.title = hero.appendChild(h('h2', 'rt-title'));
    this.clockEl = hero.appendChild(h('p', 'rt-countdown'));
    this.clockEl.setAttribute('role', 'timer');
    this.clockEl.setAttribute('aria-label', 'Time until the next round');
    this.note = hero.appendChild(h('p', 'rt-note'));
    this.last = root.appendChild(h('aside', 'rt-last'));
    this.last.setAttribute('aria-label', 'Last round');
    this.buildLog();
  };

  LiveWidget.prototype.buildLog = function () {
    var wrap = this.logWrap = this.root.appendChild(h('section', 'rt-log-wrap'));
    wrap.setAttribute('aria-label', 'Conversation');
    this.logLabel = wrap.appendChild(h('p', 'rt-log-label'));
    this.log = wrap.appendChild(h('div', 'rt-log'));
    this.log.tabIndex = 0;
    this.list = this.log.appendChild(h('ol', 'rt-messages'));
    this.list.setAttribute('aria-live', 'polite');
    this.list.setAttribute('aria-relevant', 'additions');
    this.typing = this.log.appendChild(h('p', 'rt-typing'));
    this.typing.hidden = true;
    this.jump = wrap.appendChild(h('button', 'rt-jump', 'New messages \u2193'));
    this.jump.type = 'button';
    this.jump.hidden = true;
    this.jump.addEventListener('click', this.scrollToEnd.bind(this, true));
    this.log.addEventListener('scroll', this.onScroll.bind(this), { passive: true });
  };

  // -- incoming events ----------------------------------------------------------

  /** Dispatches one server frame. Unknown types are ignored (forward compatible). */
  LiveWidget.prototype.onFrame = function (frame, receivedAt) {
    if (!frame || typeof frame !== 'object') return;
    var handlers = { hello: this.onHello, state: this.onState, typing: this.onTyping, message: this.onMessage, pong: this.onPong };
    if (handlers[frame.type]) handlers[frame.type].call(this, frame, receivedAt);
  };

  /** hello: rebuild everything; merging by conversation_id + seq means no duplicates. */
  LiveWidget.prototype.onHello = function (frame, receivedAt) {
    this.clock.seed(frame.server_time, receivedAt);
    learnAgents(frame.agents);
    if (Number.isInteger(frame.messages_per_round)) this.perRound = frame.messages_per_round;
    if (frame.last_conversation) this.lastConversation = frame.last_conversation;
    this.running = frame.conversation && Number.isInteger(frame.conversation.id) ? frame.conversation.id : null;
    if (frame.conversation) this.setConversation(frame.conversation);
    // Arriving during "round complete": hello has no current round, but the round that
    // just ended is last_conversation; show it (fillEndedRound fetches its messages).
    else if (frame.state === 'complete' && frame.last_conversation) this.setConversation(frame.last_conversation);
    this.list.setAttribute('aria-busy', 'true');
    this.mergeMessages(frame.messages, frame.conversation && frame.conversation.id);
    this.list.setAttribute('aria-busy', 'false');
    this.applyState(frame);
    this.expectNext(frame.next, frame.conversation && frame.conversation.id);
  };

  LiveWidget.prototype.onState = function (frame) {
    this.running = Number.isInteger(frame.conversation_id) ? frame.conversation_id : null;
    if (Number.isInteger(frame.conversation_id)) {
      this.setConversation({ id: frame.conversation_id, topic: frame.topic });
    }
    this.applyState(frame);
    this.expectNext(frame.next, frame.conversation_id);
  };

  /** A `typing` frame comes only when the plan moved; it says when, like `next`. */
  LiveWidget.prototype.onTyping = function (frame) {
    if (typeof frame.typing_at === 'number') this.expectNext(frame, frame.conversation_id);
    else this.showTyping(frame);
  };

  /**
   * Who speaks next and when (`next` in state and message events): the typing indicator
   * appears at `typing_at` on the server's clock, with no frame of its own.
   */
  LiveWidget.prototype.expectNext = function (next, conversationId) {
    clearTimeout(this.timers.typing);
    if (!next || typeof next.typing_at !== 'number' || !Number.isInteger(next.seq)) return;
    var frame = { conversation_id: conversationId, seq: next.seq, agent: next.agent, persona: next.persona };
    var wait = next.typing_at - this.clock.now();
    if (wait <= 0) this.showTyping(frame);
    else this.timers.typing = setTimeout(this.showTyping.bind(this, frame), wait);
  };

  LiveWidget.prototype.showTyping = function (frame) {
    if (this.engine.state !== 'active') return;
    if (this.conversation && frame.conversation_id !== this.conversation.id) return;
    if (this.seen.has(frame.conversation_id + ':' + frame.seq)) return;
    this.typingSeq = frame.seq;
    this.typing.textContent = '';
    paintAgent(this.typing, agentOf(frame));
    var dots = this.typing.appendChild(h('span', 'rt-dots'));
    dots.setAttribute('aria-hidden', 'true');
    for (var i = 0; i < 3; i++) dots.appendChild(h('span'));
    this.typing.appendChild(h('span', null, (frame.persona || frame.agent || 'Someone') + ' is typing\u2026'));
    show(this.typing, true);
    this.followIfStuck();
  };

  LiveWidget.prototype.onMessage = function (frame) {
    if (!Number.isInteger(frame.conversation_id)) return;
    if (!this.conversation || this.conversation.id !== frame.conversation_id) {
      this.setConversation({ id: frame.conversation_id, topic: null });
    }
    this.addMessage(frame, frame.conversation_id);
    this.render();
    this.expectNext(frame.next, frame.conversation_id);
  };

  LiveWidget.prototype.onPong = function (frame, receivedAt) {
    this.clock.sample(frame.server_time, frame.t, receivedAt);
    this.renderClock();
  };

  // -- state -------------------------------------------------------------------

  /** Starts showing conversation `c`; a different id clears the transcript. */
  LiveWidget.prototype.setConversation = function (c) {
    if (this.conversation && this.conversation.id === c.id) {
      if (c.topic) this.conversation.topic = c.topic;
      if (c.forced !== undefined) this.conversation.forced = c.forced;
      return;
    }
    this.conversation = { id: c.id, topic: c.topic || null, forced: !!c.forced };
    this.seen.clear();
    this.list.textContent = '';
    this.hideTyping();
    this.stick = true;
    show(this.jump, false);
  };

  /** @param {EngineState} s */
  LiveWidget.prototype.applyState = function (s) {
    var known = ['countdown', 'active', 'complete', 'paused'];
    if (known.indexOf(s.state) < 0) return;
    if (s.state !== 'active') this.hideTyping();
    if ((s.state === 'complete' || s.state === 'countdown') && this.conversation) this.rememberRound();
    this.engine = {
      state: s.state,
      next_round_at: typeof s.next_round_at === 'number' ? s.next_round_at : null,
      next_topic: s.next_topic || null
    };
    this.render();
  };

  /** Keeps the round that just ended as the "last round" card. */
  LiveWidget.prototype.rememberRound = function () {
    var c = this.conversation;
    if (this.lastConversation && this.lastConversation.id === c.id) return;
    if (this.lastConversation && this.lastConversation.id > c.id) return;
    this.lastConversation = { id: c.id, topic: c.topic, message_count: this.seen.size };
  };

  /** A round that ended while we were not watching closely: fetch the messages we missed. */
  LiveWidget.prototype.fillEndedRound = function () {
    var c = this.conversation;
    var last = this.lastConversation;
    if (this.engine.state === 'active' || !c || !last || last.id !== c.id) return;
    if (!(this.seen.size < last.message_count) || this.filling === c.id) return;
    var self = this;
    this.filling = c.id;
    fetchJson('/api/conversations/' + c.id).then(function (r) {
      if (r.ok && r.body) self.mergeMessages(r.body.messages, c.id);
      self.render();
    }).catch(function () { self.filling = null; });
  };

  LiveWidget.prototype.mergeMessages = function (messages, conversationId) {
    var self = this;
    (Array.isArray(messages) ? messages : []).forEach(function (m) {
      self.addMessage(m, Number.isInteger(m.conversation_id) ? m.conversation_id : conversationId);
    });
  };

  /** Adds one message unless already shown; keeps seq order; scrolls or offers "new messages". */
  LiveWidget.prototype.addMessage = function (message, conversationId) {
    if (!message || !Number.isInteger(message.seq)) return;
    if (this.conversation && conversationId !== this.conversation.id) return;
    var key = conversationId + ':' + message.seq;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    insertBySeq(this.list, renderMessage(message), message.seq);
    if (this.typingSeq !== null && message.seq >= this.typingSeq) this.hideTyping();
    this.followIfStuck(true);
  };

  LiveWidget.prototype.hideTyping = function () {
    clearTimeout(this.timers.typing);
    this.typingSeq = null;
    if (this.typing) show(this.typing, false);
  };

  // -- rendering -----------------------------------------------------------------

  /** Renders the hero for the current mode, the last-round card and the transcript. */
  LiveWidget.prototype.render = function () {
    var mode = this.engine.state || 'connecting';
    this.root.setAttribute('data-mode', mode);
    var c = this.conversation;
    var e = this.engine;
    var texts = {
      connecting: ['Connecting\u2026', '', ''],
      countdown: ['Next round in', e.next_topic ? 'Next topic: ' + e.next_topic : '', ''],
      active: ['Live now', c && c.topic || 'A round is under way', this.progressText()],
      complete: ['Round complete', c && c.topic || '', 'Next round in'],
      paused: ['Paused by the admins', this.isRunning(c) && c.topic || '', this.pausedNote()]
    }[mode];
    this.eyebrow.textContent = texts[0];
    this.title.textContent = mode === 'countdown' ? '' : texts[1];
    this.note.textContent = mode === 'countdown' ? texts[1] : texts[2];
    show(this.title, !!this.title.textContent);
    show(this.note, !!this.note.textContent);
    show(this.clockEl, mode === 'countdown' || mode === 'complete');
    this.renderLast(mode);
    this.fillEndedRound();
    show(this.logWrap, this.seen.size > 0 || mode === 'active');
    // Paused mid-round, the transcript is the running round's, not a previous one.
    var previous = (mode === 'countdown' || mode === 'paused') && !this.isRunning(c);
    this.renderLogLabel(previous && c);
    this.renderClock();
  };

  /** Between rounds the transcript stays, labelled as the previous round, with its permalink. */
  LiveWidget.prototype.renderLogLabel = function (previous) {
    this.logLabel.textContent = '';
    show(this.logLabel, !!previous);
    if (!previous) return;
    this.logLabel.appendChild(h('span', null, 'Previous round: ' + (this.conversation.topic || 'untitled') + ' \u00b7 '));
    var href = conversationHref(this.conversation.id);
    if (href) this.logLabel.appendChild(h('a', 'rt-link', 'Permalink')).href = href;
  };

  LiveWidget.prototype.progressText = function () {
    var forced = this.conversation && this.conversation.forced ? ' \u00b7 started by the admins' : '';
    return 'Message ' + Math.min(this.seen.size, this.perRound) + ' of ' + this.perRound + forced;
  };

  /** Whether `c` is the round in progress (held, when paused) by the latest hello/state. */
  LiveWidget.prototype.isRunning = function (c) {
    return !!c && this.running === c.id;
  };

  LiveWidget.prototype.pausedNote = function () {
    if (this.isRunning(this.conversation)) return 'This round goes on when they resume.';
    var at = this.engine.next_round_at;
    var text = 'No round starts until they resume.';
    return at ? text + ' Next scheduled slot: ' + formatClockTime(at) + ' (skipped while paused).' : text;
  };

  LiveWidget.prototype.renderLast = function (mode) {
    var last = this.lastConversation;
    var href = last && conversationHref(last.id);
    var shown = this.conversation && this.conversation.id === (last && last.id) && this.seen.size > 0;
    var visible = !!href && !shown && (mode === 'countdown' || mode === 'paused');
    show(this.last, visible);
    if (!visible) return;
    this.last.textContent = '';
    this.last.appendChild(h('p', 'rt-last-label', 'Last round'));
    this.last.appendChild(h('p', 'rt-last-topic', last.topic || 'Untitled round'));
    var meta = this.last.appendChild(h('p', 'rt-last-meta'));
    if (Number.isInteger(last.message_count)) meta.appendChild(h('span', null, plural(last.message_count, 'message') + ' \u00b7 '));
    var link = meta.appendChild(h('a', 'rt-link', 'Read the transcript \u2192'));
    link.href = href;
  };

  /** Updates the countdown text and schedules the next update right after the second flips. */
  LiveWidget.prototype.renderClock = function () {
    clearTimeout(this.timers.tick);
    var mode = this.engine.state;
    if (mode !== 'countdown' && mode !== 'complete') return;
    var at = this.engine.next_round_at;
    if (at === null || !this.clock.synced) {
      this.clockEl.textContent = '--:--';
      return;
    }
    var remaining = at - this.clock.now();
    this.clockEl.textContent = formatDuration(remaining);
    this.clockEl.setAttribute('data-remaining-ms', String(Math.round(remaining)));
    if (remaining <= 0 && mode === 'countdown') this.note.textContent = 'Starting\u2026';
    var delay = remaining > 0 ? (remaining % 1000) + 15 : 1000;
    this.timers.tick = setTimeout(this.renderClock.bind(this), delay);
  };

  // -- scrolling -------------------------------------------------------------------

  LiveWidget.prototype.atEnd = function () {
    var log = this.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  };

  /** Scrolling up stops following; coming back to the end resumes it. */
  LiveWidget.prototype.onScroll = function () {
    var top = this.log.scrollTop;
    if (this.atEnd()) {
      this.stick = true;
      show(this.jump, false);
    } else if (top < this.lastScrollTop) {
      this.stick = false;
    }
    this.lastScrollTop = top;
  };

  LiveWidget.prototype.followIfStuck = function (isNew) {
    if (this.stick) this.scrollToEnd(false);
    else if (isNew) show(this.jump, true);
  };

  LiveWidget.prototype.scrollToEnd = function (fromButton) {
    var reduced = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    this.stick = true;
    show(this.jump, false);
    var log = this.log;
    if (log.scrollTo) log.scrollTo({ top: log.scrollHeight, behavior: fromButton && !reduced ? 'smooth' : 'auto' });
    else log.scrollTop = log.scrollHeight;
  };

  // -- connection ------------------------------------------------------------------

  /** @param {'connecting'|'connected'|'reconnecting'|'polling'|'offline'} kind (data-status) */
  LiveWidget.prototype.setStatus = function (kind, text) {
    this.status.setAttribute('data-status', kind);
    this.status.textContent = text;
  };

  LiveWidget.prototype.connect = function () {
    clearTimeout(this.timers.reconnect);
    if (!('WebSocket' in window)) {
      this.startPolling();
      return;
    }
    var ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (e) {
      this.onSocketClosed(null);
      return;
    }
    this.ws = ws;
    var self = this;
    ws.onopen = function () { self.onSocketOpen(ws); };
    ws.onmessage = function (event) { self.onSocketFrame(event.data); };
    ws.onclose = function () { self.onSocketClosed(ws); };
  };

  LiveWidget.prototype.onSocketOpen = function (ws) {
    if (ws !== this.ws) return;
    this.failures = 0;
    this.lastFrameAt = Date.now();
    this.setStatus('connected', 'Live');
    this.stopPolling();
    var self = this;
    QUICK_PINGS_MS.forEach(function (delay) { setTimeout(function () { self.ping(ws); }, delay); });
    this.timers.ping = setInterval(function () { self.ping(ws); self.checkSilence(ws); }, PING_EVERY_MS);
  };

  LiveWidget.prototype.onSocketFrame = function (data) {
    var receivedAt = Date.now();
    this.lastFrameAt = receivedAt;
    var frame;
    try {
      frame = JSON.parse(data);
    } catch (e) {
      return;
    }
    this.onFrame(frame, receivedAt);
  };

  LiveWidget.prototype.ping = function (ws) {
    if (ws === this.ws && ws.readyState === 1) ws.send(JSON.stringify({ type: 'ping', t: Date.now() }));
  };

  /** A half-open socket never closes by itself; no frame (not even a pong) means it is dead. */
  LiveWidget.prototype.checkSilence = function (ws) {
    if (Date.now() - this.lastFrameAt > SILENCE_LIMIT_MS) ws.close();
  };

  /** Reconnects with exponential backoff (0.5 s, x2, cap 30 s) plus up to 30 % jitter. */
  LiveWidget.prototype.onSocketClosed = function (ws) {
    if (ws && ws !== this.ws) return;
    clearInterval(this.timers.ping);
    this.ws = null;
    this.failures += 1;
    var delay = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * Math.pow(2, this.failures - 1));
    delay += Math.random() * delay * 0.3;
    this.hideTyping();
    this.showTrouble();
    if (this.failures >= POLL_AFTER_FAILURES) this.startPolling();
    this.timers.reconnect = setTimeout(this.connect.bind(this), delay);
  };

  /**
   * The server cannot be reached. Only the browser knows whether the device is offline;
   * while it says online, the server is restarting or unreachable: "Reconnecting".
   */
  LiveWidget.prototype.showTrouble = function () {
    if (navigator.onLine === false) this.setStatus('offline', 'Offline \u00b7 retrying (attempt ' + this.failures + ')');
    else this.setStatus('reconnecting', 'Reconnecting (attempt ' + this.failures + ')\u2026');
  };

  LiveWidget.prototype.reconnectNow = function () {
    if (this.ws) return;
    this.failures = 0;
    this.connect();
  };

  // -- fallback polling -------------------------------------------------------------

  LiveWidget.prototype.startPolling = function () {
    if (this.timers.poll) return;
    this.poll();
    this.timers.poll = setInterval(this.poll.bind(this), POLL_EVERY_MS);
  };

  LiveWidget.prototype.stopPolling = function () {
    clearInterval(this.timers.poll);
    this.timers.poll = null;
  };

  /** One poll of /api/countdown (a measured clock sample), then of the rounds. */
  LiveWidget.prototype.poll = function () {
    var self = this;
    var sentAt = Date.now();
    fetchJson('/api/countdown').then(function (r) {
      if (!r.ok || !r.body || !self.timers.poll) throw new Error('countdown unavailable');
      self.clock.sample(r.body.server_time, sentAt, Date.now());
      if (!('WebSocket' in window)) self.setStatus('polling', 'Updating every 5 s');
      else if (!self.ws) self.setStatus('reconnecting', 'Reconnecting (attempt ' + self.failures + ') \u00b7 updating every 5 s');
      self.applyState(r.body);
      return self.pollRound(r.body.state === 'active');
    }).catch(function () {
      if (!self.timers.poll || self.ws) return;
      self.showTrouble();
    });
  };

  /** /api/status for the current and last rounds; during a round, its messages too. */
  LiveWidget.prototype.pollRound = function (active) {
    var self = this;
    return fetchJson('/api/status').then(function (r) {
      var body = r.ok && r.body ? r.body : {};
      learnAgents(body.agents);
      if (body.last_conversation) self.lastConversation = body.last_conversation;
      var c = body.conversation;
      self.running = c && Number.isInteger(c.id) ? c.id : null;
      if (!active || !c || !Number.isInteger(c.id)) return null;
      self.setConversation(c);
      return fetchJson('/api/conversations/' + c.id);
    }).then(function (r) {
      if (r && r.ok && r.body && self.timers.poll) self.mergeMessages(r.body.messages, r.body.id);
      self.render();
    });
  };

  // ---------------------------------------------------------------- permalink page

  /** Renders one past round into `root` from /api/conversations/<id>. */
  function renderConversationPage(root) {
    if (root.hasAttribute('data-rt-rendered')) {
      localizeTimes(root);
      return;
    }
    var id = Number(root.getAttribute('data-roundtable-conversation'));
    var body = root.querySelector('[data-rt-transcript]') || root.appendChild(h('div'));
    var heading = root.querySelector('[data-rt-heading]') || body;
    body.setAttribute('aria-busy', 'true');
    body.textContent = 'Loading\u2026';
    Promise.all([fetchJson('/api/conversations/' + id), loadAgents()]).then(function (answers) {
      var r = answers[0];
      body.textContent = '';
      if (!r.ok || !r.body) {
        body.appendChild(h('p', 'rt-empty', r.status === 404 ? 'There is no round number ' + id + '.' : 'This round could not be loaded.'));
        return;
      }
      fillConversation(heading, body, r.body);
    }).catch(function () {
      body.textContent = 'This round could not be loaded. Check your connection and reload.';
    }).finally(function () { body.setAttribute('aria-busy', 'false'); });
  }

  /** The agents from /api/status, for a page that has no hello; never rejects. */
  function loadAgents() {
    return fetchJson('/api/status').then(function (r) {
      if (r.ok && r.body) learnAgents(r.body.agents);
    }).catch(function () { /* the messages still show, in the neutral colour */ });
  }

  /** A server-rendered transcript shows UTC times; show them in the visitor's own zone. */
  function localizeTimes(root) {
    root.querySelectorAll('time.rt-time[datetime]').forEach(function (node) {
      var at = Date.parse(node.getAttribute('datetime'));
      if (!isNaN(at)) node.textContent = formatClockTime(at);
    });
  }

  function fillConversation(heading, body, c) {
    var messages = (Array.isArray(c.messages) ? c.messages : []).slice().sort(function (a, b) { return a.seq - b.seq; });
    heading.textContent = '';
    heading.appendChild(h('h1', 'rt-page-title', c.topic || 'Untitled round'));
    heading.appendChild(h('p', 'rt-page-meta', roundSummary(c, messages.length)));
    document.title = (c.topic || 'Round ' + c.id) + ' \u00b7 Roundtable';
    if (!messages.length) {
      body.appendChild(h('p', 'rt-empty', 'No messages were revealed in this round.'));
      return;
    }
    var list = body.appendChild(h('ol', 'rt-messages'));
    messages.forEach(function (m) { list.appendChild(renderMessage(m)); });
  }

  function roundSummary(c, count) {
    var parts = [];
    var when = c.started_at || c.scheduled_at;
    if (typeof when === 'number') parts.push(formatDate(when));
    parts.push(plural(count, 'message'));
    if (c.status && c.status !== 'complete') parts.push(statusText(c.status, c.skip_reason));
    if (c.forced) parts.push('started by the admins');
    return parts.join(' \u00b7 ');
  }

  /** "skipped by admin", not "skipped: skipped by admin" (as web/transcript.py status_text). */
  function statusText(status, reason) {
    reason = String(reason || '').trim();
    if (!reason) return status;
    return reason.toLowerCase().indexOf(status.toLowerCase()) === 0 ? reason : status + ': ' + reason;
  }

  // ---------------------------------------------------------------- history page

  /** Lists past rounds, 20 at a time, with an "Older rounds" button. */
  function renderHistoryPage(root) {
    var list = root.appendChild(h('ol', 'rt-history'));
    var more = root.appendChild(h('button', 'rt-button', 'Older rounds'));
    var status = root.appendChild(h('p', 'rt-note'));
    status.setAttribute('role', 'status');
    more.type = 'button';
    var before = null;
    function load() {
      more.disabled = true;
      status.textContent = 'Loading\u2026';
      var query = '/api/conversations?limit=20' + (before !== null ? '&before=' + before : '');
      fetchJson(query).then(function (r) {
        if (!r.ok || !r.body) throw new Error('history unavailable');
        (r.body.conversations || []).forEach(function (c) { list.appendChild(historyItem(c)); });
        before = Number.isInteger(r.body.next_before) ? r.body.next_before : null;
        status.textContent = list.children.length ? '' : 'No rounds yet. The first one starts soon.';
        show(more, before !== null);
      }).catch(function () {
        status.textContent = 'Past rounds could not be loaded. Try again.';
      }).finally(function () { more.disabled = false; });
    }
    more.addEventListener('click', load);
    show(more, false);
    load();
  }

  function historyItem(c) {
    var item = h('li', 'rt-history-item');
    item.setAttribute('data-status', String(c.status || ''));
    var href = conversationHref(c.id);
    var title = item.appendChild(h(href ? 'a' : 'span', 'rt-history-topic', c.topic || 'Untitled round'));
    if (href) title.href = href;
    var count = Number.isInteger(c.message_count) ? c.message_count : 0;
    item.appendChild(h('p', 'rt-history-meta', roundSummary(c, count)));
    return item;
  }

  // ---------------------------------------------------------------- start-up

  function init() {
    ensureStylesheet();
    var widgets = [];
    document.querySelectorAll('[data-roundtable]').forEach(function (root) {
      if (!root.__roundtable) widgets.push(root.__roundtable = new LiveWidget(root));
    });
    document.querySelectorAll('[data-roundtable-conversation]').forEach(renderConversationPage);
    document.querySelectorAll('[data-roundtable-history]').forEach(renderHistoryPage);
    window.Roundtable = { widgets: widgets, server: SERVER };
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
