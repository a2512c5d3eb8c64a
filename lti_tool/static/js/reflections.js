/* Reflection answers: save a draft while the learner types, so a closed tab or a failed submit
   loses nothing. Debounced fetch POST to the draft endpoint with the page token in the
   X-Page-Token header (no cookies: the page lives in an LMS iframe); the JSON answer carries the
   "saved at" message for the aria-live status and a fresh page token. Without JavaScript the form
   still works: every submit saves the drafts on the server. */
(function () {
  "use strict";

  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }  // a refused submit: say why first

  var form = document.getElementById("reflections-form");
  if (!form || !window.fetch) { return; }

  var DELAY_MS = 1200;
  var status = document.getElementById("draft-status");
  var tokenInput = form.querySelector('input[name="t"]');
  var url = form.getAttribute("data-draft-url");
  var timers = {};
  var pending = {};
  var WORD = /[\p{L}\p{N}\p{M}]+(?:['\u2019\-][\p{L}\p{N}\p{M}]+)*/gu;

  function say(message) {
    if (status && message) { status.textContent = message; }
  }

  function countWords(text) {
    var found = text.match(WORD);
    return found ? found.length : 0;
  }

  function showCount(textarea) {
    var target = document.getElementById(textarea.getAttribute("data-words"));
    if (!target) { return; }
    var template = form.getAttribute("data-msg-words") || "";
    target.textContent = template
      .replace("%(count)s", String(countWords(textarea.value)))
      .replace("%(min)s", target.getAttribute("data-min") || "");
  }

  function save(textarea, keepalive) {
    var question = textarea.getAttribute("data-question");
    window.clearTimeout(timers[question]);
    delete pending[question];
    say(form.getAttribute("data-msg-saving"));
    return window.fetch(url, {
      method: "POST",
      credentials: "omit",
      keepalive: Boolean(keepalive),
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-Page-Token": tokenInput.value
      },
      body: JSON.stringify({ question: question, text: textarea.value })
    }).then(function (response) {
      if (response.ok) {
        return response.json().then(function (data) {
          if (data.token) { tokenInput.value = data.token; }
          say(data.message);
        });
      }
      pending[question] = textarea;
      say(response.status === 401 || response.status === 403
        ? form.getAttribute("data-msg-expired")
        : form.getAttribute("data-msg-failed"));
      return undefined;
    }).catch(function () {
      pending[question] = textarea;
      say(form.getAttribute("data-msg-failed"));
    });
  }

  function flush(keepalive) {
    Object.keys(pending).forEach(function (question) { save(pending[question], keepalive); });
  }

  Array.prototype.forEach.call(form.querySelectorAll("textarea[data-question]"), function (textarea) {
    textarea.addEventListener("input", function () {
      var question = textarea.getAttribute("data-question");
      showCount(textarea);
      pending[question] = textarea;
      window.clearTimeout(timers[question]);
      timers[question] = window.setTimeout(function () { save(textarea, false); }, DELAY_MS);
    });
    textarea.addEventListener("blur", function () {
      if (pending[textarea.getAttribute("data-question")]) { save(textarea, false); }
    });
  });

  form.addEventListener("submit", function () {
    // The submit itself saves every answer on the server: drop the queued autosaves.
    Object.keys(timers).forEach(function (question) { window.clearTimeout(timers[question]); });
    pending = {};
  });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { flush(true); }
  });
  window.addEventListener("pagehide", function () { flush(true); });
}());
