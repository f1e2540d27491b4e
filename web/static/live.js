// Live updates: the page follows the coordinator's public event stream and,
// when a verdict or a crowning arrives, fetches itself again and swaps in
// its live regions ([data-live] elements with an id). Without JavaScript
// the page is complete; this only saves the reload.
(function () {
  "use strict";
  var body = document.body;
  var types = (body.getAttribute("data-live-events") || "").split(" ").filter(Boolean);
  if (!types.length || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var status = document.getElementById("live-status");
  var pending = null;
  function say(text) { if (status) status.textContent = text; }
  function refresh() {
    pending = null;
    fetch(window.location.href, { headers: { "Accept": "text/html" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (fresh && fresh.innerHTML !== el.innerHTML) {
            el.innerHTML = fresh.innerHTML;
            el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash");
          }
        });
        say("Updated " + new Date().toLocaleTimeString());
      })
      .catch(function () { say("Update failed; reload to see the latest."); });
  }
  var es = null;
  function connect() {
    es = new EventSource("/api/v1/events");
    types.forEach(function (t) {
      es.addEventListener(t, function () {
        // Verdicts come in bursts: one fetch per burst.
        if (!pending) pending = setTimeout(refresh, 250);
      });
    });
    es.onopen = function () { say("Live"); };
    es.onerror = function () { say("Reconnecting…"); };
  }
  // A page left open in the back-forward cache must not hold a stream: the
  // browser allows few connections to one host.
  window.addEventListener("pagehide", function () { if (es) { es.close(); es = null; } });
  window.addEventListener("pageshow", function (e) { if (e.persisted && !es) { connect(); refresh(); } });
  connect();
})();
