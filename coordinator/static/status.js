/* The connection-status pages: keep the live part (#status-live) current without reloading.
 *
 * Every data-poll seconds (DASHBOARD_POLL_SECONDS) the script asks data-live with the ETag it holds
 * (If-None-Match). 304: nothing changed, nothing to do. 200: the fragment's HTML replaces the live
 * part and its ETag is kept. #status-sync says "Updated HH:MM:SS" after each answer and a discreet
 * "connection lost" after an error (the page keeps its last content and keeps asking, less often).
 * On the wall screen, #status-clock shows the time in the event's zone. Every element with data-age
 * (an ISO time: the last sweep, a tile's oldest probe) says how long ago that was, every second,
 * computed here so that the fragment (and its ETag) need not change as time passes. No library; the
 * page works without this script (it is then current as of its loading). A live part with forms (the
 * incident list, an endpoint's incident block) is not replaced while someone types in it, and its
 * opened "resolve, note, reassign" panels stay open.
 *
 * The search box (#st-search) suggests endpoints as one types (the API's /events/<slug>/search),
 * arrows and Enter choose one; without a choice the form is sent (one found: its page). The alert
 * switch (#st-alert) saves the person's choice on the server; when it is on, a new incident in the
 * live part (#st-incident-mark: the newest open incidents' ids) plays a short beep (WebAudio, no
 * file) and counts in the title bar until the person clicks or types on the page.
 */
(function () {
  'use strict';

  var box = document.getElementById('status-live');
  var sync = document.getElementById('status-sync');
  var clock = document.getElementById('status-clock');

  function formatter(tz) {
    try {
      var f = new Intl.DateTimeFormat('en-GB', {timeZone: tz || undefined, hour: '2-digit', minute: '2-digit',
                                                second: '2-digit', hour12: false});
      return function (d) { return f.format(d); };
    } catch (e) {
      return function (d) { return d.toTimeString().slice(0, 8); };
    }
  }

  if (clock) {
    var clockTime = formatter(clock.getAttribute('data-tz'));
    var tick = function () { clock.textContent = clockTime(new Date()); };
    tick();
    setInterval(tick, 1000);
  }

  var agoS = (sync && sync.getAttribute('data-ago-s')) || '%(n)s s';
  var agoM = (sync && sync.getAttribute('data-ago-m')) || '%(n)s min';
  var shortM = (sync && sync.getAttribute('data-short-m')) || '%(n)s min';
  var timeOf = formatter(sync && sync.getAttribute('data-tz'));

  function ages() {
    var now = Date.now();
    var els = document.querySelectorAll('[data-age]');
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var at = Date.parse(el.getAttribute('data-age'));
      if (isNaN(at)) { continue; }
      var s = Math.max(0, Math.round((now - at) / 1000));
      var ago = s < 120 ? agoS.replace('%(n)s', s) : agoM.replace('%(n)s', Math.floor(s / 60));
      var format = el.getAttribute('data-age-format');
      if (format === 'short') { el.textContent = s < 120 ? s + ' s' : shortM.replace('%(n)s', Math.floor(s / 60)); }
      else if (format === 'time') { el.textContent = timeOf(new Date(at)) + ' (' + ago + ')'; }
      else {
        if (!el.hasAttribute('data-abs')) { el.setAttribute('data-abs', el.textContent); }
        el.textContent = el.getAttribute('data-abs') + ' (' + ago + ')';
      }
    }
  }
  ages();
  setInterval(ages, 1000);

  if (!box || !window.fetch) { return; }

  var url = box.getAttribute('data-live');
  var etag = box.getAttribute('data-etag') || '';
  var every = Math.max(parseFloat(box.getAttribute('data-poll')) || 5, 0.2) * 1000;
  var syncTime = formatter(sync && sync.getAttribute('data-tz'));
  var failures = 0;
  var timer = null;
  var inFlight = false;

  function report(ok) {
    if (!sync) { return; }
    if (ok) {
      sync.textContent = (sync.getAttribute('data-updated') || '%(time)s').replace('%(time)s', syncTime(new Date()));
      sync.setAttribute('data-state', 'ok');
      sync.classList.remove('st-lost');
    } else {
      sync.textContent = sync.getAttribute('data-lost') || '…';
      sync.setAttribute('data-state', 'lost');
      sync.classList.add('st-lost');
    }
  }

  function schedule() {
    clearTimeout(timer);
    // After errors, wait longer (twice as long each time, at most half a minute) not to pile up requests.
    var wait = failures ? Math.min(every * Math.pow(2, failures), Math.max(every, 30000)) : every;
    timer = setTimeout(poll, wait);
  }

  // The live part holds forms (an incident's reason, note, new owner): never replaced under typing.
  function editing() {
    var el = document.activeElement;
    if (el && box.contains(el) && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName)) { return true; }
    var fields = box.querySelectorAll('textarea, input[type="text"]');
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== fields[i].defaultValue) { return true; }
    }
    return false;
  }

  function openWork() {
    var open = [];
    var els = box.querySelectorAll('details[open][data-work]');
    for (var i = 0; i < els.length; i++) { open.push(els[i].getAttribute('data-work')); }
    return open;
  }

  function reopen(open) {
    for (var i = 0; i < open.length; i++) {
      var el = box.querySelector('details[data-work="' + open[i] + '"]');
      if (el) { el.open = true; }
    }
  }

  function poll() {
    if (inFlight) { return; }
    // A background tab asks again when shown; unless its alert is on (a new incident must be heard).
    if (document.hidden && box.getAttribute('data-alert') !== '1') { schedule(); return; }
    inFlight = true;
    var headers = {'X-Requested-With': 'status.js'};
    if (etag) { headers['If-None-Match'] = etag; }
    fetch(url, {headers: headers, credentials: 'same-origin', cache: 'no-store', redirect: 'manual'})
      .then(function (response) {
        if (response.status === 304) { return null; }
        // Anything but our fragment (an expired sign-in redirects to the login page) is an error.
        if (response.status !== 200 || !response.headers.get('X-Status-Fragment')) {
          throw new Error('status ' + response.status);
        }
        var tag = response.headers.get('ETag');
        return response.text().then(function (html) {
          // Someone typing in the live part (a note, a reason) keeps it: asked again at the next poll.
          if (editing()) { return; }
          var opened = openWork();
          box.innerHTML = html;
          reopen(opened);
          ages();
          if (tag) { etag = tag; }
          box.dispatchEvent(new CustomEvent('status:updated', {bubbles: true}));
        });
      })
      .then(function () { failures = 0; report(true); },
            function () { failures += 1; report(false); })
      .then(function () { inFlight = false; schedule(); });
  }

  function now() { clearTimeout(timer); poll(); }
  document.addEventListener('visibilitychange', function () { if (!document.hidden) { now(); } });
  window.addEventListener('online', now);  // the network is back: no need to wait for the next try
  schedule();
})();


