// Every page: when the server answered a form with errors, focus goes to the first field in error,
// so keyboard and screen-reader users land on what needs fixing (its message is tied to it).
// Such a page may be the answer to a POST (sign-in, reset): its history entry is made a plain one,
// so a reload or Back reads the page again instead of asking to send the form a second time.
(function () {
  "use strict";
  var first = document.querySelector("main [aria-invalid='true'], main .is-invalid");
  if (first && typeof first.focus === "function") {
    first.focus();
  }
  if (first && window.history && typeof window.history.replaceState === "function") {
    window.history.replaceState(window.history.state, "", window.location.href);
  }
})();
