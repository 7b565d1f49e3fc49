// Fill every hidden "timezone" field with the browser's IANA time zone (Asia/Taipei), so a new
// account shows times in its owner's zone from the start.
(function () {
  "use strict";
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (error) {
    zone = "";
  }
  if (!zone) {
    return;
  }
  document.querySelectorAll('input[type="hidden"][name="timezone"]').forEach(function (field) {
    if (!field.value) {
      field.value = zone;
    }
  });
})();
