// The account page: one card per task. Every wait (resend cooldown, lockout after wrong codes, a code's
// expiry) comes from the server in seconds and is shown by the same live countdown, which disables its
// button until the wait is over. Busy buttons show a spinner and aria-busy. "Send code" and "Change
// address" go over AJAX (JSON, CSRF token in X-CSRFToken); without JavaScript the forms post normally.
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";

  // A wait in the page's language, worded as the server words it (waits.js, loaded by base.html).
  function formatWait(seconds) {
    return window.MailroomWaits.format(seconds);
  }

  // A live countdown in ``node`` (its data-wait-text holds the sentence, with {wait}); while it runs
  // the buttons are disabled; at zero they are enabled again and ``done`` is called.
  var timers = new WeakMap();
  function countdown(node, seconds, buttons, done) {
    window.clearInterval(timers.get(node));
    var deadline = Date.now() + Math.max(0, seconds) * 1000;
    var template = node.getAttribute("data-wait-text") || "{wait}";
    function tick() {
      var left = (deadline - Date.now()) / 1000;
      if (left <= 0) {
        window.clearInterval(timers.get(node));
        node.textContent = node.getAttribute("data-done-text") || "";
        node.hidden = !node.textContent;
        buttons.forEach(function (button) { button.disabled = false; });
        if (done) {
          done();
        }
        return;
      }
      node.hidden = false;
      node.textContent = template.replace("{wait}", formatWait(left));
      buttons.forEach(function (button) { button.disabled = true; });
    }
    tick();
    timers.set(node, window.setInterval(tick, 250));
  }

  // Stop a countdown without its end action (the wait no longer applies).
  function stopCountdown(node) {
    window.clearInterval(timers.get(node));
    node.textContent = "";
    node.hidden = true;
  }

  // Start every countdown the server rendered (data-wait-seconds on the node, data-wait-buttons ids).
  function startRenderedWaits() {
    document.querySelectorAll("[data-wait-seconds]").forEach(function (node) {
      var seconds = Number(node.getAttribute("data-wait-seconds") || 0);
      if (seconds > 0) {
        countdown(node, seconds, buttonsOf(node), expiredHandler(node));
      }
    });
  }

  function buttonsOf(node) {
    return (node.getAttribute("data-wait-buttons") || "").split(" ").filter(Boolean).map(function (id) {
      return document.getElementById(id);
    }).filter(Boolean);
  }

  // An expiry countdown ends by disabling what needs a live code, not by enabling it, and by
  // putting the expired sentence in place of the "we sent a code" one (data-expired-text).
  function expiredHandler(node) {
    var target = node.getAttribute("data-expires");
    if (!target) {
      return null;
    }
    return function () {
      var fieldset = document.getElementById(target);
      if (fieldset) {
        fieldset.disabled = true;
      }
      var sentence = document.querySelector("[data-expired-for='" + target + "']");
      if (sentence) {
        sentence.textContent = sentence.getAttribute("data-expired-text");
      }
    };
  }

  // Show a spinner and aria-busy on a button while ``promise`` runs.
  function busy(button, promise) {
    var spinner = document.createElement("span");
    spinner.className = "spinner-border spinner-border-sm me-2";
    spinner.setAttribute("aria-hidden", "true");
    button.prepend(spinner);
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    return promise.finally(function () {
      spinner.remove();
      button.disabled = false;
      button.removeAttribute("aria-busy");
    });
  }

  // Plain form posts (confirm, resend, preferences) also show that they are busy.
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) {
        busy(button, new Promise(function () {}));
      }
    });
  });

  startRenderedWaits();

  var sendForm = document.getElementById("send-code-form");
  var changeForm = document.getElementById("change-email-form");
  if (!sendForm || !changeForm) {
    return;
  }
  var sendButton = document.getElementById("send-code");
  var statusBox = document.getElementById("email-change-status");
  var stateBox = document.getElementById("change-state");
  var stepTwo = document.getElementById("change-step-2");
  var sendWait = document.getElementById("send-code-wait");
  var codeExpiry = document.getElementById("change-code-expiry");
  var card = document.getElementById("change-email");
  var texts = {
    unexpected: sendForm.getAttribute("data-unexpected"),
    unreachable: sendForm.getAttribute("data-unreachable")
  };

  // The card shows one state of its code: pending (step 2 open, the expiry counting down), void
  // (too many wrong tries), expired, or none; ``view`` is the server's {state, email, expires_in,
  // resend_after, locked}, and a missing resend_after leaves the resend countdown as it is.
  function showCodeState(view) {
    var state = view.state || "none";
    var pending = state === "pending";
    card.setAttribute("data-code-state", state);
    var text = stateBox.getAttribute("data-" + state + "-text");
    stateBox.textContent = text ? text.replace("{email}", view.email || "") : "";
    stateBox.hidden = !text;
    stateBox.className = "alert mt-2 alert-" + (pending ? "info" : "warning");
    changeForm.hidden = !pending;
    stepTwo.disabled = !pending;
    if (pending) {
      document.getElementById("change-email-address").value = view.email;
      document.getElementById("change-code-target").textContent = view.email;
      countdown(codeExpiry, view.expires_in, [], onCodeExpired);
    } else {
      stopCountdown(codeExpiry);
      document.getElementById("change-email-address").value = "";
    }
    sendButton.textContent = sendButton.getAttribute(state === "none" ? "data-first-label" : "data-new-label");
    if (view.resend_after !== undefined) {
      resendWait(view.resend_after, view.locked);
    }
  }

  // The resend countdown under "Send code": a lockout after wrong codes or the plain cooldown.
  function resendWait(seconds, locked) {
    if (seconds > 0) {
      sendWait.setAttribute("data-wait-text",
                            sendForm.getAttribute(locked ? "data-locked-wait" : "data-cooldown-wait"));
      countdown(sendWait, seconds, [sendButton]);
    } else {
      stopCountdown(sendWait);
      sendButton.disabled = false;
    }
  }

  // The code ran out while the page was open: the card says so and offers a new code.
  function onCodeExpired() {
    showCodeState({state: "expired", email: document.getElementById("change-email-address").value});
  }

  var renderedExpiry = Number(codeExpiry.getAttribute("data-wait-seconds") || 0);
  if (renderedExpiry > 0) {
    countdown(codeExpiry, renderedExpiry, [], onCodeExpired);
  }

  // POST a JSON body; always resolve to the {code, message, data} shape.
  function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () {
        return {code: response.status, message: texts.unexpected, data: {}};
      });
    }, function () {
      return {code: 0, message: texts.unreachable, data: {}};
    });
  }

  // Show the answer in the status area of the change-of-address card, above its state line.
  function showStatus(kind, message) {
    clearStatus();
    var alert = document.createElement("div");
    alert.className = "alert mt-2 alert-" + kind;
    alert.id = "email-change-message";
    alert.textContent = message;
    statusBox.prepend(alert);
  }

  // Remove every field error shown in a form.
  function clearErrors(form) {
    form.querySelectorAll(".is-invalid").forEach(function (input) {
      input.classList.remove("is-invalid");
      input.removeAttribute("aria-invalid");
      var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
        return id !== input.id + "-error";
      });
      if (described.length) {
        input.setAttribute("aria-describedby", described.join(" "));
      } else {
        input.removeAttribute("aria-describedby");
      }
    });
    form.querySelectorAll(".invalid-feedback").forEach(function (node) { node.remove(); });
  }

  // Put an error right below the input, tied to it, and move focus there.
  function showFieldError(input, message) {
    var feedback = document.createElement("div");
    feedback.className = "invalid-feedback";
    feedback.id = input.id + "-error";
    feedback.textContent = message;
    input.classList.add("is-invalid");
    input.setAttribute("aria-invalid", "true");
    var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    described.push(feedback.id);
    input.setAttribute("aria-describedby", described.join(" "));
    input.insertAdjacentElement("afterend", feedback);
    input.focus();
  }

  // The visible input of a form that an error naming ``field`` belongs to, if any.
  function inputFor(form, field) {
    if (!field || field === "csrf_token") {
      return null;
    }
    var input = form.querySelector('[name="' + field + '"]:not([type="hidden"])');
    return input || (form === changeForm ? document.getElementById("change-code") : null);
  }

  // Show a refusal beside its field, or in the status area when it names none.
  function showProblem(form, reply) {
    var input = inputFor(form, reply.data && reply.data.field);
    if (input) {
      showFieldError(input, reply.message);
    } else {
      showStatus("danger", reply.message);
    }
  }

  // Any reply that carries a wait (cooldown or lockout) starts the same countdown.
  function honourWait(reply) {
    if (reply.data && reply.data.resend_after) {
      resendWait(reply.data.resend_after, reply.data.reason === "locked");
    }
  }

  // Clear the card's answer area (the state line stays).
  function clearStatus() {
    var old = document.getElementById("email-change-message");
    if (old) {
      old.remove();
    }
  }

  sendForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(sendForm);
    var body = {email: sendForm.elements.email.value, password: sendForm.elements.password.value};
    clearStatus();
    busy(sendButton, postJSON(sendForm.action, body)).then(function (reply) {
      honourWait(reply);
      if (reply.code !== 200) {
        showProblem(sendForm, reply);
        return;
      }
      sendForm.elements.password.value = "";
      showCodeState({state: "pending", email: reply.data.email, expires_in: reply.data.expires_in,
                     resend_after: reply.data.resend_after, locked: false});
      document.getElementById("change-code").focus();
    });
  });

  changeForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(changeForm);
    var body = {code: changeForm.elements.code.value, email: changeForm.elements.email.value};
    var submit = document.getElementById("change-email-submit");
    clearStatus();
    busy(submit, postJSON(changeForm.action, body)).then(function (reply) {
      honourWait(reply);
      if (reply.code !== 200 && reply.data && reply.data.code) {
        // The code no longer waits: step 2 goes, and the card's state line is the answer.
        showCodeState(reply.data.code);
        if (reply.data.code.state === "none") {
          showStatus("danger", reply.message);
        }
        return;
      }
      if (reply.code !== 200) {
        showProblem(changeForm, reply);
        return;
      }
      document.getElementById("account-email").textContent = reply.data.email;
      var badge = document.getElementById("email-status");
      badge.className = "badge text-bg-success";
      badge.textContent = badge.getAttribute("data-confirmed-text");
      ["confirm", "unconfirmed-banner"].forEach(function (id) {
        var node = document.getElementById(id);
        if (node) {
          node.remove();
        }
      });
      sendForm.reset();
      changeForm.reset();
      showCodeState({state: "none", resend_after: 0});
      showStatus("success", reply.message);
    });
  });
})();
