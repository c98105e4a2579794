// keycloak-js's check of third-party cookies, step 1 (docs/reference/keycloak-behaviour.md,
// "Session status iframe"): in the relying party's hidden iframe, write two test cookies
// (one SameSite=None; Secure, one default) and go on to step 2, which reads them; or, without
// access to this site's storage, tell the page "unsupported" at once.
(function () {
  "use strict";
  function tell(supported) {
    window.parent.postMessage(supported ? "supported" : "unsupported", "*");
  }
  var access = "hasStorageAccess" in document ? document.hasStorageAccess() : Promise.resolve(true);
  access.then(function (granted) {
    if (!granted) { tell(false); return; }
    document.cookie = "santeid_3p_cookie_samesite=supported; Max-Age=60; SameSite=None; Secure";
    document.cookie = "santeid_3p_cookie=supported; Max-Age=60";
    window.location.replace("step2.html");
  }, function () { tell(false); });
})();
