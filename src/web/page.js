"use strict";
// Relative URLs only: under the ingress prefix they stay under it.
(function () {
  var panel = document.getElementById("panel");
  var button = document.getElementById("test");
  var result = document.getElementById("test-result");
  function refresh() {
    if (document.hidden) return;
    fetch("panel", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html) panel.innerHTML = html; })
      .catch(function () {});
  }
  setInterval(refresh, 30000);
  button.addEventListener("click", function () {
    button.disabled = true;
    result.textContent = button.dataset.busy;
    fetch("check", { method: "POST" })
      .then(function (r) { return r.text(); })
      .then(function (html) { result.innerHTML = html; })
      .catch(function (e) { result.textContent = String(e); })
      .then(function () { button.disabled = false; });
  });
})();
