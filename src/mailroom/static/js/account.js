// The account page: "Send code" and "Change address" over AJAX (JSON in and out), with the CSRF
// token read from <meta name="csrf-token"> and sent as X-CSRFToken. Without JavaScript the same
// forms post normally and the server answers with the page.
(function () {
  "use strict";

  var sendForm = document.getElementById("send-code-form");
  var changeForm = document.getElementById("change-email-form");
  if (!sendForm || !changeForm) {
    return;
  }
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var sendButton = document.getElementById("send-code");
  var sendLabel = sendButton.textContent;
  var statusBox = document.getElementById("email-change-status");
  var timer = null;

  // POST a JSON body; always resolve to the {code, message, data} shape.
  function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": csrfToken
      },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () {
        return {code: response.status, message: "Unexpected reply from the server.", data: {}};
      });
    }, function () {
      return {code: 0, message: "The server could not be reached. Check your connection.", data: {}};
    });
  }

  // Show a message in the status area of the change-of-address card.
  function showStatus(kind, message) {
    statusBox.replaceChildren();
    var alert = document.createElement("div");
    alert.className = "alert alert-" + kind;
    alert.id = "email-change-message";
    alert.textContent = message;
    statusBox.appendChild(alert);
  }

  // Remove every field error shown in a form.
  function clearErrors(form) {
    form.querySelectorAll(".is-invalid").forEach(function (input) {
      input.classList.remove("is-invalid");
      input.removeAttribute("aria-describedby");
    });
    form.querySelectorAll(".invalid-feedback").forEach(function (node) {
      node.remove();
    });
  }

  // Put an error right below the input, as the server-rendered page does.
  function showFieldError(input, message) {
    var feedback = document.createElement("div");
    feedback.className = "invalid-feedback";
    feedback.id = input.id + "-error";
    feedback.textContent = message;
    input.classList.add("is-invalid");
    input.setAttribute("aria-describedby", feedback.id);
    input.insertAdjacentElement("afterend", feedback);
    input.focus();
  }

  // The visible input of a form that an error naming ``field`` belongs to, if any.
  function inputFor(form, field) {
    if (!field) {
      return null;
    }
    var input = form.querySelector('[name="' + field + '"]:not([type="hidden"])');
    return input || (form === changeForm ? document.getElementById("change-code") : null);
  }

  // Show a refusal beside its field, or in the status area when it names none.
  function showProblem(form, reply) {
    var input = inputFor(form, reply.data && reply.data.field);
    if (input && reply.data.field !== "csrf_token") {
      showFieldError(input, reply.message);
    } else {
      showStatus("danger", reply.message);
    }
  }

  // Disable "Send code" for ``seconds``, counting down on the button.
  function coolDown(seconds) {
    var left = Math.max(0, Math.ceil(seconds));
    window.clearInterval(timer);
    function tick() {
      if (left <= 0) {
        window.clearInterval(timer);
        sendButton.disabled = false;
        sendButton.textContent = sendLabel;
        return;
      }
      sendButton.disabled = true;
      sendButton.textContent = "Resend in " + left + " s";
      left -= 1;
    }
    tick();
    timer = window.setInterval(tick, 1000);
  }

  sendForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(sendForm);
    var email = sendForm.elements.email.value;
    sendButton.disabled = true;
    postJSON(sendForm.action, {email: email, password: sendForm.elements.password.value})
      .then(function (reply) {
        sendButton.disabled = false;
        if (reply.code === 200) {
          showStatus("info", reply.message);
          document.getElementById("change-email-address").value = reply.data.email;
          sendForm.elements.password.value = "";
          coolDown(reply.data.resend_after);
          document.getElementById("change-code").focus();
          return;
        }
        if (reply.data && reply.data.resend_after) {
          coolDown(reply.data.resend_after);
        }
        showProblem(sendForm, reply);
      });
  });

  changeForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(changeForm);
    var body = {code: changeForm.elements.code.value, email: changeForm.elements.email.value};
    postJSON(changeForm.action, body).then(function (reply) {
      if (reply.code !== 200) {
        showProblem(changeForm, reply);
        return;
      }
      document.getElementById("account-email").textContent = reply.data.email;
      var badge = document.getElementById("email-status");
      badge.className = "badge text-bg-success";
      badge.textContent = "confirmed";
      var confirmCard = document.getElementById("confirm");
      if (confirmCard) {
        confirmCard.remove();
      }
      var banner = document.getElementById("unconfirmed-banner");
      if (banner) {
        banner.remove();
      }
      showStatus("success", reply.message);
      sendForm.reset();
      changeForm.reset();
      document.getElementById("change-email-address").value = "";
    });
  });

  var initialWait = Number(sendButton.getAttribute("data-resend-after") || 0);
  if (initialWait > 0) {
    coolDown(initialWait);
  }
})();
