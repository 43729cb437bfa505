/* The connection-status pages: keep the live part (#status-live) current without reloading.
 *
 * Every data-poll seconds (DASHBOARD_POLL_SECONDS) the script asks data-live with the ETag it holds
 * (If-None-Match). 304: nothing changed, nothing to do. 200: the fragment's HTML replaces the live
 * part and its ETag is kept. #status-sync says "Updated HH:MM:SS" after each answer and a discreet
 * "connection lost" after an error (the page keeps its last content and keeps asking, less often).
 * On the wall screen, #status-clock shows the time in the event's zone. Every element with data-age
 * (an ISO time: the last sweep, a tile's oldest probe) says how long ago that was, every second,
 * computed here so that the fragment (and its ETag) need not change as time passes. No library; the
 * page works without this script (it is then current as of its loading).
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

  function poll() {
    if (inFlight) { return; }
    if (document.hidden) { schedule(); return; }  // a background tab asks again when shown
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
          box.innerHTML = html;
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
