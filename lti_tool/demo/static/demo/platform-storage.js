// LTI Platform Storage, platform side (https://www.imsglobal.org/spec/lti-cs-pm/v0p1 and
// https://www.imsglobal.org/spec/lti-pm-s/v0p1). The page holding the tool frame answers
// lti.capabilities, lti.put_data and lti.get_data sent by that frame only. Values live in this
// page's memory, keyed by the sender's origin and the key; each reply goes to the sender's
// origin only. The older "org.imsglobal." prefixed subjects are answered too.
(function () {
  "use strict";
  // In the course page itself (target "_parent"), or in a hidden named frame of that page.
  var host = document.getElementById("tool-frame") ? document : null;
  if (!host && window.parent !== window) {
    try { host = window.parent.document; } catch (e) { host = null; }
  }
  var frame = host && host.getElementById("tool-frame");
  if (!frame) { return; }
  var target = frame.getAttribute("data-storage-target") || "_parent";
  var store = new Map();
  var PREFIX = "org.imsglobal.";

  function baseSubject(subject) {
    return subject.indexOf(PREFIX) === 0 ? subject.slice(PREFIX.length) : subject;
  }

  function storageKey(origin, key) { return JSON.stringify([origin, key]); }

  function reply(event, message) {
    event.source.postMessage(message, event.origin);
  }

  function fail(event, data, code, text) {
    reply(event, {
      subject: data.subject + ".response",
      message_id: data.message_id,
      error: { code: code, message: text }
    });
  }

  window.addEventListener("message", function (event) {
    if (event.source !== frame.contentWindow) { return; }  // only the tool's frame
    if (!event.origin || event.origin === "null") { return; }  // an opaque origin owns no data
    var data = event.data;
    if (!data || typeof data !== "object" || typeof data.subject !== "string") { return; }
    var subject = baseSubject(data.subject);
    if (subject.slice(-9) === ".response") { return; }
    if (subject.indexOf("lti.") !== 0) { return; }
    if (typeof data.message_id !== "string" && typeof data.message_id !== "number") {
      fail(event, data, "bad_request", "message_id is required");
      return;
    }
    var response = { subject: data.subject + ".response", message_id: data.message_id };
    if (subject === "lti.capabilities") {
      response.supported_messages = [
        { subject: "lti.capabilities" },
        { subject: "lti.put_data", frame: target },
        { subject: "lti.get_data", frame: target }
      ];
    } else if (subject === "lti.put_data" || subject === "lti.get_data") {
      if (typeof data.key !== "string" || data.key === "") {
        fail(event, data, "bad_request", "key is required");
        return;
      }
      var k = storageKey(event.origin, data.key);
      if (subject === "lti.put_data") {
        if (!Object.prototype.hasOwnProperty.call(data, "value")) {
          fail(event, data, "bad_request", "value is required");
          return;
        }
        store.set(k, data.value);
      }
      response.key = data.key;
      response.value = store.has(k) ? store.get(k) : null;
    } else {
      fail(event, data, "unsupported_subject", "unsupported subject " + data.subject);
      return;
    }
    reply(event, response);
  });
})();
