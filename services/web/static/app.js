// Sinergi KSD: small behaviours on top of server-rendered pages (no inline scripts: CSP).
(function () {
  "use strict";
  function ready(fn) { if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); } }
  ready(function () {
    // After a refused form, move focus to the summary of what to fix.
    var summary = document.getElementById("ringkasan-galat");
    if (summary) { summary.focus(); }
  });
  // Buttons with data-konfirmasi ask before submitting.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var text = (button && button.getAttribute("data-konfirmasi")) || event.target.getAttribute("data-konfirmasi");
    if (text && !window.confirm(text)) { event.preventDefault(); }
  }, true);
})();
