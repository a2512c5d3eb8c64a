/* Deep Linking 2.0 §4.2: the response is an auto-submitted form POST of the signed JWT to the
   platform's deep_link_return_url. The page keeps a visible submit button for when scripts are off.
   The request is answered once on the server (deep_linking.py); the button is disabled once the
   form is on its way so a second click does not post the same response to the platform again. */
(function () {
  "use strict";
  var form = document.getElementById("dl-response");
  if (!form) { return; }
  var sent = false;
  form.addEventListener("submit", function (event) {
    if (sent) { event.preventDefault(); return; }
    sent = true;
    var button = form.querySelector("button[type='submit']");
    // Disabled after this turn: a button disabled during its own submit event would still post.
    if (button) { window.setTimeout(function () { button.disabled = true; }, 0); }
  });
  if (form.requestSubmit) { form.requestSubmit(); } else { sent = true; form.submit(); }
}());
