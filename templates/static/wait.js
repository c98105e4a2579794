// Polls the login transaction and continues to the service once approved. While an e-CPS
// request waits, counts its remaining time down and says when the phone reported a wrong PIN.
(function () {
  var status = document.getElementById("login-status");
  if (!status) { return; }
  var statusUrl = status.getAttribute("data-status-url");
  var completeUrl = status.getAttribute("data-complete-url");
  var countdown = document.getElementById("wait-countdown");
  var phone = document.getElementById("phone-status");
  var deadline = null;
  if (countdown) {
    deadline = Date.now() + (parseInt(countdown.getAttribute("data-remaining"), 10) || 0) * 1000;
    window.setInterval(function () {
      var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      countdown.textContent = countdown.getAttribute("data-template").replace("{seconds}", String(left));
    }, 1000);
  }
  function poll() {
    fetch(statusUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : { state: "error" }; })
      .then(function (body) {
        if (body.state === "approved" || body.state === "done") {
          status.textContent = status.getAttribute("data-approved-text");
          window.location.assign(completeUrl);
        } else if (body.state === "waiting") {
          if (countdown && typeof body.expires_in === "number") {
            deadline = Date.now() + body.expires_in * 1000;
          }
          if (phone && body.phone === "wrong_pin") {
            var text = phone.getAttribute("data-wrong-pin").replace("{remaining}", String(body.remaining_attempts));
            if (phone.textContent !== text) { phone.textContent = text; }
          }
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