/* The search of every dashboard page: suggestions from the API as one types. */
(function () {
  'use strict';

  var form = document.getElementById('st-search');
  if (!form || !window.fetch) { return; }
  var input = form.querySelector('input[name="q"]');
  var list = document.getElementById('st-search-list');
  var api = form.getAttribute('data-api');
  var session = form.getAttribute('data-session') || '';
  var seq = 0;
  var timer = null;
  var active = -1;
  var items = [];

  function close() {
    list.hidden = true;
    list.textContent = '';
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    items = [];
    active = -1;
  }

  function highlight(i) {
    var options = list.querySelectorAll('[role="option"]');
    active = Math.max(-1, Math.min(i, options.length - 1));
    for (var k = 0; k < options.length; k++) {
      options[k].setAttribute('aria-selected', k === active ? 'true' : 'false');
    }
    if (active >= 0) { input.setAttribute('aria-activedescendant', options[active].id); }
    else { input.removeAttribute('aria-activedescendant'); }
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text) { e.textContent = text; }
    return e;
  }

  function render(data) {
    list.textContent = '';
    items = data.items || [];
    active = -1;
    if (!items.length) {
      list.appendChild(el('li', 'st-search-none muted', form.getAttribute('data-empty')));
    }
    items.forEach(function (item, i) {
      var li = el('li', 'st-search-item');
      li.id = 'st-search-option-' + i;
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', 'false');
      li.setAttribute('data-endpoint', item.id);
      var a = el('a', '', '');
      a.href = item.page;
      a.tabIndex = -1;
      a.appendChild(el('span', 'badge st-badge st-' + item.state, item.state_text));
      a.appendChild(document.createTextNode(' '));
      a.appendChild(el('strong', '', item.name));
      a.appendChild(document.createTextNode(' '));
      a.appendChild(el('small', 'muted', item.unit_code + ' ' + item.unit_name));
      a.appendChild(el('small', 'st-search-why', item.match_text + (item.matched ? ': ' + item.matched : '')));
      li.appendChild(a);
      li.addEventListener('mousedown', function (e) { e.preventDefault(); window.location.href = item.page; });
      list.appendChild(li);
    });
    if (data.more) { list.appendChild(el('li', 'st-search-more muted', form.getAttribute('data-more'))); }
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
  }

  function ask() {
    var q = input.value.trim();
    if (q.length < 2) { close(); return; }
    var n = ++seq;
    var url = api + '?limit=8&q=' + encodeURIComponent(q) + (session ? '&session=' + encodeURIComponent(session) : '');
    fetch(url, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (n === seq && data && input.value.trim() === q) { render(data); } },
            function () { /* the form still works */ });
  }

  input.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 150);
  });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowDown' && items.length) { e.preventDefault(); highlight(active + 1); }
    else if (e.key === 'ArrowUp' && items.length) { e.preventDefault(); highlight(active - 1); }
    else if (e.key === 'Escape') { close(); }
    else if (e.key === 'Enter' && active >= 0 && items[active]) {
      e.preventDefault();
      window.location.href = items[active].page;
    } else if (e.key === 'Enter') {
      seq += 1;  // an answer still on its way must not open the list over the page being left
      clearTimeout(timer);
    }
  });
  input.addEventListener('blur', function () { setTimeout(close, 150); });
})();

