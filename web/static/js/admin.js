/*!
 * Roundtable admin dashboard (GET /control): sign in with the admin token, watch the
 * engine and the providers, steer the schedule, read the audit trail.
 *
 * The token lives in sessionStorage (this tab only) and travels only as an
 * Authorization: Bearer header. Every string from the server (topics, error texts,
 * model names, client addresses) is inserted with textContent, never parsed as HTML.
 * Reads: GET /api/status (public), GET /api/admin/audit and /api/admin/errors (token).
 * Writes: POST /control {action}. Skip asks for confirmation in a <dialog>.
 */
(function () {
  'use strict';

  var TOKEN_KEY = 'roundtable.adminToken';
  var REFRESH_MS = 5000;
  var FETCH_TIMEOUT_MS = 8000;
  var AUDIT_ROWS = 50;
  var ERROR_ROWS = 10;
  var DASH = '\u2014';
  var STATE_WORDS = {
    countdown: 'Waiting for the next round',
    active: 'A round is live',
    complete: 'The round just ended',
    paused: 'Paused: no round starts until you resume'
  };
  var MODEL_CHECK_WORDS = {
    retiring: 'retiring', retired: 'retired: calls will fail or be re-routed',
    unknown: 'not offered to this key', error: 'could not be checked'
  };
  var CIRCUIT_WORDS = { closed: 'closed (healthy)', open: 'open (resting)', half_open: 'half-open (probing)' };
  var MODERATION_WORDS = {
    'wordlist+openai': 'word list + OpenAI', wordlist: 'word list only', none: 'off: replies are shown unreviewed'
  };
  var DONE_WORDS = {
    force: 'A round was started.',
    skip: 'Skipped.',
    pause: 'Paused.',
    resume: 'Resumed.',
    queue_topic: 'The topic is queued.'
  };

  // ---------------------------------------------------------------- small helpers

  /** Creates an element; `text` is always set as textContent (never parsed as HTML). */
  function h(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function pad(n) {
    return (n < 10 ? '0' : '') + n;
  }

  function isNumber(value) {
    return typeof value === 'number' && isFinite(value);
  }

  /** 75_000 -> "01:15"; 3_725_000 -> "1:02:05". */
  function formatDuration(ms) {
    var total = Math.max(0, Math.ceil(ms / 1000));
    var hours = Math.floor(total / 3600);
    var rest = pad(Math.floor((total % 3600) / 60)) + ':' + pad(total % 60);
    return hours ? hours + ':' + rest : rest;
  }

  function localTime(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function localDateTime(ms) {
    return new Date(ms).toLocaleString([], { dateStyle: 'medium', timeStyle: 'medium' });
  }

  function usd(value) {
    if (!isNumber(value)) return DASH;
    return '$' + value.toFixed(value !== 0 && Math.abs(value) < 1 ? 4 : 2);
  }

  function count(value) {
    return isNumber(value) ? Math.round(value).toLocaleString() : DASH;
  }

  function first(object, names) {
    for (var i = 0; i < names.length; i++) {
      if (object && object[names[i]] !== undefined && object[names[i]] !== null) return object[names[i]];
    }
    return null;
  }

  /** GET/POST JSON with a timeout; resolves {ok, status, body}; rejects on network errors. */
  function fetchJson(path, options) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, FETCH_TIMEOUT_MS);
    var init = Object.assign({ cache: 'no-store', signal: controller.signal, credentials: 'omit' }, options || {});
    return fetch(path, init).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        return { ok: response.ok, status: response.status, body: body };
      });
    }).finally(function () { clearTimeout(timer); });
  }

  function errorText(r) {
    if (r.body && typeof r.body.error === 'string') return r.body.error;
    return 'the service answered HTTP ' + r.status;
  }

  /** A table cell with its column name, which the phone layout shows beside the value. */
  function cell(label, text, className) {
    var td = h('td', className, text);
    td.setAttribute('data-label', label);
    return td;
  }

  // ---------------------------------------------------------------- the dashboard

  function Dashboard(root) {
    this.root = root;
    this.token = null;
    this.offset = 0;         // server time - device time, from the last status
    this.status = null;
    this.timers = {};
    this.find();
    this.bind();
    var saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) this.signIn(saved, true);
  }

  Dashboard.prototype.find = function () {
    var q = this.root.querySelector.bind(this.root);
    this.el = {
      signin: q('[data-rt-signin]'), form: q('[data-rt-signin-form]'), token: q('[data-rt-token]'),
      signinError: q('[data-rt-signin-error]'), dashboard: q('[data-rt-dashboard]'),
      updated: q('[data-rt-updated]'), signout: q('[data-rt-signout]'), state: q('[data-rt-state]'),
      countdown: q('[data-rt-countdown]'), facts: q('[data-rt-facts]'), result: q('[data-rt-result]'),
      spend: q('[data-rt-spend]'), providers: q('[data-rt-providers]'), providersNote: q('[data-rt-providers-note]'),
      queue: q('[data-rt-queue]'), queueEmpty: q('[data-rt-queue-empty]'), queueForm: q('[data-rt-queue-form]'),
      topic: q('[data-rt-topic]'),
      errors: q('[data-rt-errors]'), round: q('[data-rt-round]'), roundTitle: q('[data-rt-round-title]'), audit: q('[data-rt-audit]'), confirm: q('[data-rt-confirm]'),
      confirmTitle: q('[data-rt-confirm-title]'), confirmText: q('[data-rt-confirm-text]'),
      confirmOk: q('[data-rt-confirm-ok]')
    };
  };

  Dashboard.prototype.bind = function () {
    var self = this;
    this.el.form.addEventListener('submit', function (event) {
      event.preventDefault();
      self.signIn(self.el.token.value.trim(), false);
    });
    this.el.signout.addEventListener('click', function () { self.signOut(''); });
    this.el.queueForm.addEventListener('submit', function (event) {
      event.preventDefault();
      var topic = self.el.topic.value.trim();
      var button = self.el.queueForm.querySelector('button');
      self.send('queue_topic', button, { topic: topic }).then(function (ok) { if (ok) self.el.topic.value = ''; });
    });
    this.root.querySelectorAll('[data-rt-action]').forEach(function (button) {
      button.addEventListener('click', function () { self.onAction(button.getAttribute('data-rt-action'), button); });
    });
  };

  // -- signing in and out ---------------------------------------------------------

  /** Checks `token` against the admin API; on success shows the dashboard. */
  Dashboard.prototype.signIn = function (token, quietly) {
    var self = this;
    if (!token) return;
    this.el.signinError.textContent = quietly ? '' : 'Checking\u2026';
    this.adminGet('/api/admin/audit?limit=' + AUDIT_ROWS, token).then(function (r) {
      if (!r.ok) {
        self.signOut(r.status === 401 || r.status === 403 ? 'That is not the admin token.' :
          r.status === 429 ? 'Too many wrong tokens from this address; wait a minute.' : errorText(r));
        return;
      }
      self.token = token;
      sessionStorage.setItem(TOKEN_KEY, token);
      self.el.token.value = '';
      self.el.signinError.textContent = '';
      self.el.signin.hidden = true;
      self.el.dashboard.hidden = false;
      self.root.setAttribute('data-signed-in', 'true');
      self.renderAudit(r.body);
      self.refresh();
      self.timers.refresh = setInterval(self.refresh.bind(self), REFRESH_MS);
    }).catch(function () {
      self.el.signinError.textContent = 'The service did not answer. Try again.';
    });
  };

  Dashboard.prototype.signOut = function (message) {
    clearInterval(this.timers.refresh);
    clearTimeout(this.timers.tick);
    this.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    this.el.dashboard.hidden = true;
    this.el.signin.hidden = false;
    this.el.signinError.textContent = message;
    this.root.setAttribute('data-signed-in', 'false');
  };

  Dashboard.prototype.adminGet = function (path, token) {
    return fetchJson(path, { headers: { Authorization: 'Bearer ' + (token || this.token) } });
  };

  // -- refreshing -----------------------------------------------------------------

  Dashboard.prototype.refresh = function () {
    var self = this;
    var sentAt = Date.now();
    var status = fetchJson('/api/status').then(function (r) {
      if (!r.ok || !r.body) throw new Error(errorText(r));
      self.offset = r.body.server_time - (sentAt + Date.now()) / 2;
      self.renderStatus(r.body);
      return self.refreshRound(r.body);
    });
    var audit = this.adminGet('/api/admin/audit?limit=' + AUDIT_ROWS).then(this.onAdminAnswer('renderAudit'));
    var errors = this.adminGet('/api/admin/errors?limit=' + ERROR_ROWS).then(this.onAdminAnswer('renderErrors'));
    return Promise.all([status, audit, errors]).then(function () {
      self.el.updated.textContent = 'Updated ' + localTime(Date.now()) + ' \u00b7 every ' + REFRESH_MS / 1000 + ' s';
    }).catch(function (error) {
      self.el.updated.textContent = 'Could not update: ' + (error && error.message ? error.message : 'the service did not answer') + '. Retrying.';
    });
  };

  /** Renders an admin API answer with `method`; a token that stopped working signs out. */
  Dashboard.prototype.onAdminAnswer = function (method) {
    var self = this;
    return function (r) {
      if (r.status === 401 || r.status === 403) {
        self.signOut('The admin token was refused; sign in again.');
        return;
      }
      if (!r.ok || !r.body) throw new Error(errorText(r));
      self[method](r.body);
    };
  };

  // -- now: state, countdown, the current round ------------------------------------

  Dashboard.prototype.renderStatus = function (status) {
    this.status = status;
    this.root.setAttribute('data-state', String(status.state || ''));
    this.el.state.textContent = STATE_WORDS[status.state] || ('State: ' + status.state);
    this.renderFacts(status);
    this.renderQueue(status.queued_topics);
    this.tick();
    this.renderSpend(status);
    this.renderProviders(status.providers || {}, status.role, (status.budget || {}).providers || {});
  };

  Dashboard.prototype.renderFacts = function (status) {
    var facts = this.el.facts;
    facts.textContent = '';
    function fact(term, value) {
      facts.appendChild(h('dt', null, term));
      facts.appendChild(h('dd', null, value));
    }
    var c = status.conversation;
    if (c && status.state !== 'countdown') {
      var round = 'Round ' + c.id + ': ' + (c.topic || 'untitled');
      fact('Current round', round + (c.forced ? ' (started by an admin)' : ''));
      if (isNumber(c.started_at)) fact('Started at', localTime(c.started_at) + ' (your time)');
    }
    if (isNumber(status.next_round_at)) {
      fact('Next round', localDateTime(status.next_round_at) + ' (your time)' + (status.state === 'paused' ? ', skipped while paused' : ''));
    }
    if (status.next_topic) fact('Next topic', status.next_topic);
    var last = status.last_conversation;
    if (last) fact('Last completed round', 'Round ' + last.id + ': ' + (last.topic || 'untitled'));
    if (status.moderation) fact('Moderation', moderationWords(status.moderation));
    if (status.role === 'standby') fact('This instance', 'a standby: commands go to the engine\u2019s instance');
  };

  /** The checks in effect (a standby knows only MODERATION as set), how they fail, and why. */
  function moderationWords(m) {
    var words = m.checks ? (MODERATION_WORDS[m.checks] || String(m.checks)) :
      'MODERATION=' + (m.mode || DASH) + ' (what is in effect is on the engine\u2019s instance)';
    if (m.checks === 'wordlist+openai' && m.fails) words += ', fails ' + m.fails;
    return m.detail ? words + ': ' + m.detail : words;
  }

  /** The admins' queued topics, first first (absent on servers without a queue). */
  Dashboard.prototype.renderQueue = function (topics) {
    var list = this.el.queue;
    list.textContent = '';
    var queued = Array.isArray(topics) ? topics : [];
    queued.forEach(function (topic) { list.appendChild(h('li', 'rt-list-item', topic)); });
    this.el.queueEmpty.hidden = queued.length > 0;
  };

  /** Updates the countdown line every second. */
  Dashboard.prototype.tick = function () {
    clearTimeout(this.timers.tick);
    var status = this.status;
    var line = this.el.countdown;
    var now = Date.now() + this.offset;
    var started = status && status.conversation && status.conversation.started_at;
    if (status && status.state === 'active' && isNumber(started)) {
      line.textContent = 'Running for ' + formatDuration(now - started);
    } else if (status && status.state !== 'paused' && isNumber(status.next_round_at)) {
      var remaining = status.next_round_at - now;
      line.textContent = remaining > 0 ? 'Next round in ' + formatDuration(remaining) : 'Starting\u2026';
      line.setAttribute('data-remaining-ms', String(Math.round(remaining)));
    } else {
      line.textContent = '';
      return;
    }
    this.timers.tick = setTimeout(this.tick.bind(this), 1000 - (now % 1000) + 15);
  };

  // -- spend and providers -----------------------------------------------------------

  Dashboard.prototype.renderSpend = function (status) {
    var box = this.el.spend;
    box.textContent = '';
    var today = status.today || {};
    var budget = status.budget || {};
    var spent = first(budget, ['spent_today_usd']);
    if (spent === null) spent = first(today, ['cost_usd']);
    var limit = first(budget, ['daily_limit_usd']);
    var line = box.appendChild(h('p', 'rt-spend-line'));
    line.appendChild(h('strong', null, usd(spent)));
    line.appendChild(document.createTextNode(isNumber(limit) ? ' of a ' + usd(limit) + ' daily budget' : ' (no daily budget set)'));
    line.appendChild(document.createTextNode(' \u00b7 ' + count(today.calls) + ' provider calls'));
    var tokens = sumTokens(today, 'prompt_tokens', 'completion_tokens');
    if (tokens !== null) line.appendChild(document.createTextNode(' \u00b7 ' + count(tokens) + ' tokens'));
    if (isNumber(limit) && limit > 0 && isNumber(spent)) {
      var meter = box.appendChild(h('meter', 'rt-meter'));
      meter.min = 0;
      meter.max = limit;
      meter.value = Math.min(spent, limit);
      meter.high = limit * 0.8;
      meter.optimum = 0;
      meter.setAttribute('aria-label', 'Spend against the daily budget');
      if (budget.reached || spent >= limit) box.appendChild(h('p', 'rt-error', 'The budget is reached: agents answer from templates until UTC midnight.'));
    }
  };

  Dashboard.prototype.renderProviders = function (providers, role, budgets) {
    var body = this.el.providers;
    body.textContent = '';
    var names = Object.keys(providers);
    names.forEach(function (name) { body.appendChild(providerRow(name, providers[name] || {}, budgets[name] || {})); });
    this.el.providersNote.textContent = role === 'standby' ?
      'This instance is a standby: circuits, errors and latency are on the engine\u2019s instance.' :
      names.length ? '' : 'No provider data.';
  };

  function providerRow(name, p, budget) {
    var row = h('tr');
    row.setAttribute('data-provider', name);
    row.appendChild(cell('Provider', name, 'rt-strong'));
    row.appendChild(modelCell(p));
    row.appendChild(cell('Keys', keyWords(p)));
    var circuit = row.appendChild(cell('Circuit', CIRCUIT_WORDS[p.circuit] || p.circuit || DASH));
    circuit.setAttribute('data-circuit', String(p.circuit || ''));
    row.appendChild(cell('Last error', lastError(p)));
    row.appendChild(cell('Calls today', count(p.calls_today)));
    row.appendChild(cell('Tokens today', tokenWords(p)));
    row.appendChild(cell('Spend today', spendWords(p, budget)));
    row.appendChild(cell('Latency p50 / p95', latencyWords(p)));
    return row;
  }

  /** The model, and what the provider's models endpoint said of it when not simply "ok". */
  function modelCell(p) {
    var td = cell('Model', p.model || DASH);
    var check = p.model_check;
    var status = check && typeof check.status === 'string' ? check.status : null;
    if (status && status !== 'ok' && status !== 'unchecked') {
      td.appendChild(h('span', 'rt-check', MODEL_CHECK_WORDS[status] || status));
      if (check.detail) td.appendChild(h('span', 'rt-hint rt-check-detail', String(check.detail)));
    }
    td.setAttribute('data-model-check', status || '');
    return td;
  }

  function keyWords(p) {
    var total = first(p, ['keys']);
    var available = first(p, ['keys_available']);
    if (!total && p.configured === false) return 'no key';
    if (!isNumber(total) || !isNumber(available)) return p.configured ? 'configured' : DASH;
    if (available === total) return total + (total === 1 ? ' key' : ' keys');
    return available + ' of ' + total + ' usable (refused keys rest)';
  }

  function lastError(p) {
    if (!p.last_error) return 'none';
    return String(p.last_error) + (isNumber(p.last_error_at) ? ' at ' + localTime(p.last_error_at) : '');
  }

  /** prompt + completion, or null when neither figure is there. */
  function sumTokens(object, promptName, completionName) {
    var prompt = first(object, [promptName]);
    var completion = first(object, [completionName]);
    if (!isNumber(prompt) && !isNumber(completion)) return null;
    return (isNumber(prompt) ? prompt : 0) + (isNumber(completion) ? completion : 0);
  }

  function tokenWords(p) {
    var total = sumTokens(p, 'prompt_tokens_today', 'completion_tokens_today');
    return total === null ? DASH : count(total);
  }

  function spendWords(p, budget) {
    var spent = first(p, ['cost_today_usd']);
    if (spent === null) spent = first(budget, ['spent_today_usd']);
    var limit = first(budget, ['daily_limit_usd']);
    var words = usd(spent) + (isNumber(limit) ? ' of ' + usd(limit) : '');
    return budget.reached ? words + ' (budget reached)' : words;
  }

  function latencyWords(p) {
    var p50 = first(p, ['p50_latency_ms']);
    var p95 = first(p, ['p95_latency_ms']);
    if (!isNumber(p50) && !isNumber(p95)) return DASH;
    return (isNumber(p50) ? p50 + ' ms' : DASH) + ' / ' + (isNumber(p95) ? p95 + ' ms' : DASH);
  }

  // -- the round's messages, with what each cost ----------------------------------------

  /** The live round's messages, or the last completed round's between rounds. */
  Dashboard.prototype.refreshRound = function (status) {
    var self = this;
    var c = status.conversation || status.last_conversation;
    if (!c || !Number.isInteger(c.id)) {
      this.renderRound(null);
      return null;
    }
    return fetchJson('/api/conversations/' + c.id).then(function (r) {
      if (!r.ok || !r.body) throw new Error(errorText(r));
      self.renderRound(r.body);
    });
  };

  Dashboard.prototype.renderRound = function (round) {
    var rows = this.el.round;
    rows.textContent = '';
    this.el.roundTitle.textContent = round ? 'Messages of round ' + round.id + (round.status === 'active' ? ' (live)' : '') : 'Messages of the round';
    var messages = round && Array.isArray(round.messages) ? round.messages : [];
    if (!messages.length) {
      var td = rows.appendChild(h('tr')).appendChild(cell('Messages', round ? 'No message yet.' : 'No round yet.', 'rt-hint'));
      td.colSpan = 7;
    }
    messages.forEach(function (m) { rows.appendChild(messageRow(m)); });
  };

  function messageRow(m) {
    var row = h('tr');
    row.setAttribute('data-seq', String(m.seq));
    row.setAttribute('data-source', String(m.source || ''));
    row.appendChild(cell('#', m.seq));
    row.appendChild(cell('Agent', m.persona || m.agent || DASH, 'rt-strong'));
    var source = m.source === 'api' ? '' : m.source === 'template' ? ' (template)' : ' (fallback)';
    row.appendChild(cell('Written by', (m.source === 'template' ? 'no AI' : [m.provider, m.model].filter(Boolean).join(' \u00b7 ')) + source));
    var tokens = isNumber(m.prompt_tokens) || isNumber(m.completion_tokens) ? count(m.prompt_tokens) + ' / ' + count(m.completion_tokens) : DASH;
    row.appendChild(cell('Tokens in / out', tokens));
    row.appendChild(cell('Cost', isNumber(m.cost_usd) ? '$' + m.cost_usd.toFixed(6) : DASH));
    row.appendChild(cell('Took', isNumber(m.latency_ms) ? m.latency_ms + ' ms' : DASH));
    row.appendChild(cell('Why a fallback', m.fallback_reason || (m.source === 'api' ? DASH : 'not recorded')));
    return row;
  }

  // -- errors and the audit trail ------------------------------------------------------

  Dashboard.prototype.renderErrors = function (body) {
    var list = this.el.errors;
    list.textContent = '';
    var errors = Array.isArray(body.errors) ? body.errors : [];
    if (!errors.length) list.appendChild(h('li', 'rt-hint', 'No failed provider calls.'));
    errors.forEach(function (e) {
      var item = list.appendChild(h('li', 'rt-list-item'));
      if (isNumber(e.at)) item.appendChild(h('time', 'rt-muted', localDateTime(e.at)));
      item.appendChild(h('span', 'rt-strong', ' ' + (e.provider || '?') + ' '));
      item.appendChild(h('span', null, String(e.error_class || 'error') + (e.model ? ' (' + e.model + ')' : '')));
    });
  };

  Dashboard.prototype.renderAudit = function (body) {
    var rows = this.el.audit;
    rows.textContent = '';
    var entries = Array.isArray(body.entries) ? body.entries : [];
    if (!entries.length) {
      var empty = rows.appendChild(h('tr'));
      var td = empty.appendChild(cell('Actions', 'No admin actions yet.', 'rt-hint'));
      td.colSpan = 5;
    }
    entries.forEach(function (e) {
      var row = rows.appendChild(h('tr'));
      row.setAttribute('data-result', String(e.result || ''));
      row.appendChild(cell('Time', isNumber(e.at) ? localDateTime(e.at) : DASH));
      row.appendChild(cell('Action', e.action || DASH, 'rt-strong'));
      var result = e.result === 'accepted' ? 'accepted' : 'refused (' + e.status + ')';
      row.appendChild(cell('Result', result + (e.detail ? ': ' + e.detail : '')));
      row.appendChild(cell('Client', e.client || DASH));
      row.appendChild(cell('Token', e.token_fingerprint ? 'sha256 ' + e.token_fingerprint + '\u2026' : 'none sent', 'rt-mono'));
    });
  };

  // -- actions ---------------------------------------------------------------------------

  Dashboard.prototype.onAction = function (action, button) {
    var self = this;
    var ask = action === 'skip' ? this.confirmSkip() : Promise.resolve(true);
    ask.then(function (confirmed) {
      if (!confirmed) {
        self.el.result.textContent = 'Nothing was skipped.';
        return null;
      }
      return self.send(action, button);
    });
  };

  /** Resolves true when the admin confirms the skip in the page's dialog. */
  Dashboard.prototype.confirmSkip = function () {
    var live = this.status && this.status.state === 'active';
    var c = this.status && this.status.conversation;
    var next = this.status && this.status.next_round_at;
    this.el.confirmTitle.textContent = live ? 'End the live round now?' : 'Skip the next round?';
    this.el.confirmText.textContent = live
      ? 'Round ' + (c ? c.id + ' \u201c' + (c.topic || 'untitled') + '\u201d' : '') + ' ends now with the messages shown so far; visitors see it end.'
      : 'The round at ' + (isNumber(next) ? localDateTime(next) : 'the next slot') + ' will not run; the schedule goes on after it.';
    this.el.confirmOk.textContent = live ? 'End the round' : 'Skip it';
    var dialog = this.el.confirm;
    dialog.returnValue = '';
    dialog.showModal();
    return new Promise(function (resolve) {
      dialog.addEventListener('close', function () { resolve(dialog.returnValue === 'confirm'); }, { once: true });
    });
  };

  /** POST /control {action, ...extra}; resolves true when it was accepted. */
  Dashboard.prototype.send = function (action, button, extra) {
    var self = this;
    var out = this.el.result;
    button.disabled = true;
    out.removeAttribute('data-ok');
    out.textContent = 'Sending ' + action + '\u2026';
    return fetchJson('/control', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + this.token },
      body: JSON.stringify(Object.assign({ action: action }, extra || {}))
    }).then(function (r) {
      out.setAttribute('data-ok', String(r.ok));
      out.textContent = r.ok ? DONE_WORDS[action] || 'Done.' : 'Refused: ' + errorText(r) + '.';
      return r.ok;
    }).catch(function () {
      out.setAttribute('data-ok', 'false');
      out.textContent = 'The service did not answer; the command may still apply. Check the state.';
      return false;
    }).then(function (ok) {
      button.disabled = false;
      return self.refresh().then(function () { return ok; });
    });
  };

  function init() {
    document.querySelectorAll('[data-rt-admin]').forEach(function (root) {
      if (!root.__roundtableAdmin) root.__roundtableAdmin = new Dashboard(root);
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
