// The announcement page follows its sending live: while copies are on their way it asks the progress
// address (JSON, read fresh from the outbox) every few seconds and updates the state, the bar, the
// sentence and the counts in place; once nothing is on its way it stops asking. The server writes
// every word (in the page's language); this script only places them.
(function () {
  "use strict";

  var box = document.getElementById("announcement-progress");
  if (!box || box.getAttribute("data-finished") === "true") {
    return;
  }
  var every = Number(box.getAttribute("data-poll-ms")) || 2000;
  var live = document.getElementById("progress-live");
  var failures = 0;

  function setText(id, text) {
    var element = document.getElementById(id);
    if (element && element.textContent !== text) {
      element.textContent = text;
    }
  }

  function show(reply) {
    var data = reply.data;
    var badge = document.getElementById("announcement-status");
    badge.className = "badge text-bg-" + data.tone;
    setText("announcement-status", data.label);
    setText("progress-label", data.percent_text);
    var bar = document.getElementById("progress-bar");
    bar.value = data.percent;
    bar.textContent = data.percent + "%";
    setText("progress-text", reply.message);
    Object.keys(data.shown).forEach(function (name) {
      setText("count-" + name, data.shown[name]);
    });
    return data.finished;
  }

  function ask() {
    return fetch(box.getAttribute("data-url"), {credentials: "same-origin", cache: "no-store",
                                                 headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (reply) {
        if (failures) {
          failures = 0;
          live.textContent = box.getAttribute("data-following");
        }
        return show(reply);
      })
      .catch(function () {
        failures += 1;
        live.textContent = box.getAttribute("data-retrying");
        return false;
      });
  }

  function next() {
    // After failures, ask less often (up to ten times the usual wait), never hammering the server.
    window.setTimeout(function () {
      ask().then(function (finished) {
        if (finished) {
          box.setAttribute("data-finished", "true");
          live.textContent = box.getAttribute("data-done");
        } else {
          next();
        }
      });
    }, every * Math.min(10, failures + 1));
  }

  live.textContent = box.getAttribute("data-following");
  next();
})();
