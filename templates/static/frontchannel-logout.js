// Continues to the service's post_logout_redirect_uri once every front-channel logout
// iframe has loaded (or after 5 s if one never answers), as Keycloak's logout page does.
(function () {
  var box = document.getElementById("frontchannel-logout");
  if (!box) { return; }
  var target = box.getAttribute("data-continue-url");
  if (!target) { return; }
  var frames = box.querySelectorAll("iframe");
  var pending = frames.length;
  var done = false;
  function go() { if (!done) { done = true; window.location.assign(target); } }
  Array.prototype.forEach.call(frames, function (frame) {
    frame.addEventListener("load", function () { pending -= 1; if (pending <= 0) { go(); } });
  });
  if (pending === 0) { go(); }
  window.setTimeout(go, 5000);
})();
