// Posts the id_token form to the tool at once (LTI Core 1.3 §5.1.1.6: form_post response mode).
(function () {
  "use strict";
  var form = document.getElementById("lti-autosubmit");
  if (form) { form.submit(); }
})();
