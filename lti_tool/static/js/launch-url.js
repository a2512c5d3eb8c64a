// The first page arrives in the answer to the platform's form post (/lti/launch): replace that
// history entry with the page's own URL, so a refresh or Back-then-Forward asks the page again
// (GET) instead of posting the id_token a second time (which the tool would refuse: its nonce
// is used). Without JavaScript the browser asks before re-posting.
(function () {
  "use strict";
  var script = document.currentScript;
  var url = script && script.getAttribute("data-url");
  if (url && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", url);
  }
})();
