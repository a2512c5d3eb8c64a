/* LTI Dynamic Registration 1.0 §3.6 (https://www.imsglobal.org/spec/lti-dr/v1p0#step-4-registration-completed-and-activation):
   the registration window tells the platform it is done with {subject: "org.imsglobal.lti.close"},
   posted to window.opener (a popup) or window.parent (an iframe), targetOrigin "*" as the spec says
   (the message carries nothing secret). Bound to buttons marked data-lti-close; a button with
   data-lti-close-auto="<ms>" also sends it by itself after that delay. No inline script (CSP). */
(function () {
  "use strict";
  var sent = false;

  function close() {
    if (sent) { return; }
    sent = true;
    var target = window.opener || (window.parent !== window ? window.parent : null);
    if (target) {
      target.postMessage({ subject: "org.imsglobal.lti.close" }, "*");
    } else {
      var note = document.getElementById("lti-close-fallback");
      if (note) { note.hidden = false; }
    }
  }

  var buttons = document.querySelectorAll("[data-lti-close]");
  Array.prototype.forEach.call(buttons, function (button) {
    button.addEventListener("click", close);
    var delay = parseInt(button.getAttribute("data-lti-close-auto") || "", 10);
    if (delay > 0) { setTimeout(close, delay); }
  });
}());
