// Waits in the page's language (<html lang>), worded exactly as the server words them
// (mailroom.i18n.wait: CLDR's short units joined as a unit list): "9 min, 59 sec", "9分钟59秒",
// "9 分鐘 59 秒". Intl.DurationFormat where the browser has it, else the same units one by one with
// Intl.NumberFormat and Intl.ListFormat. Other scripts call window.MailroomWaits.format(seconds).
(function () {
  "use strict";

  var UNITS = [["hours", "hour", 3600], ["minutes", "minute", 60], ["seconds", "second", 1]];

  function language() {
    return document.documentElement.getAttribute("lang") || "en";
  }

  // The non-zero hours, minutes and seconds of a wait, rounded up, never negative (as domain/waits.py).
  function parts(seconds) {
    var left = Math.max(0, Math.ceil(seconds));
    var found = [];
    UNITS.forEach(function (unit) {
      var count = Math.floor(left / unit[2]);
      left -= count * unit[2];
      if (count) {
        found.push([unit, count]);
      }
    });
    return found.length ? found : [[UNITS[2], 0]];
  }

  function withUnits(found, lang) {
    var words = found.map(function (part) {
      return new Intl.NumberFormat(lang, {style: "unit", unit: part[0][1], unitDisplay: "short"}).format(part[1]);
    });
    if (typeof Intl.ListFormat === "function") {
      return new Intl.ListFormat(lang, {type: "unit", style: "short"}).format(words);
    }
    return words.join(" ");
  }

  // Chinese writes numbers against the words: "9分鐘59秒", not CLDR's Traditional "9 分鐘 59 秒".
  function tight(text, lang) {
    return lang.slice(0, 2) === "zh" ? text.replace(/(\d) (?=[\u4e00-\u9fff])|([\u4e00-\u9fff]) (?=\d)/g, "$1$2") : text;
  }

  function format(seconds) {
    return tight(untightened(seconds), language());
  }

  function untightened(seconds) {
    var found = parts(seconds);
    var lang = language();
    var zero = found.length === 1 && found[0][1] === 0;
    if (typeof Intl.DurationFormat === "function" && !zero) {
      var duration = {};
      found.forEach(function (part) { duration[part[0][0]] = part[1]; });
      return new Intl.DurationFormat(lang, {style: "short"}).format(duration);
    }
    return withUnits(found, lang);
  }

  window.MailroomWaits = {format: format, parts: parts};
})();
