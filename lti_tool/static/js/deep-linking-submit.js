/* Deep Linking 2.0 §4.2: the response is an auto-submitted form POST of the signed JWT to the
   platform's deep_link_return_url. The page keeps a visible submit button for when scripts are off. */
(function () {
  "use strict";
  var form = document.getElementById("dl-response");
  if (form) { form.submit(); }
}());
