// Countdown of the e-CPS activation QR code (docs/reference/pro-sante-connect.md §13: valid
// 90 s). The visible counter ticks every second; the polite live region speaks only at a few
// thresholds, so screen readers are not interrupted each second. At zero the QR code and codes
// are hidden.
(function () {
  var box = document.getElementById("activation-countdown");
  var visible = document.getElementById("activation-countdown-visible");
  var live = document.getElementById("activation-countdown-live");
  var qr = document.getElementById("activation-qr");
  if (!box || !visible || !live) { return; }
  // One visible sentence: the ticking counter; the live region stays for screen readers.
  box.hidden = false;
  live.classList.add("visually-hidden");
  var remaining = parseInt(box.getAttribute("data-remaining"), 10) || 0;
  // Relative to this page's clock: the server's and the browser's clocks may differ.
  var deadline = Date.now() + remaining * 1000;
  var template = box.getAttribute("data-template");
  var expiredText = box.getAttribute("data-expired-text");
  var announced = {};
  var thresholds = [60, 30, 10];
  function tick() {
    var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    if (left === 0) {
      visible.textContent = expiredText;
      live.textContent = expiredText;
      if (qr) { qr.hidden = true; }
      return;
    }
    var text = template.replace("{seconds}", String(left));
    visible.textContent = text;
    for (var i = 0; i < thresholds.length; i++) {
      if (left <= thresholds[i] && !announced[thresholds[i]] && remaining > thresholds[i]) {
        announced[thresholds[i]] = true;
        live.textContent = text;
      }
    }
    window.setTimeout(tick, 1000);
  }
  tick();
})();
