// turnout dashboard: puts each snapshot the server streams in place, ticks elapsed times,
// asks before an action, and closes the stream while the tab is hidden (reopening it with
// the id of the snapshot shown, so the server sends only what is newer).
(function () {
  "use strict";
  var body = document.body;
  var stream = body.dataset.stream;
  var state = document.getElementById("stream-state");
  var last = body.dataset.eventId || "";
  var source = null;

  function say(text, css) {
    if (state) { state.textContent = text; state.className = "stream-state " + (css || ""); }
  }

  function apply(regions) {
    Object.keys(regions).forEach(function (id) {
      var element = document.getElementById(id);
      if (element) { element.innerHTML = regions[id]; }
    });
    tick();
  }

  function open() {
    if (!stream || source) { return; }
    var url = stream + (stream.indexOf("?") < 0 ? "?" : "&") + "last=" + encodeURIComponent(last);
    source = new EventSource(url);
    source.onopen = function () { say("live", "live"); };
    source.onerror = function () { say("reconnecting…", "lost"); };
    source.addEventListener("snapshot", function (event) {
      last = event.lastEventId || last;
      body.dataset.eventId = last;
      apply(JSON.parse(event.data));
      say("live", "live");
    });
  }

  function close() {
    if (source) { source.close(); source = null; }
  }

  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll(".elapsed[data-since]").forEach(function (element) {
      var since = parseFloat(element.dataset.since);
      if (!isNaN(since)) { element.textContent = Math.max(0, now - since).toFixed(0) + " s"; }
    });
  }

  document.addEventListener("submit", function (event) {
    var question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { close(); say("paused while hidden", "paused"); } else { open(); }
  });
  setInterval(tick, 1000);
  tick();
  if (stream) { open(); } else { say(""); }
})();
