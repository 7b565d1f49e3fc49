// The development mailbox: the list refreshes itself (new mail appears without a reload), and a
// message's HTML preview switches between desktop and mobile widths and light and dark modes.
(function () {
  "use strict";

  var POLL_MS = 2000;

  // One table cell with a label for the narrow-screen layout.
  function cell(label, content, className) {
    var td = document.createElement("td");
    td.setAttribute("data-label", label);
    if (className) {
      td.className = className;
    }
    if (typeof content === "string") {
      td.textContent = content;
    } else {
      td.appendChild(content);
    }
    return td;
  }

  // The column names of the list, in the page's language (for the narrow-screen labels).
  function labels() {
    var table = document.getElementById("devmail-list");
    return Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
      return th.getAttribute("data-label") || th.textContent;
    });
  }

  // The table row of one message, as the server renders it.
  function row(message) {
    var names = labels();
    var tr = document.createElement("tr");
    tr.id = "devmail-" + message.id;
    tr.setAttribute("data-id", String(message.id));
    var link = document.createElement("a");
    link.href = message.url;
    link.textContent = message.subject;
    var badge = document.createElement("span");
    badge.className = "badge text-bg-secondary";
    badge.textContent = message.source;
    tr.append(cell(names[0], message.received_at, "text-nowrap"), cell(names[1], link),
              cell(names[2], message.to, "text-break"), cell(names[3], message.from, "text-break"),
              cell(names[4], badge));
    return tr;
  }

  // Poll the list and redraw it when messages arrived or left.
  function liveList(table) {
    var body = table.tBodies[0];
    var empty = document.getElementById("devmail-empty");
    var clearForm = document.getElementById("devmail-clear-form");
    var live = document.getElementById("devmail-live");
    function shownIds() {
      return Array.prototype.map.call(body.rows, function (tr) { return tr.getAttribute("data-id"); }).join(",");
    }
    function redraw(messages) {
      var before = body.rows.length;
      body.replaceChildren.apply(body, messages.map(row));
      table.hidden = messages.length === 0;
      empty.hidden = messages.length > 0;
      if (messages.length > 0 && clearForm) {
        clearForm.hidden = false;
      }
      if (messages.length > before) {
        live.textContent = table.dataset.newMessages.replace("{count}", String(messages.length - before));
      }
    }
    function poll() {
      fetch(table.getAttribute("data-poll-url"), {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (response) { return response.json(); })
        .then(function (reply) {
          var messages = reply.data.messages;
          if (messages.map(function (m) { return String(m.id); }).join(",") !== shownIds()) {
            redraw(messages);
          }
        })
        .catch(function () { /* the server restarted (reload): try again at the next tick */ })
        .finally(function () { window.setTimeout(poll, POLL_MS); });
    }
    window.setTimeout(poll, POLL_MS);
  }

  // Switch the preview frame's width and colour scheme with pressed-state buttons.
  function previewControls(frame) {
    var wrapper = document.getElementById("devmail-preview");
    var base = frame.getAttribute("data-src");
    document.querySelectorAll("[data-preview-width]").forEach(function (button) {
      button.addEventListener("click", function () {
        document.querySelectorAll("[data-preview-width]").forEach(function (other) {
          other.setAttribute("aria-pressed", String(other === button));
        });
        wrapper.classList.toggle("devmail-mobile", button.getAttribute("data-preview-width") === "mobile");
      });
    });
    document.querySelectorAll("[data-preview-scheme]").forEach(function (button) {
      button.addEventListener("click", function () {
        document.querySelectorAll("[data-preview-scheme]").forEach(function (other) {
          other.setAttribute("aria-pressed", String(other === button));
        });
        var dark = button.getAttribute("data-preview-scheme") === "dark";
        frame.src = dark ? base + "?scheme=dark" : base;
        wrapper.classList.toggle("devmail-dark", dark);
      });
    });
  }

  // Fill the link table from the link check.
  function linkCheck(button) {
    var table = document.getElementById("devmail-link-results");
    var status = document.getElementById("devmail-link-status");
    button.addEventListener("click", function () {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      button.querySelector(".spinner-border").hidden = false;
      status.textContent = button.dataset.checking;
      fetch(button.getAttribute("data-url"), {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (response) { return response.json(); })
        .then(function (reply) {
          var body = table.tBodies[0];
          body.replaceChildren.apply(body, reply.data.links.map(function (link) {
            var tr = document.createElement("tr");
            var result = link.checked ? (link.status === null ? button.dataset.noAnswer : String(link.status))
                                      : button.dataset.notRequested;
            tr.className = link.checked ? (link.ok ? "table-success" : "table-danger") : "";
            var heads = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.textContent; });
            tr.append(cell(heads[0], link.url, "text-break"), cell(heads[1], result), cell(heads[2], link.note, "text-break"));
            return tr;
          }));
          table.hidden = false;
          status.textContent = reply.message;
        })
        .catch(function () { status.textContent = button.dataset.failed; })
        .finally(function () {
          button.disabled = false;
          button.removeAttribute("aria-busy");
          button.querySelector(".spinner-border").hidden = true;
        });
    });
  }

  var table = document.getElementById("devmail-list");
  if (table) {
    liveList(table);
  }
  var frame = document.getElementById("devmail-html");
  if (frame) {
    previewControls(frame);
  }
  var check = document.getElementById("devmail-check-links");
  if (check) {
    linkCheck(check);
  }
})();
