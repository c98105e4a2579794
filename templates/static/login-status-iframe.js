// The OP iframe of OpenID Connect Session Management 1.0 §3.2
// (https://openid.net/specs/openid-connect-session-1_0.html#OPiframe), answering as Keycloak's
// login-status-iframe.html (docs/reference/keycloak-behaviour.md, "Session status iframe").
// The relying party's page posts "<client_id> <session_state>"; the answer, posted back to its
// origin, is "unchanged", "changed" or "error". The first message is checked by the server
// (…/login-status-iframe.html/init: the client exists and the page's origin is one of its web
// origins); later ones must come from that same client and origin. The browser's SSO session
// is read from the santeid_session_state cookie: the SHA-256 (base64url) of its session_state.
(function () {
  "use strict";
  var COOKIE = "santeid_session_state";
  var accepted = null; // {clientId, origin} once the server has accepted them
  var askedServer = false; // the server is asked once: a page cannot make the iframe call it

  function cookie(name) {
    var pairs = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < pairs.length; i += 1) {
      var pair = pairs[i].trim();
      var cut = pair.indexOf("=");
      if (cut > 0 && pair.slice(0, cut) === name) {
        var value = pair.slice(cut + 1);
        return value.length > 1 && value[0] === '"' && value[value.length - 1] === '"'
          ? value.slice(1, -1)
          : value;
      }
    }
    return null;
  }

  function digest(text) {
    return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)).then(function (hash) {
      var bytes = new Uint8Array(hash);
      var binary = "";
      for (var i = 0; i < bytes.length; i += 1) { binary += String.fromCharCode(bytes[i]); }
      return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    });
  }

  // Storage Access API (https://privacycg.github.io/storage-access/): without access to its
  // cookies the iframe cannot tell, and says "error".
  function storageAccess() {
    if (!("hasStorageAccess" in document)) { return Promise.resolve(true); }
    return document.hasStorageAccess().then(function (granted) {
      if (granted) { return true; }
      return document.requestStorageAccess().then(
        function () { return true; },
        function () { return false; }
      );
    });
  }

  function askServer(clientId, origin) {
    var url = new URL(location.origin + location.pathname + "/init");
    url.searchParams.set("client_id", clientId);
    url.searchParams.set("origin", origin);
    return fetch(url, { credentials: "omit" }).then(function (answer) { return answer.ok; });
  }

  function status(clientId, origin, sessionState) {
    return storageAccess().then(function (granted) {
      if (!granted) { return "error"; }
      var checked = Promise.resolve(true);
      if (accepted === null) {
        if (askedServer) { return "error"; }
        askedServer = true;
        checked = askServer(clientId, origin).then(function (ok) {
          if (ok) { accepted = { clientId: clientId, origin: origin }; }
          return ok;
        });
      }
      return checked.then(function (ok) {
        if (!ok) { return "error"; }
        // Before the cookie is read (Keycloak reads it first): any page may post to this
        // frame of a relying party's window, and an answer to a page of another origin would
        // tell it whether the browser is logged in (Session Management §3.2: "It MUST reject
        // postMessage requests from any other source origin").
        if (clientId !== accepted.clientId || origin !== accepted.origin) { return "error"; }
        var held = cookie(COOKIE);
        if (!held) { return sessionState !== "" ? "changed" : "unchanged"; }
        return digest(sessionState).then(function (hash) {
          return hash === held ? "unchanged" : "changed";
        });
      });
    });
  }

  window.addEventListener("message", function (event) {
    if (typeof event.data !== "string") { return; }
    var parts = event.data.split(" ");
    if (parts.length !== 2) { return; }
    var source = event.source;
    var origin = event.origin;
    status(parts[0], origin, parts[1])
      .catch(function () { return "error"; })
      .then(function (answer) {
        if (source) { source.postMessage(answer, origin); }
      });
  });
})();
