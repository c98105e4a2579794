// keycloak-js's check of third-party cookies, step 2: the cookies step 1 wrote are there if the
// browser lets this site keep cookies inside another site's page; removed, and the page told.
(function () {
  "use strict";
  var supported = document.cookie.indexOf("santeid_3p_cookie") !== -1;
  if (supported) {
    document.cookie = "santeid_3p_cookie_samesite=; Max-Age=0; SameSite=None; Secure";
    document.cookie = "santeid_3p_cookie=; Max-Age=0";
  }
  window.parent.postMessage(supported ? "supported" : "unsupported", "*");
})();
