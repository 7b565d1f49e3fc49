// The mail dashboard refreshes itself: every few seconds (and when the window is resized) it fetches
// the page again, with the chart laid out for the chart's real width, and swaps in the parts that
// change (counts, chart, delivery engine) without a reload, leaving focus and forms alone.
(function () {
  "use strict";

  var REFRESH_MS = 5000;
  var PARTS = ["status-counts", "chart-box", "engine", "workers", "no-workers"];
  var box = document.getElementById("chart-box");
  if (!box) {
    return;
  }
  // The words come from the page (data-* attributes, in its language); the script only places them.
  var status = document.getElementById("dashboard-updated");
  status.textContent = status.getAttribute("data-every");
  var timer = null;

  // The address of this page with the chart's measured width.
  function liveUrl() {
    var url = new URL(window.location.href);
    url.searchParams.set("width", String(Math.round(box.parentNode.clientWidth)));
    return url;
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    PARTS.forEach(function (id) {
      var old = document.getElementById(id);
      var replacement = fresh.getElementById(id);
      if (old && replacement) {
        old.replaceWith(document.importNode(replacement, true));
      }
    });
    box = document.getElementById("chart-box");
    var time = new Date().toLocaleTimeString(document.documentElement.lang || undefined);
    status.textContent = status.getAttribute("data-updated").replace("{time}", time);
  }

  function refresh() {
    return fetch(liveUrl(), {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.text();
      })
      .then(swap)
      .catch(function () { status.textContent = status.getAttribute("data-failed"); });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () { refresh().finally(schedule); }, REFRESH_MS);
  }

  var chart = document.getElementById("delivery-chart");
  if (chart && Math.abs(Number(chart.getAttribute("data-width")) - box.parentNode.clientWidth) > 8) {
    refresh();
  }
  var resizing = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizing);
    resizing = window.setTimeout(refresh, 300);
  });
  schedule();
})();
