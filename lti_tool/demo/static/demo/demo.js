// Demo course page: carry the chosen launch language into each launch form, refresh the grades.
(function () {
  "use strict";
  var locale = document.getElementById("launch-locale");
  document.querySelectorAll("form.launch-form").forEach(function (form) {
    form.addEventListener("submit", function () {
      if (locale && form.elements.locale) { form.elements.locale.value = locale.value; }
      var frame = document.getElementById("tool-frame");
      // An instant jump: a smooth scroll moves the frame under the pointer for half a second after
      // the launch, and a click in the tool during it lands elsewhere (seen in the browser tests).
      if (frame) { frame.scrollIntoView({ block: "start" }); }
    });
  });
  var refresh = document.getElementById("refresh-grades");
  var grades = document.getElementById("grades");
  if (refresh && grades) {
    refresh.addEventListener("click", function () {
      fetch(refresh.getAttribute("data-url"), { credentials: "same-origin" })
        .then(function (resp) { return resp.ok ? resp.text() : Promise.reject(resp.status); })
        .then(function (html) { grades.innerHTML = html; })
        .catch(function () { window.location.reload(); });
    });
  }
})();