/* The alert for new incidents: the switch, the beep, the count in the title bar. */
(function () {
  'use strict';

  var sw = document.getElementById('st-alert');
  var box = document.getElementById('status-live');
  if (!sw) { return; }
  var button = sw.querySelector('button');
  var value = sw.querySelector('input[name="alert_sound"]');
  var baseTitle = document.title;
  var unseen = 0;
  var ctx = null;
  var beeps = 0;

  function on() { return sw.getAttribute('data-on') === '1'; }

  function newest() {
    var mark = document.getElementById('st-incident-mark');
    return mark ? (parseInt(mark.getAttribute('data-newest'), 10) || 0) : 0;
  }
  var seen = newest();

  function audio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return null; }
    if (!ctx) { try { ctx = new Context(); } catch (e) { return null; } }
    if (ctx.state === 'suspended' && ctx.resume) { ctx.resume().catch(function () {}); }
    return ctx;
  }

  function beep() {
    beeps += 1;
    sw.setAttribute('data-beeps', String(beeps));
    var c = audio();
    if (!c) { return; }
    var t = c.currentTime;
    [0, 0.18].forEach(function (offset) {  // two short tones, 880 Hz
      var osc = c.createOscillator();
      var gain = c.createGain();
      osc.type = 'sine';
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, t + offset);
      gain.gain.exponentialRampToValueAtTime(0.25, t + offset + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + offset + 0.14);
      osc.connect(gain);
      gain.connect(c.destination);
      osc.start(t + offset);
      osc.stop(t + offset + 0.15);
    });
  }

  function title() {
    document.title = unseen ? '(' + unseen + ') ' + baseTitle : baseTitle;
    sw.setAttribute('data-unseen', String(unseen));
  }

  function show(state) {
    sw.setAttribute('data-on', state ? '1' : '0');
    if (value) { value.value = state ? '0' : '1'; }
    if (button) {
      button.textContent = sw.getAttribute(state ? 'data-label-on' : 'data-label-off');
      button.setAttribute('aria-pressed', state ? 'true' : 'false');
    }
    if (box) { box.setAttribute('data-alert', state ? '1' : '0'); }
    if (!state) { unseen = 0; title(); }
  }
  show(on());

  sw.addEventListener('submit', function (e) {
    if (!window.fetch || !window.FormData) { return; }  // the plain form: saved, back to this page
    e.preventDefault();
    var wanted = value ? value.value === '1' : !on();
    if (wanted) { audio(); }  // created during the click: browsers let it play from now on
    fetch(sw.action, {method: 'POST', body: new FormData(sw), credentials: 'same-origin',
                      headers: {'X-Requested-With': 'status.js', 'Accept': 'application/json'}})
      .then(function (r) { if (!r.ok) { throw new Error('status ' + r.status); } return r.json(); })
      .then(function (data) {
        show(!!data.alert_sound);
        if (data.alert_sound) { beep(); }  // what it will sound like
      }, function () { sw.submit(); });
  });

  // A new incident in the live part: above the newest one seen.
  document.addEventListener('status:updated', function () {
    var mark = document.getElementById('st-incident-mark');
    if (!mark) { return; }
    var ids = (mark.getAttribute('data-ids') || '').split(' ');
    var fresh = 0;
    for (var i = 0; i < ids.length; i++) {
      if ((parseInt(ids[i], 10) || 0) > seen) { fresh += 1; }
    }
    seen = Math.max(seen, newest());
    if (fresh && on()) {
      unseen += fresh;
      title();
      beep();
    }
  });

  // The person is looking (a click, a key): the count is read; the sound may play from now on.
  function looked() {
    if (on()) { audio(); }
    if (unseen) { unseen = 0; title(); }
  }
  document.addEventListener('pointerdown', looked);
  document.addEventListener('keydown', looked);
})();
