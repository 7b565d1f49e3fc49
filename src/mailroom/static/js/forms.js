// Every page: when the server answered a form with errors, focus goes to the first field in error,
// so keyboard and screen-reader users land on what needs fixing (its message is tied to it).
(function () {
  "use strict";
  var first = document.querySelector("main [aria-invalid='true'], main .is-invalid");
  if (first && typeof first.focus === "function") {
    first.focus();
  }
})();
