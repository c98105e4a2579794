// Polls the login transaction and continues to the service once approved.
(function () {
  var status = document.getElementById("login-status");
  if (!status) { return; }
  var statusUrl = status.getAttribute("data-status-url");
  var completeUrl = status.getAttribute("data-complete-url");
  function poll() {
    fetch(statusUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : { state: "error" }; })
      .then(function (body) {
        if (body.state === "approved" || body.state === "done") {
          status.textContent = status.getAttribute("data-approved-text");
          window.location.assign(completeUrl);
        } else if (body.state === "waiting") {
          window.setTimeout(poll, 1000);
        } else {
          // failed (denied, wrong code, expiry…) or back to the form: the page explains.
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  poll();
})();
