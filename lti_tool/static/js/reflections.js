/* Reflection answers: nothing the learner types is lost, even in the second before a reload.

   - While typing: a debounced (800 ms) fetch POST of the one answer changed, JSON, page token in the
     X-Page-Token header (no cookies: the page lives in an LMS iframe). The JSON answer carries the
     "saved at" message for the aria-live status, the time the server saved it and a fresh token.
   - On page hide (reload, navigation, tab closed or hidden): navigator.sendBeacon of each answer not
     yet saved, as URLSearchParams (a form body; a beacon cannot set headers, so the token is the
     body's `t`). The browser sends it even as the page goes away.
   - The beacon can reach the server after the reloaded page was served with the older draft. So
     each unsaved text is also kept in this history entry's state (history.replaceState: it
     survives a reload, and unlike sessionStorage it is not blocked in a third-party iframe),
     with the server save it was typed on (`data-saved-at`). On load, a kept text is put back and
     saved when the server has saved nothing for that answer since; otherwise it is dropped (a
     newer save, from a submit or another tab, wins).
   Without JavaScript the form still works: every submit saves the drafts on the server. */
(function () {
  "use strict";

  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }  // a refused submit: say why first

  var form = document.getElementById("reflections-form");
  if (!form) { return; }

  var DELAY_MS = 800;
  var status = document.getElementById("draft-status");
  var tokenInput = form.querySelector('input[name="t"]');
  var url = form.getAttribute("data-draft-url");
  var scope = form.getAttribute("data-draft-scope") || "";
  var textareas = form.querySelectorAll("textarea[data-question]");
  var timers = {};
  var pending = {};
  var WORD = /[\p{L}\p{N}\p{M}]+(?:['\u2019\-][\p{L}\p{N}\p{M}]+)*/gu;

  function say(message) {
    if (status && message) { status.textContent = message; }
  }

  // -- the unsaved copies, in this history entry's state ------------------------------------
  var STATE_EVERY_MS = 200;  // browsers throttle a page that rewrites its history state too often
  var copies = {};
  var stateTimer = null;
  var stateWritten = 0;

  function writeState() {
    window.clearTimeout(stateTimer);
    stateTimer = null;
    stateWritten = Date.now();
    try {
      window.history.replaceState({ reflections: { scope: scope, copies: copies } }, "");
    } catch (e) { /* history state refused: the beacon still carries the text */ }
  }

  function scheduleState() {
    var wait = stateWritten + STATE_EVERY_MS - Date.now();
    if (wait <= 0) { writeState(); } else if (!stateTimer) { stateTimer = window.setTimeout(writeState, wait); }
  }

  function keep(textarea) {
    copies[textarea.getAttribute("data-question")] = {
      text: textarea.value, base: textarea.getAttribute("data-saved-at") || ""
    };
    scheduleState();
  }

  function release(question, text) {
    // Only the text the server confirmed: a newer one typed meanwhile stays kept.
    if (copies[question] && copies[question].text === text) {
      delete copies[question];
      writeState();
    }
  }

  function keptCopies() {
    var state = window.history.state;
    var saved = state && state.reflections;
    return saved && saved.scope === scope && saved.copies ? saved.copies : {};
  }

  // -- word count ------------------------------------------------------------------------------
  function countWords(text) {
    var found = text.match(WORD);
    return found ? found.length : 0;
  }

  function showCount(textarea) {
    var line = document.getElementById(textarea.getAttribute("data-words"));
    if (!line) { return; }
    var target = line.querySelector(".word-count-text") || line;
    var count = countWords(textarea.value);
    var min = parseInt(line.getAttribute("data-min") || "0", 10);
    target.textContent = (form.getAttribute("data-msg-words") || "")
      .replace("%(count)s", String(count))
      .replace("%(min)s", String(min));
    if (count >= min && line.classList.contains("field-error")) {
      // The answer is now long enough: the line is a count again, no longer an error.
      line.classList.remove("field-error");
      var label = line.querySelector(".error-label");
      if (label) { label.parentNode.removeChild(label); }
      textarea.removeAttribute("aria-invalid");
    }
  }

  // -- saving ----------------------------------------------------------------------------------
  function save(textarea) {
    var question = textarea.getAttribute("data-question");
    var text = textarea.value;
    window.clearTimeout(timers[question]);
    delete pending[question];
    if (!window.fetch) { pending[question] = textarea; return undefined; }
    say(form.getAttribute("data-msg-saving"));
    return window.fetch(url, {
      method: "POST",
      credentials: "omit",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-Page-Token": tokenInput.value
      },
      body: JSON.stringify({ question: question, text: text })
    }).then(function (response) {
      if (response.ok) {
        return response.json().then(function (data) {
          if (data.token) { tokenInput.value = data.token; }
          if (data.saved_at) { textarea.setAttribute("data-saved-at", data.saved_at); }
          release(question, text);
          say(data.message);
        });
      }
      if (textarea.value === text) { pending[question] = textarea; }
      say(response.status === 401 || response.status === 403
        ? form.getAttribute("data-msg-expired")
        : form.getAttribute("data-msg-failed"));
      return undefined;
    }).catch(function () {
      if (textarea.value === text) { pending[question] = textarea; }
      say(form.getAttribute("data-msg-failed"));
    });
  }

  function beacon(textarea) {
    var question = textarea.getAttribute("data-question");
    var body = new URLSearchParams();
    body.set("t", tokenInput.value);
    body.set("question", question);
    body.set("text", textarea.value);
    window.clearTimeout(timers[question]);
    // false: the browser's beacon quota is full; the copy in the history state is put back on load.
    if (navigator.sendBeacon && navigator.sendBeacon(url, body)) { delete pending[question]; }
  }

  function flushOnHide() {
    if (stateTimer) { writeState(); }
    Object.keys(pending).forEach(function (question) { beacon(pending[question]); });
  }

  function changed(textarea) {
    var question = textarea.getAttribute("data-question");
    showCount(textarea);
    keep(textarea);
    pending[question] = textarea;
    window.clearTimeout(timers[question]);
    timers[question] = window.setTimeout(function () { save(textarea); }, DELAY_MS);
  }

  var kept = keptCopies();
  Array.prototype.forEach.call(textareas, function (textarea) {
    var question = textarea.getAttribute("data-question");
    var copy = kept[question];
    if (copy && typeof copy.text === "string" && copy.text !== textarea.value
        && copy.base === (textarea.getAttribute("data-saved-at") || "")) {
      // Typed here just before the page went away and not on the server yet: put it back.
      textarea.value = copy.text;
      changed(textarea);
    }
    textarea.addEventListener("input", function () { changed(textarea); });
    textarea.addEventListener("blur", function () {
      if (pending[question]) { save(textarea); }
    });
  });

  if (Object.keys(kept).length && !Object.keys(copies).length) { writeState(); }  // drop stale ones

  form.addEventListener("submit", function () {
    // The submit itself saves every answer on the server: drop the queued autosaves. The copies
    // stay in this entry's state; the submit's save is newer than their base, so they are never
    // put back over it.
    Object.keys(timers).forEach(function (question) { window.clearTimeout(timers[question]); });
    pending = {};
  });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { flushOnHide(); }
  });
  window.addEventListener("pagehide", flushOnHide);
}());
