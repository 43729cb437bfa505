/* What the pages used to do in inline handlers, which the Content-Security-Policy forbids
 * (coordinator/web/headers.py): a form with data-confirm="question" asks before it is sent
 * (Cancel keeps everything as it is); a button with data-print prints the page. */
(function () {
  'use strict';
  document.addEventListener('submit', function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) { event.preventDefault(); }
  }, true);
  document.addEventListener('click', function (event) {
    var button = event.target && event.target.closest && event.target.closest('[data-print]');
    if (button) { window.print(); }
  });
})();
