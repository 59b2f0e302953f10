// Sinergi KSD: small behaviours on top of server-rendered pages (no inline scripts: CSP).
(function () {
  "use strict";
  function ready(fn) { if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); } }
  ready(function () {
    // After a refused form, move focus to the summary of what to fix.
    var summary = document.getElementById("ringkasan-galat");
    if (summary) { summary.focus(); }
    focusableScrollers(document);
  });
  // A wide table scrolls sideways inside .gulir: such a region must be reachable by keyboard.
  function focusableScrollers(root) {
    root.querySelectorAll(".gulir:not([tabindex])").forEach(function (el) { el.setAttribute("tabindex", "0"); });
  }
  document.addEventListener("htmx:afterSettle", function (event) { focusableScrollers(event.target.parentNode || document); });
  // A picker's search box (data-cari): Enter searches (htmx) instead of submitting the form.
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (event.key === "Enter" && box && box.hasAttribute && box.hasAttribute("data-cari") && window.htmx) {
      event.preventDefault();
      window.htmx.trigger(box, "search");
    }
  });
  // Buttons with data-konfirmasi ask before submitting.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var text = (button && button.getAttribute("data-konfirmasi")) || event.target.getAttribute("data-konfirmasi");
    if (text && !window.confirm(text)) { event.preventDefault(); }
  }, true);
})();
