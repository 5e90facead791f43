// Live updates without a build step: ask the server every few seconds whether the queue or the
// runs changed; if so, fetch this page again and swap in its main part. A form being filled in
// is never replaced: a note says there is news instead. Without JavaScript, reload by hand.
(function () {
  "use strict";
  var body = document.body;
  var version = body.dataset.version;
  var every = parseInt(body.dataset.pollMs || "2000", 10);
  if (!version || !every) return;
  var dirty = false;
  document.addEventListener("input", function () { dirty = true; });
  document.addEventListener("submit", function () { dirty = true; });

  function busy() {
    var active = document.activeElement;
    var inForm = active && active.closest && active.closest("form") && active.tagName !== "BUTTON";
    var openEdit = document.querySelector("details.edit[open]");
    return dirty || inForm || openEdit;
  }

  function swap() {
    return fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var main = fresh.getElementById("live");
        if (!main) return;
        document.getElementById("live").replaceWith(main);
        version = fresh.body.dataset.version || version;
        body.dataset.version = version;
        var note = document.getElementById("live-note");
        note.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
        note.hidden = false;
      });
  }

  function poll() {
    fetch("/live", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || data.version === version) return;
        if (busy()) {
          var note = document.getElementById("live-note");
          note.textContent = "There is news: reload the page when you are done with this form.";
          note.hidden = false;
          return;
        }
        return swap();
      })
      .catch(function () { /* the server may be restarting; try again next time */ })
      .then(function () { window.setTimeout(poll, every); });
  }
  window.setTimeout(poll, every);
})();
