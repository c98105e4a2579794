// Keycloak's authChecker.js (checkCookiesAndSetTimer) on santeid's login pages: a page shown
// while the browser had no SSO session reloads once another tab logged in (the session-status
// cookie appears), and the server then answers the service from that session when it can
// (docs/reference/keycloak-behaviour.md, "Login pages: two tabs, browser buttons, KC_RESTART").
(function () {
  var NAME = "santeid_session_state";
  function present() {
    return document.cookie.split(";").some(function (cookie) {
      return cookie.trim().indexOf(NAME + "=") === 0;
    });
  }
  if (present()) { return; }  // a session already: nothing another tab could change
  var timer = null;
  function check() {
    if (present()) { window.location.reload(); } else { timer = window.setTimeout(check, 2000); }
  }
  // Not while this page is being left (a form sent, the login ended here).
  window.addEventListener("beforeunload", function () { window.clearTimeout(timer); });
  timer = window.setTimeout(check, 2000);
})();
