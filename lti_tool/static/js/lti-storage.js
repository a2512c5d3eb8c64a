/* LTI Platform Storage (https://www.imsglobal.org/spec/lti-pm-s/v0p1) over the LTI client-side
   postMessage API (https://www.imsglobal.org/spec/lti-cs-pm/v0p1), used when the platform offers
   `lti_storage_target` and the browser may block the tool's cookies in the LMS iframe.
   The page carries its parameters in data- attributes of #lti-storage; no inline script. */
(function () {
  "use strict";
  var TIMEOUT_MS = 3000;

  function targetWindow(name) {
    if (!window.parent || window.parent === window) { return null; }
    if (name === "_parent") { return window.parent; }
    try { return window.parent.frames[name] || null; } catch (e) { return null; }
  }

  function send(cfg, message) {
    return new Promise(function (resolve, reject) {
      var win = targetWindow(cfg.target);
      if (!win) { reject(new Error("no storage frame")); return; }
      var id = message.subject + "-" + Math.random().toString(36).slice(2);
      message.message_id = id;
      var timer = setTimeout(function () {
        window.removeEventListener("message", onMessage);
        reject(new Error("timeout"));
      }, TIMEOUT_MS);
      function onMessage(event) {
        if (cfg.origin !== "*" && event.origin !== cfg.origin) { return; }
        var data = event.data || {};
        if (data.message_id !== id || data.subject !== message.subject + ".response") { return; }
        clearTimeout(timer);
        window.removeEventListener("message", onMessage);
        if (data.error) { reject(new Error(data.error.code || "error")); } else { resolve(data); }
      }
      window.addEventListener("message", onMessage);
      win.postMessage(message, cfg.origin);
    });
  }

  function showFailure() {
    var box = document.getElementById("lti-storage-failed");
    var waiting = document.getElementById("lti-storage-waiting");
    if (waiting) { waiting.hidden = true; }
    if (box) { box.hidden = false; box.focus(); }
  }

  var el = document.getElementById("lti-storage");
  if (!el) { return; }
  var cfg = { target: el.dataset.target, origin: el.dataset.origin, key: el.dataset.key };

  if (el.dataset.mode === "put") {
    // Login: store the per-login secret, then go on to the platform's authorization endpoint.
    // If the platform does not answer, go on anyway: the partitioned cookie may still work.
    var go = function () { window.location.replace(el.dataset.next); };
    send(cfg, { subject: "lti.put_data", key: cfg.key, value: el.dataset.value }).then(go, go);
  } else {
    // Launch without the cookie: read the secret back and complete the launch with it.
    send(cfg, { subject: "lti.get_data", key: cfg.key }).then(function (data) {
      if (!data.value) { showFailure(); return; }
      var form = document.getElementById("lti-storage-form");
      form.elements[el.dataset.field].value = data.value;
      form.submit();
    }, showFailure);
  }
})();
