// The debugger's CIBA page: polls the token endpoint through the debugger every second and
// shows the answer (authorization_pending, slow_down, access_denied, expired_token, tokens).
(function () {
  var status = document.getElementById("ciba-status");
  if (!status) { return; }
  var last = document.getElementById("ciba-last");
  var body = new URLSearchParams({ csrf_token: status.getAttribute("data-csrf") });
  function poll() {
    fetch(status.getAttribute("data-poll-url"), {
      method: "POST", body: body, credentials: "same-origin", cache: "no-store"
    })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        last.textContent = JSON.stringify(answer.body, null, 2);
        if (answer.result_url) {
          status.textContent = "approved";
          var link = document.getElementById("ciba-result-link");
          link.setAttribute("href", answer.result_url);
          document.getElementById("ciba-result").hidden = false;
          return;
        }
        var error = answer.body && answer.body.error;
        status.textContent = error || ("HTTP " + answer.status);
        if (error === "authorization_pending" || error === "slow_down") {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  poll();
})();
