// The e-CPS app (docs/ecps-app.md): a client of the device protocol (docs/ecps-device-protocol.md),
// like the simulator. The P-256 key is made here with WebCrypto, non-extractable, and kept in
// IndexedDB; the offline-code secret is kept there only masked with a key derived from the PIN
// (docs/ecps-app.md, "Security"). Device tokens and decisions are ES256 JWTs (RFC 7515, RFC 7518
// §3.4) signed here: WebCrypto's ECDSA signature is r || s (IEEE P1363), which is exactly what
// JWS ES256 wants.
"use strict";

(function () {
  const API = new URL("../device/", location.href).pathname.replace(/\/$/, ""); // /ecps/device
  const TOKEN_LIFETIME = 30; // s; the server accepts up to 60
  const LONG_POLL = 25; // s
  const CALL_TIMEOUT = 15; // s: a call (a decision, a registration…) that takes longer has failed
  const POLL_TIMEOUT = LONG_POLL + 10; // s: the long poll answers within LONG_POLL
  const RETRY_DELAY = 3; // s between two failed polls, unless the server says (Retry-After)
  const HISTORY_SIZE = 10;
  // PBKDF2-HMAC-SHA-256 iterations of the PIN's mask of the offline-code secret: OWASP's
  // figure for PBKDF2-HMAC-SHA-256 (Password Storage Cheat Sheet,
  // https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#pbkdf2).
  const PIN_MASK_ITERATIONS = 600000;
  // An e-CPS activated before the PIN's mask holds a non-extractable HMAC key, which cannot be
  // read to be masked: its codes of the next 180 days are computed instead, and masked.
  const LEGACY_STEPS = 180 * 24 * 3600 / 30;

  // -- texts (French by default, English on request) -------------------------------------------
  const TEXTS = {
    fr: {
      skip: "Aller au contenu", loading: "Chargement…", other_lang: "English",
      tab_requests: "Demandes", tab_offline: "Code hors connexion", tab_me: "Mon e-CPS",
      activate_title: "Activer votre e-CPS",
      activate_intro: "Scannez le QR code de la page d'activation avec l'appareil photo du téléphone, ou saisissez le code d'activation affiché sous le QR code.",
      activate_replace: "Cette application porte déjà une e-CPS. L'activer de nouveau remplacera l'e-CPS de ce téléphone, qui sera révoquée.",
      activate_pending: "Une demande de connexion de {service} attend : « Retour » pour y répondre.",
      replace_confirm: "Ce téléphone porte l'e-CPS de {who}. La remplacer ? L'e-CPS actuelle de ce téléphone sera révoquée.",
      code_label: "Code d'activation", code_help: "Valable 90 secondes, une seule fois.",
      name_label: "Nom de ce téléphone", name_default: "Mon téléphone",
      scan: "Scanner le QR code", scan_stop: "Arrêter la caméra", scan_hint: "Cadrez le QR code de la page d'activation.",
      scan_failed: "La caméra n'est pas disponible. Saisissez le code d'activation.",
      scan_not_link: "Ce QR code n'est pas un QR code d'activation e-CPS.",
      next: "Continuer", cancel: "Annuler", back: "Retour",
      code_missing: "Saisissez le code d'activation.",
      pin_title: "Choisissez votre code PIN e-CPS",
      pin_intro: "Il vous sera demandé pour chaque connexion. 4 à 8 chiffres ; ne le communiquez à personne.",
      pin_label: "Code PIN", pin_again_label: "Confirmez le code PIN",
      pin_format: "Le code PIN doit compter de 4 à 8 chiffres.", pin_mismatch: "Les deux codes PIN sont différents.",
      activate_button: "Activer", activating: "Activation en cours…",
      activated: "Votre e-CPS est activée.",
      err_invalid_activation_code: "Code d'activation inconnu ou expiré. Recommencez l'activation pour obtenir un nouveau QR code.",
      err_activation_code_used: "Ce code d'activation a déjà servi. Recommencez l'activation.",
      err_professional_inactive: "Votre compte n'est plus actif dans l'annuaire.",
      err_invalid_pin: "Le code PIN doit compter de 4 à 8 chiffres.",
      err_network: "Hors ligne : vérifiez la connexion du téléphone, puis réessayez.",
      err_unreachable: "Le service est injoignable pour le moment. Réessayez dans quelques instants.",
      err_temporarily_unavailable: "Le service est momentanément indisponible. Réessayez dans quelques instants.",
      err_too_many_waits: "L'application est ouverte trop de fois sur ce téléphone. Fermez ses autres fenêtres ou onglets.",
      err_server: "Le serveur a rencontré une erreur. Réessayez dans quelques instants.",
      err_clock: "L'heure de ce téléphone est fausse : vérifiez sa date et son heure (réglage automatique), puis réessayez.",
      err_other: "L'opération a échoué ({code}).",
      home_title: "Demandes de connexion",
      home_waiting: "En attente de demandes. Gardez l'application ouverte, ou activez les notifications.",
      home_none: "Aucune demande en attente.",
      notifications_enable: "Activer les notifications", notifications_on: "Notifications activées.",
      notifications_denied: "Les notifications sont refusées pour ce site.",
      notifications_failed: "Les notifications n'ont pas pu être activées. Gardez l'application ouverte pour recevoir les demandes.",
      notifications_unavailable: "Ce serveur n'envoie pas de notifications : gardez l'application ouverte pour recevoir les demandes.",
      new_request: "Nouvelle demande de connexion de {service}.",
      kind_browser: "Connexion dans un navigateur", kind_ciba: "Demande d'un service (sans navigateur)",
      client_id: "Identifiant du service : {id}", requested_from: "Adresse du navigateur : {address}",
      received_at: "Reçue à {time}", expires_in: "Expire dans {seconds} s", expired: "Expirée",
      binding_label: "Message du service :", answer: "Répondre",
      request_title: "Connexion à {service}",
      enter_pin: "Saisissez votre code PIN e-CPS, puis validez ou refusez.",
      pin_digits: "{count} chiffre(s) saisi(s)", pad_label: "Clavier du code PIN", erase: "Effacer",
      approve: "Valider", deny: "Refuser",
      choose_code: "Choisissez le code affiché sur la page de connexion.",
      candidates_label: "Codes proposés", code_button: "Code {code}",
      sending: "Envoi…",
      result_approved: "Connexion validée. Vous pouvez revenir à la page de connexion.",
      result_denied: "Connexion refusée.",
      result_wrong_code: "Ce n'est pas le code affiché sur la page de connexion : la connexion a échoué. Recommencez depuis la page de connexion.",
      result_gone: "Cette demande n'est plus en attente (déjà traitée, annulée ou expirée).",
      wrong_pin: "Code PIN erroné. Essais restants : {remaining}.",
      locked_title: "e-CPS bloquée",
      locked_text: "Trois codes PIN erronés ont bloqué cette e-CPS. Comme une carte CPS bloquée, elle ne se débloque pas : activez une nouvelle e-CPS sur la page d'activation, puis scannez son QR code.",
      revoked_title: "e-CPS révoquée",
      revoked_text: "Cette e-CPS a été révoquée. Activez une nouvelle e-CPS sur la page d'activation, puis scannez son QR code.",
      activation_page: "Ouvrir la page d'activation", activate_again: "Activer une nouvelle e-CPS ici",
      offline_title: "Code hors connexion",
      offline_intro: "Pas de réseau sur le téléphone ? Sur la page de connexion, choisissez « Pas de réseau sur le téléphone ? » et saisissez ce code.",
      offline_code_label: "Code actuel", offline_left: "Nouveau code dans {seconds} s",
      offline_pin_intro: "Saisissez votre code PIN e-CPS pour afficher le code.", offline_show: "Afficher le code",
      offline_hide: "Masquer le code",
      offline_clock: "L'heure de ce téléphone est décalée de {amount} : le code suit l'heure du serveur. Réglez la date et l'heure du téléphone (réglage automatique).",
      offline_legacy: "Le code hors connexion de cette e-CPS n'est pas encore protégé par le code PIN : il le sera dès votre prochaine réponse à une demande de connexion.",
      offline_until: "Ce code hors connexion est disponible jusqu'au {date} ; activez ensuite une nouvelle e-CPS.",
      offline_expired: "Le code hors connexion de cette e-CPS n'est plus disponible : activez une nouvelle e-CPS.",
      me_title: "Mon e-CPS", me_identity: "Titulaire", me_national_id: "Identifiant national",
      me_device: "Ce téléphone", me_state: "État", me_created: "Activée le", me_attempts: "Essais de PIN restants",
      state_active: "active", state_locked: "bloquée", state_revoked: "révoquée", state_unknown: "inconnue (hors ligne)",
      state_unreachable: "inconnue (service injoignable)",
      me_history: "Dernières validations", me_history_empty: "Aucune validation sur ce téléphone.",
      h_approved: "validée", h_denied: "refusée", h_failed: "échouée",
      revoke: "Révoquer cette e-CPS",
      revoke_confirm: "Révoquer l'e-CPS de ce téléphone ? Il ne pourra plus valider de connexion ; il faudra activer une nouvelle e-CPS.",
      revoked_done: "L'e-CPS de ce téléphone est révoquée.",
      offline_banner: "Hors ligne : les demandes ne peuvent pas arriver. Le code hors connexion reste disponible.",
      unavailable_banner: "Service momentanément indisponible : les demandes arriveront dès son retour. Le code hors connexion reste disponible.",
      unreachable_banner: "Service injoignable pour le moment : les demandes arriveront dès son retour. Le code hors connexion reste disponible.",
      unsupported: "Ce navigateur ne permet pas de créer une e-CPS (WebCrypto et IndexedDB sont nécessaires, dans un contexte sécurisé : https:// ou http://localhost).",
    },
    en: {
      skip: "Skip to content", loading: "Loading…", other_lang: "Français",
      tab_requests: "Requests", tab_offline: "Offline code", tab_me: "My e-CPS",
      activate_title: "Activate your e-CPS",
      activate_intro: "Scan the activation page's QR code with the phone's camera, or type the activation code shown under the QR code.",
      activate_replace: "This app already holds an e-CPS. Activating again replaces this phone's e-CPS, which is then revoked.",
      activate_pending: "A login request from {service} is waiting: “Back” to answer it.",
      replace_confirm: "This phone holds the e-CPS of {who}. Replace it? This phone's current e-CPS will be revoked.",
      code_label: "Activation code", code_help: "Valid 90 seconds, once.",
      name_label: "Name of this phone", name_default: "My phone",
      scan: "Scan the QR code", scan_stop: "Stop the camera", scan_hint: "Point the camera at the activation page's QR code.",
      scan_failed: "The camera is not available. Type the activation code.",
      scan_not_link: "This QR code is not an e-CPS activation QR code.",
      next: "Continue", cancel: "Cancel", back: "Back",
      code_missing: "Type the activation code.",
      pin_title: "Choose your e-CPS PIN",
      pin_intro: "You will type it for every login. 4 to 8 digits; never tell anyone.",
      pin_label: "PIN", pin_again_label: "Confirm the PIN",
      pin_format: "The PIN must be 4 to 8 digits.", pin_mismatch: "The two PINs differ.",
      activate_button: "Activate", activating: "Activating…",
      activated: "Your e-CPS is active.",
      err_invalid_activation_code: "Unknown or expired activation code. Start the activation again for a new QR code.",
      err_activation_code_used: "This activation code has already been used. Start the activation again.",
      err_professional_inactive: "Your account is no longer active in the directory.",
      err_invalid_pin: "The PIN must be 4 to 8 digits.",
      err_network: "Offline: check the phone's connection, then try again.",
      err_unreachable: "The service cannot be reached right now. Try again in a moment.",
      err_temporarily_unavailable: "The service is temporarily unavailable. Try again in a moment.",
      err_too_many_waits: "The app is open too many times on this phone. Close its other windows or tabs.",
      err_server: "The server ran into an error. Try again in a moment.",
      err_clock: "This phone's clock is wrong: check its date and time (set automatically), then try again.",
      err_other: "The operation failed ({code}).",
      home_title: "Login requests",
      home_waiting: "Waiting for requests. Keep the app open, or turn notifications on.",
      home_none: "No pending request.",
      notifications_enable: "Turn notifications on", notifications_on: "Notifications are on.",
      notifications_denied: "Notifications are blocked for this site.",
      notifications_failed: "Notifications could not be turned on. Keep the app open to receive requests.",
      notifications_unavailable: "This server sends no notifications: keep the app open to receive requests.",
      new_request: "New login request from {service}.",
      kind_browser: "Login in a browser", kind_ciba: "Request from a service (no browser)",
      client_id: "Service identifier: {id}", requested_from: "Browser's address: {address}",
      received_at: "Received at {time}", expires_in: "Expires in {seconds} s", expired: "Expired",
      binding_label: "Message from the service:", answer: "Answer",
      request_title: "Login to {service}",
      enter_pin: "Type your e-CPS PIN, then approve or deny.",
      pin_digits: "{count} digit(s) typed", pad_label: "PIN keypad", erase: "Erase",
      approve: "Approve", deny: "Deny",
      choose_code: "Pick the code shown on the login page.",
      candidates_label: "Offered codes", code_button: "Code {code}",
      sending: "Sending…",
      result_approved: "Login approved. You can go back to the login page.",
      result_denied: "Login denied.",
      result_wrong_code: "This is not the code shown on the login page: the login failed. Start again from the login page.",
      result_gone: "This request is no longer pending (already answered, cancelled or expired).",
      wrong_pin: "Wrong PIN. Attempts left: {remaining}.",
      locked_title: "e-CPS locked",
      locked_text: "Three wrong PINs locked this e-CPS. Like a blocked CPS card it never unlocks: activate a new e-CPS on the activation page, then scan its QR code.",
      revoked_title: "e-CPS revoked",
      revoked_text: "This e-CPS has been revoked. Activate a new e-CPS on the activation page, then scan its QR code.",
      activation_page: "Open the activation page", activate_again: "Activate a new e-CPS here",
      offline_title: "Offline code",
      offline_intro: "No network on the phone? On the login page, choose \"Pas de réseau sur le téléphone ?\" (no network on the phone?) and type this code.",
      offline_code_label: "Current code", offline_left: "New code in {seconds} s",
      offline_pin_intro: "Type your e-CPS PIN to show the code.", offline_show: "Show the code",
      offline_hide: "Hide the code",
      offline_clock: "This phone's clock is {amount} off: the code follows the server's time. Set the phone's date and time (automatically).",
      offline_legacy: "This e-CPS's offline code is not protected by the PIN yet: it will be from your next answer to a login request.",
      offline_until: "This offline code is available until {date}; then activate a new e-CPS.",
      offline_expired: "This e-CPS's offline code is no longer available: activate a new e-CPS.",
      me_title: "My e-CPS", me_identity: "Holder", me_national_id: "National identifier",
      me_device: "This phone", me_state: "State", me_created: "Activated on", me_attempts: "PIN attempts left",
      state_active: "active", state_locked: "locked", state_revoked: "revoked", state_unknown: "unknown (offline)",
      state_unreachable: "unknown (service unreachable)",
      me_history: "Last approvals", me_history_empty: "No approval on this phone yet.",
      h_approved: "approved", h_denied: "denied", h_failed: "failed",
      revoke: "Revoke this e-CPS",
      revoke_confirm: "Revoke this phone's e-CPS? It will no longer approve logins; you will have to activate a new e-CPS.",
      revoked_done: "This phone's e-CPS is revoked.",
      offline_banner: "Offline: requests cannot arrive. The offline code is still available.",
      unavailable_banner: "Service temporarily unavailable: requests will arrive once it is back. The offline code is still available.",
      unreachable_banner: "The service cannot be reached right now: requests will arrive once it is back. The offline code is still available.",
      unsupported: "This browser cannot hold an e-CPS (WebCrypto and IndexedDB are needed, in a secure context: https:// or http://localhost).",
    },
  };
  let locale = "fr";
  function t(key, values) {
    let text = (TEXTS[locale] && TEXTS[locale][key]) || TEXTS.fr[key] || key;
    for (const [name, value] of Object.entries(values || {})) {
      text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }

  // -- small DOM helpers (text only: nothing from the network becomes markup) -------------------
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (name === "onclick" || name === "onsubmit" || name === "oninput") {
        node.addEventListener(name.slice(2), value);
      } else if (name === "text") {
        node.textContent = value;
      } else {
        node.setAttribute(name, value === true ? "" : value);
      }
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const $ = (id) => document.getElementById(id);
  function announce(text) {
    const box = $("announcer");
    box.textContent = "";
    window.setTimeout(() => { box.textContent = text; }, 50);
  }

  // -- storage: IndexedDB (keys as CryptoKey objects, which IndexedDB stores by structured clone) --
  const DB_NAME = "santeid-ecps";
  let dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const open = indexedDB.open(DB_NAME, 1);
        open.onupgradeneeded = () => open.result.createObjectStore("kv");
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
    }
    return dbPromise;
  }
  async function kv(mode, action) {
    const database = await db();
    return new Promise((resolve, reject) => {
      const tx = database.transaction("kv", mode);
      const request = action(tx.objectStore("kv"));
      tx.oncomplete = () => resolve(request ? request.result : undefined);
      tx.onerror = () => reject(tx.error);
    });
  }
  const load = (key) => kv("readonly", (store) => store.get(key));
  const save = (key, value) => kv("readwrite", (store) => store.put(value, key));
  const remove = (key) => kv("readwrite", (store) => store.delete(key));

  // -- JOSE -----------------------------------------------------------------------------------
  const encoder = new TextEncoder();
  function b64url(bytes) {
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function randomId() { return b64url(crypto.getRandomValues(new Uint8Array(16))); }
  // Server time - local time, s (from server_time in answers), kept for a start without
  // network: the offline code follows the server's time too.
  const SKEW_KEY = "santeid-ecps-skew";
  let clockSkew = Number(localStorage.getItem(SKEW_KEY)) || 0;
  // From this difference on, the offline code's screen says the phone's clock is wrong: one
  // offline-code step (RFC 6238 §5.2), beyond which a code of the phone's own time is refused.
  const LARGE_SKEW = 30;
  function now() { return Math.floor(Date.now() / 1000 + clockSkew); }
  async function signJwt(device, claims) {
    const header = { alg: "ES256", kid: device.device_id, typ: "JWT" };
    const input = b64url(encoder.encode(JSON.stringify(header))) + "." +
      b64url(encoder.encode(JSON.stringify(claims)));
    const signature = await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" }, device.privateKey, encoder.encode(input));
    return input + "." + b64url(new Uint8Array(signature));
  }
  function deviceToken(device) {
    const issued = now();
    return signJwt(device, {
      iss: device.device_id, aud: device.server, iat: issued, exp: issued + TOKEN_LIFETIME, jti: randomId(),
    });
  }

  // -- offline code: RFC 6238 (HMAC-SHA-1, 30 s, 6 digits) with a non-extractable HMAC key ----
  function base32Decode(text) {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bits = 0, value = 0;
    const out = [];
    for (const char of text.replace(/=+$/, "").toUpperCase()) {
      const index = alphabet.indexOf(char);
      if (index < 0) throw new Error("bad base32");
      value = (value << 5) | index; bits += 5;
      if (bits >= 8) { out.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
    }
    return new Uint8Array(out);
  }
  // The offline-code secret is kept masked by the PIN: XOR with PBKDF2(PIN, salt), as long as
  // the secret. No tag, no check value: every PIN unmasks a plausible secret, so a wrong PIN
  // cannot be told on the phone — only the server, which counts wrong offline codes
  // (docs/ecps-device-protocol.md §6), can. The secret is uniformly random bytes, so a wrong
  // PIN's unmasked bytes look exactly like a right one's.
  async function pinMask(pin, salt, iterations, length) {
    const base = await crypto.subtle.importKey("raw", encoder.encode(pin), "PBKDF2", false, ["deriveBits"]);
    return new Uint8Array(await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-256", salt, iterations }, base, length * 8));
  }
  async function maskSecret(secret, pin) {
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const mask = await pinMask(pin, salt, PIN_MASK_ITERATIONS, secret.length);
    const masked = secret.map((byte, index) => byte ^ mask[index]);
    mask.fill(0);
    return { masked, salt, iterations: PIN_MASK_ITERATIONS };
  }
  // A keystream of `count` 32-bit words from the PIN: AES-CTR (NIST SP 800-38A) under
  // PBKDF2(PIN, salt), for the masked codes of an e-CPS activated before the PIN's mask.
  async function pinStream(pin, salt, iterations, count) {
    const bits = await pinMask(pin, salt, iterations, 32);
    const key = await crypto.subtle.importKey("raw", bits, "AES-CTR", false, ["encrypt"]);
    bits.fill(0);
    return new Uint32Array(await crypto.subtle.encrypt(
      { name: "AES-CTR", counter: new Uint8Array(16), length: 64 }, key, new Uint8Array(count * 4)));
  }
  // The offline code at a time (seconds), as the typed PIN unmasks it: a function kept in
  // memory only, which answers null past the codes an e-CPS of an earlier version has.
  async function offlineCodes(device, pin) {
    if (device.totp) {
      const mask = await pinMask(pin, device.totp.salt, device.totp.iterations, device.totp.masked.length);
      const secret = device.totp.masked.map((byte, index) => byte ^ mask[index]);
      mask.fill(0);
      let key;
      try {
        key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
      } finally { secret.fill(0); }
      return (seconds) => totpAt(key, seconds);
    }
    if (device.totpTable) {
      // Codes masked by adding a keystream word modulo 10^6: any PIN gives plausible codes.
      const table = device.totpTable;
      const stream = await pinStream(pin, table.salt, table.iterations, table.masked.length);
      return async (seconds) => {
        const index = Math.floor(seconds / 30) - table.start;
        if (index < 0 || index >= table.masked.length) return null;
        return String((table.masked[index] + 1000000 - stream[index] % 1000000) % 1000000).padStart(6, "0");
      };
    }
    return (seconds) => totpAt(device.totpKey, seconds); // not masked yet: any PIN
  }
  // An e-CPS of an earlier version, after a decision the server accepted with `pin` (never an
  // unverified one, which would mask wrong codes for good): its codes of the next
  // LEGACY_STEPS steps, masked by that PIN, replace its HMAC key.
  async function maskLegacyCodes(device, pin) {
    if (device.totp || device.totpTable || !device.totpKey || maskingLegacy) return;
    maskingLegacy = true;
    try {
      const start = Math.floor((Date.now() / 1000 + clockSkew) / 30) - 1;
      const codes = new Uint32Array(LEGACY_STEPS);
      for (let first = 0; first < LEGACY_STEPS; first += 1000) {
        const batch = [];
        for (let index = first; index < Math.min(first + 1000, LEGACY_STEPS); index += 1) {
          batch.push(totpAt(device.totpKey, (start + index) * 30).then((code) => { codes[index] = Number(code); }));
        }
        await Promise.all(batch);
      }
      const salt = crypto.getRandomValues(new Uint8Array(16));
      const stream = await pinStream(pin, salt, PIN_MASK_ITERATIONS, LEGACY_STEPS);
      const masked = codes.map((code, index) => (code + stream[index] % 1000000) % 1000000);
      codes.fill(0); stream.fill(0);
      if (state.device !== device) return; // replaced meanwhile
      const updated = { ...device, totpTable: { start, masked, salt, iterations: PIN_MASK_ITERATIONS } };
      delete updated.totpKey;
      await save("device", updated);
      state.device = updated;
    } catch (ignored) {
      /* kept as it was: the next accepted decision tries again */
    } finally { maskingLegacy = false; }
  }
  let maskingLegacy = false;
  async function totpAt(key, seconds) {
    const counter = Math.floor(seconds / 30);
    const message = new Uint8Array(8);
    new DataView(message.buffer).setUint32(0, Math.floor(counter / 2 ** 32));
    new DataView(message.buffer).setUint32(4, counter >>> 0);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, message));
    const offset = mac[mac.length - 1] & 0x0f;
    const binary = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
    return String(binary % 1000000).padStart(6, "0");
  }

  // -- the device API ---------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && problem.code) || "http_" + status);
      this.status = status; this.problem = problem || {}; this.code = this.message;
    }
  }
  class NetworkError extends Error {}
  // No answer from santeid: the request failed in the network (a time limit included), or a
  // proxy in front of it answered 502, 503 or 504 with no problem of the device API's (every
  // problem of santeid names its code, protocol §7).
  function unanswered(failure) {
    return failure instanceof NetworkError
      || (failure instanceof ApiError && [502, 503, 504].includes(failure.status) && !failure.problem.code);
  }
  // The browser says the phone has no network (navigator.onLine false: HTML Standard, "Offline
  // web applications"; true says only that some network is there). Only then is a failure
  // "offline": a phone online whose request got no answer cannot reach the service.
  function phoneOffline() { return navigator.onLine === false; }
  // Refusals that mean the phone's clock is wrong (protocol §2, §4).
  const CLOCK_ERRORS = ["token_not_yet_valid", "token_expired", "stale_decision"];
  // Seconds of a Retry-After header (RFC 9110 §10.2.3: seconds or an HTTP date), or null.
  function retryAfter(response) {
    const value = response.headers.get("Retry-After");
    if (!value) return null;
    const seconds = /^\d+$/.test(value.trim()) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
    return Number.isFinite(seconds) ? Math.max(0, seconds) : null;
  }
  // The caller's signal (if any) and a time limit: a stalled network ends as a NetworkError.
  function limitedSignal(seconds, signal) {
    const timeout = AbortSignal.timeout ? AbortSignal.timeout(seconds * 1000) : (() => {
      const controller = new AbortController();
      window.setTimeout(() => controller.abort(new DOMException("timeout", "TimeoutError")), seconds * 1000);
      return controller.signal;
    })();
    if (!signal) return timeout;
    if (AbortSignal.any) return AbortSignal.any([signal, timeout]);
    const both = new AbortController();
    for (const one of [signal, timeout]) one.addEventListener("abort", () => both.abort(one.reason), { once: true });
    return both.signal;
  }
  async function callOnce(method, path, { device, body, jwt, signal, timeout } = {}) {
    const headers = {};
    if (device) headers.Authorization = "Bearer " + (await deviceToken(device));
    let payload;
    if (jwt) { headers["Content-Type"] = "application/jwt"; payload = jwt; }
    else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
    const limited = limitedSignal(timeout || CALL_TIMEOUT, signal);
    let response;
    let data = {};
    try {
      response = await fetch(API + path, { method, headers, body: payload, cache: "no-store", signal: limited });
      try { data = await response.json(); } catch (error) { if (limited.aborted) throw error; data = {}; }
    } catch (error) {
      // Aborted by the caller: theirs to handle. Anything else, a time limit included: the network.
      if (signal && signal.aborted) throw error;
      throw new NetworkError(String(error));
    }
    // Every answer, problems included, carries the server's time (protocol §2).
    if (typeof data.server_time === "number") {
      clockSkew = data.server_time + 0.5 - Date.now() / 1000;
      localStorage.setItem(SKEW_KEY, clockSkew.toFixed(1));
    }
    if (!response.ok) {
      const failure = new ApiError(response.status, data);
      failure.retryAfter = retryAfter(response);
      throw failure;
    }
    setTrouble(null);
    return data;
  }
  async function call(method, path, options = {}) {
    try {
      return await callOnce(method, path, options);
    } catch (failure) {
      // A device token refused for the phone's clock: the problem's server_time has just
      // corrected it, so once more with a token from the corrected clock.
      if (options.device && failure instanceof ApiError && CLOCK_ERRORS.includes(failure.code)) {
        return callOnce(method, path, options);
      }
      throw failure;
    }
  }
  const INACTIVE = ["device_locked", "device_revoked", "pin_locked", "unknown_device"];

  // -- state -----------------------------------------------------------------------------------
  const state = {
    device: null, // {device_id, national_id, name, server, privateKey, totp: {masked, salt, iterations}, created_at}
    // (an e-CPS activated before the PIN's mask has totpKey, an HMAC key, instead of totp,
    // then totpTable {start, masked, salt, iterations}: its codes, masked by the PIN)
    requests: new Map(), // request_id -> item
    screen: null, cleanup: null, redraw: null, pollAbort: null,
    trouble: null, // the failure that keeps requests from arriving (the banner says it), or null
    pendingActivation: null, // activation code from the link
    inactive: null, // "locked" or "revoked" once the server says so of this phone's e-CPS
  };

  // On the problem's code (protocol §7: "switch on code"); its status only for answers that
  // name no code the app knows.
  function troubleText(failure) {
    if (unanswered(failure)) return t(phoneOffline() ? "offline_banner" : "unreachable_banner");
    if (!(failure instanceof ApiError)) return problemText(failure);
    if (CLOCK_ERRORS.includes(failure.code)) return t("err_clock");
    if (failure.code === "too_many_waits") return t("err_too_many_waits");
    if (failure.code === "temporarily_unavailable" || failure.status >= 500 || failure.status === 429) return t("unavailable_banner");
    return problemText(failure);
  }
  function setTrouble(failure) {
    if (!state.trouble && !failure) return;
    state.trouble = failure;
    const banner = $("network-banner");
    banner.hidden = !failure;
    banner.textContent = failure ? troubleText(failure) : "";
    // The list's line says "waiting" only while requests can arrive.
    const list = state.screen === "home" && $("request-list");
    if (list) renderRequests(list);
  }

  async function addHistory(item, result) {
    const history = (await load("history")) || [];
    history.unshift({ at: Date.now(), client_name: item.client_name, kind: item.kind, result });
    await save("history", history.slice(0, HISTORY_SIZE));
  }

  // -- screens ---------------------------------------------------------------------------------
  // redraw: draws the screen again as it is (the English/French button); render may set a
  // finer one (state.redraw) that keeps what was typed.
  function show(name, render, redraw) {
    if (state.cleanup) { state.cleanup(); state.cleanup = null; }
    state.screen = name;
    state.redraw = redraw || null;
    const main = $("screen");
    main.replaceChildren();
    main.dataset.screen = name;
    const cleanup = render(main);
    if (typeof cleanup === "function") state.cleanup = cleanup;
    for (const tab of document.querySelectorAll("#tabs button")) {
      if (tab.dataset.screen === name) tab.setAttribute("aria-current", "page");
      else tab.removeAttribute("aria-current");
    }
    // The tabs stay out of the way while activating and while answering a request.
    // While activating again, they lead back to the e-CPS still there, if it is active.
    $("tabs").hidden = !state.device || state.inactive !== null || ["locked", "pin", "request"].includes(name);
    const heading = main.querySelector("h1");
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
  }

  function problemText(error) {
    if (unanswered(error)) return t(phoneOffline() ? "err_network" : "err_unreachable");
    if (CLOCK_ERRORS.includes(error.code)) return t("err_clock");
    const key = "err_" + error.code;
    if (TEXTS.fr[key]) return t(key);
    if (error.status >= 500) return t("err_server");
    return t("err_other", { code: error.code || "?" });
  }

  // Activation, step 1: the code (from the link, typed, or scanned) and the phone's name.
  function showActivate(message) {
    show("activate", (main) => {
      const error = el("p", { id: "activate-error", class: "error", role: "alert" });
      if (message) error.textContent = message;
      const code = el("input", {
        id: "activation-code", type: "text", autocomplete: "off", autocapitalize: "off",
        spellcheck: "false", "aria-describedby": "activation-code-help",
        value: state.pendingActivation || "",
      });
      const name = el("input", { id: "device-name", type: "text", maxlength: "100", value: t("name_default") });
      const scanBox = el("div", { id: "scan-box" });
      const form = el("form", { id: "activate-form", novalidate: true, onsubmit: async (event) => {
        event.preventDefault();
        const value = extractCode(code.value.trim());
        if (!value) { error.textContent = t("code_missing"); code.setAttribute("aria-invalid", "true"); code.focus(); return; }
        // Replacing this phone's active e-CPS revokes it: say whose it is, and ask. A locked or
        // revoked one is no loss: nothing to ask.
        if (replacing() && !window.confirm(t("replace_confirm", { who: await holderName() }))) return;
        showChoosePin(value, name.value.trim() || t("name_default"));
      } },
        el("div", { class: "field" },
          el("label", { for: "activation-code", text: t("code_label") }), code,
          el("p", { id: "activation-code-help", class: "help", text: t("code_help") })),
        el("div", { class: "field" },
          el("label", { for: "device-name", text: t("name_label") }), name),
        error,
        el("div", { class: "actions" },
          el("button", { type: "submit", id: "activate-next", text: t("next") }),
          "BarcodeDetector" in window && navigator.mediaDevices
            ? el("button", { type: "button", class: "secondary", id: "scan-button", text: t("scan"),
                onclick: () => startScan(scanBox, code, error) })
            : null));
      main.append(el("h1", { text: t("activate_title") }), el("p", { text: t("activate_intro") }));
      if (state.device) {
        // The e-CPS already here stays reachable: Retour, and its requests said here.
        form.querySelector(".actions").append(el("button", { type: "button", class: "secondary", id: "activate-back",
          text: t("back"), onclick: backToDevice }));
        if (replacing()) main.append(el("p", { class: "card", role: "note", id: "activate-replace", text: t("activate_replace") }));
        main.append(el("p", { class: "card", id: "activate-pending", hidden: true }));
      }
      main.append(el("div", { class: "card" }, form, scanBox));
      renderActivatePending();
      state.redraw = () => { state.pendingActivation = code.value.trim() || state.pendingActivation; showActivate(); };
      return () => stopScan();
    });
  }

  // Activating here replaces an e-CPS still active (as far as the server last said).
  const replacing = () => Boolean(state.device) && state.inactive === null;
  // From the activation screen back to the e-CPS this phone holds.
  function backToDevice() {
    state.pendingActivation = null;
    if (state.inactive) { showLocked(state.inactive, true); return; }
    showHome();
    startPolling();
  }
  // On the activation screen of a phone that holds an e-CPS: the request waiting, if any.
  function renderActivatePending() {
    const box = $("activate-pending");
    if (!box) return;
    const waiting = [...state.requests.values()].filter((item) => item.expires_at > now());
    box.hidden = !waiting.length;
    box.textContent = waiting.length ? t("activate_pending", { service: waiting[0].client_name }) : "";
  }
  // The server says this phone's e-CPS is locked or revoked: the screen that says so — unless
  // a new activation is under way, which it must not interrupt.
  function markInactive(kind) {
    state.inactive = kind;
    stopPolling();
    state.requests.clear();
    if (state.screen === "activate" || state.screen === "pin") {
      $("tabs").hidden = true;
      renderActivatePending();
      const note = $("activate-replace"); // nothing active is replaced any more
      if (note) note.remove();
      return;
    }
    showLocked(kind);
  }

  // The professional whose e-CPS this phone holds: "Given FAMILY (national id)".
  async function holderName() {
    const profile = await load("profile");
    const name = profile ? `${profile.given_name} ${profile.family_name}`.trim() : "";
    return name ? `${name} (${state.device.national_id})` : state.device.national_id;
  }

  // An app link (…/ecps/app/#activation=CODE), the older activation URI
  // (santeid-ecps://activate?server=…&code=CODE, which protocol §1 keeps valid) or a bare code.
  function extractCode(text) {
    if (!text) return "";
    try {
      const url = new URL(text);
      if (url.protocol === "santeid-ecps:") {
        return url.href.startsWith("santeid-ecps://activate?") ? url.searchParams.get("code") || "" : "";
      }
      return new URLSearchParams(url.hash.slice(1)).get("activation") || "";
    } catch (error) {
      return /^[A-Za-z0-9_-]{8,128}$/.test(text) ? text : "";
    }
  }

  let scanning = null;
  async function startScan(box, input, error) {
    stopScan();
    try {
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      const video = el("video", { class: "scanner", playsinline: true, muted: true, "aria-label": t("scan_hint") });
      video.srcObject = stream;
      box.replaceChildren(el("p", { class: "help", text: t("scan_hint") }), video,
        el("button", { type: "button", class: "secondary", text: t("scan_stop"), onclick: stopScan }));
      await video.play();
      scanning = { stream, timer: null, box };
      const look = async () => {
        if (!scanning) return;
        try {
          const codes = await detector.detect(video);
          for (const found of codes) {
            const value = extractCode(found.rawValue);
            if (value) { input.value = value; stopScan(); input.focus(); return; }
            error.textContent = t("scan_not_link");
          }
        } catch (ignored) { /* a frame that could not be read */ }
        scanning.timer = window.setTimeout(look, 250);
      };
      look();
    } catch (failure) {
      stopScan();
      error.textContent = t("scan_failed");
    }
  }
  function stopScan() {
    if (!scanning) return;
    window.clearTimeout(scanning.timer);
    for (const track of scanning.stream.getTracks()) track.stop();
    scanning.box.replaceChildren();
    scanning = null;
  }

  // Activation, step 2: the PIN, typed twice; then the key pair and the registration.
  function showChoosePin(activationCode, deviceName) {
    show("pin", (main) => {
      const error = el("p", { id: "pin-error", class: "error", role: "alert" });
      const pin = el("input", { id: "new-pin", type: "password", inputmode: "numeric", autocomplete: "new-password",
        pattern: "[0-9]*", maxlength: "8", "aria-describedby": "pin-help" });
      const again = el("input", { id: "new-pin-again", type: "password", inputmode: "numeric",
        autocomplete: "new-password", pattern: "[0-9]*", maxlength: "8" });
      const submit = el("button", { type: "submit", id: "pin-submit", text: t("activate_button") });
      const form = el("form", { novalidate: true, onsubmit: async (event) => {
        event.preventDefault();
        pin.removeAttribute("aria-invalid"); again.removeAttribute("aria-invalid");
        if (!/^[0-9]{4,8}$/.test(pin.value)) {
          error.textContent = t("pin_format"); pin.setAttribute("aria-invalid", "true"); pin.focus(); return;
        }
        if (pin.value !== again.value) {
          error.textContent = t("pin_mismatch"); again.setAttribute("aria-invalid", "true"); again.focus(); return;
        }
        submit.disabled = true; submit.textContent = t("activating");
        try {
          await register(activationCode, pin.value, deviceName);
          state.pendingActivation = null;
          announce(t("activated"));
          showHome();
          startPolling();
        } catch (failure) {
          if (state.screen !== "pin") return;
          submit.disabled = false; submit.textContent = t("activate_button");
          if (failure instanceof ApiError && ["invalid_activation_code", "activation_code_used", "professional_inactive"].includes(failure.code)) {
            state.pendingActivation = null;
            showActivate(problemText(failure));
          } else {
            error.textContent = problemText(failure);
          }
        }
      } },
        el("div", { class: "field" }, el("label", { for: "new-pin", text: t("pin_label") }), pin,
          el("p", { id: "pin-help", class: "help", text: t("pin_intro") })),
        el("div", { class: "field" }, el("label", { for: "new-pin-again", text: t("pin_again_label") }), again),
        error,
        el("div", { class: "actions" }, submit,
          el("button", { type: "button", class: "secondary", text: t("cancel"), onclick: () => showActivate() })));
      main.append(el("h1", { text: t("pin_title") }), el("div", { class: "card" }, form));
    }, () => showChoosePin(activationCode, deviceName));
  }

  async function register(activationCode, pin, name) {
    // Non-extractable: the private key never leaves WebCrypto (the public half always can).
    const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
    const answer = await call("POST", "/register", {
      body: { activation_code: activationCode, public_jwk: { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, pin, name },
    });
    // The offline-code secret is shown only in this answer (protocol §1): it is kept only
    // masked by the PIN the server has just accepted, never in clear.
    const secret = base32Decode(answer.totp_secret);
    const totp = await maskSecret(secret, pin);
    secret.fill(0);
    const device = {
      device_id: answer.device_id, national_id: answer.national_id, name: answer.name,
      server: answer.server, privateKey: pair.privateKey, totp, created_at: Date.now(),
    };
    const previous = state.device;
    const previousState = state.inactive;
    stopPolling();
    await save("device", device);
    await remove("history");
    await remove("profile");
    state.device = device;
    state.inactive = null;
    state.requests.clear();
    // The e-CPS this one replaces must not stay active on the server: it revokes itself,
    // with its key, which is still at hand (protocol §5).
    if (previous && previousState !== "revoked") {
      try { await call("POST", "/revoke", { device: previous }); } catch (ignored) { /* already revoked, or offline */ }
    }
    try { await saveProfile(); } catch (ignored) { /* shown later */ }
    await enablePushIfGranted();
  }

  async function saveProfile() {
    const profile = await call("GET", "/profile", { device: state.device });
    await save("profile", profile);
    return profile;
  }

  // Home: the pending requests, live.
  function showHome() {
    show("home", (main) => {
      // Not a live region: its countdown changes every second; new requests are announced.
      const list = el("div", { id: "request-list" });
      const notify = el("div", { id: "notify-box" });
      main.append(el("h1", { text: t("home_title") }), list, notify);
      renderRequests(list);
      renderNotifyBox(notify);
      const timer = window.setInterval(() => renderRequests(list), 1000);
      return () => window.clearInterval(timer);
    }, showHome);
  }

  function formatTime(epoch) {
    return new Intl.DateTimeFormat(locale === "en" ? "en-GB" : "fr-FR", { hour: "2-digit", minute: "2-digit", second: "2-digit" })
      .format(new Date(epoch * 1000));
  }

  function requestSummary(item, withButton) {
    const left = item.expires_at - now();
    const card = el("section", { class: "card request", "data-request-id": item.request_id,
      "aria-labelledby": "rq-" + item.request_id },
      el("h2", { id: "rq-" + item.request_id, class: "service-name", text: item.client_name }),
      el("p", { class: "meta channel", text: item.kind === "ciba" ? t("kind_ciba") : t("kind_browser") }),
      // Where the request comes from (docs/security.md, "Push fatigue"): the service's
      // identifier and, for a browser login, the browser's address.
      item.client_id ? el("p", { class: "meta client-id", text: t("client_id", { id: item.client_id }) }) : null,
      item.requested_from ? el("p", { class: "meta requested-from", text: t("requested_from", { address: item.requested_from }) }) : null,
      el("p", { class: "meta", text: t("received_at", { time: formatTime(item.created_at) }) }),
      el("p", { class: "meta expires", text: left > 0 ? t("expires_in", { seconds: left }) : t("expired") }));
    if (item.kind === "ciba" && item.binding_message) {
      card.append(el("p", { class: "meta", text: t("binding_label") }),
        el("p", { class: "binding", id: "binding-" + item.request_id, text: item.binding_message }));
    }
    if (withButton) {
      card.append(el("div", { class: "actions" }, el("button", { type: "button", class: "answer",
        text: t("answer"), "aria-describedby": "rq-" + item.request_id, onclick: () => showRequest(item.request_id) })));
    }
    return card;
  }

  function renderRequests(list) {
    const items = [...state.requests.values()].filter((item) => item.expires_at > now());
    const shown = [...list.querySelectorAll("[data-request-id]")].map((node) => node.dataset.requestId);
    const wanted = items.map((item) => item.request_id);
    if (shown.join() === wanted.join() && items.length) {
      for (const item of items) {
        const node = list.querySelector(`[data-request-id="${CSS.escape(item.request_id)}"] .expires`);
        if (node) node.textContent = t("expires_in", { seconds: Math.max(0, item.expires_at - now()) });
      }
      return;
    }
    list.replaceChildren();
    if (!items.length) {
      list.append(el("p", { class: "card", id: "no-request", text: state.trouble ? t("home_none") : t("home_waiting") }));
      return;
    }
    for (const item of items) list.append(requestSummary(item, true));
  }

  // One request: PIN pad → approve (browser: then the three codes) or deny. keep: what the
  // language switch carries over ({pin, step}).
  function showRequest(requestId, keep) {
    const item = state.requests.get(requestId);
    if (!item) { showHome(); return; }
    show("request", (main) => {
      let pin = "";
      let closed = false;
      const display = el("p", { class: "pin-display", id: "pin-display", "aria-hidden": "true" });
      const count = el("p", { class: "visually-hidden", id: "pin-count", "aria-live": "polite" });
      const error = el("p", { class: "error", id: "decision-error", role: "alert" });
      const body = el("div", { id: "request-body" });
      const approve = el("button", { type: "button", id: "approve", disabled: true, text: t("approve"),
        onclick: () => (item.kind === "browser" ? showCodes() : send("approve", null)) });
      const deny = el("button", { type: "button", id: "deny", class: "danger", disabled: true, text: t("deny"),
        onclick: () => send("deny", null) });
      const back = el("button", { type: "button", id: "pin-back", class: "secondary", text: t("back"), onclick: showHome });
      function update() {
        display.textContent = "•".repeat(pin.length) || "\u00a0";
        count.textContent = t("pin_digits", { count: pin.length });
        approve.disabled = deny.disabled = !/^[0-9]{4,8}$/.test(pin);
      }
      function press(digit) { if (pin.length < 8) { pin += digit; error.textContent = ""; update(); } }
      function erase() { pin = pin.slice(0, -1); update(); }
      const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9"].map((digit) =>
        el("button", { type: "button", class: "pad-key", "data-digit": digit, text: digit, onclick: () => press(digit) }));
      const pad = el("div", { class: "pad", role: "group", "aria-label": t("pad_label"), id: "pin-pad" },
        keys, el("span"),
        el("button", { type: "button", class: "pad-key", "data-digit": "0", text: "0", onclick: () => press("0") }),
        el("button", { type: "button", class: "pad-action", id: "pin-erase", text: "⌫", "aria-label": t("erase"), onclick: erase }));
      const onKey = (event) => {
        if (state.screen !== "request" || body.dataset.step !== "pin") return;
        if (/^[0-9]$/.test(event.key)) { press(event.key); event.preventDefault(); }
        else if (event.key === "Backspace") { erase(); event.preventDefault(); }
      };
      document.addEventListener("keydown", onKey);

      function pinStep(message, typed) {
        body.dataset.step = "pin";
        pin = typed || "";
        // The keypad and Retour may come back disabled from a decision that was refused.
        for (const button of pad.querySelectorAll("button")) button.disabled = false;
        back.disabled = false;
        update();
        error.textContent = message || "";
        body.replaceChildren(el("p", { id: "pin-label", tabindex: "-1", text: t("enter_pin") }), display, count, pad, error,
          el("div", { class: "actions" }, approve, deny, back));
      }
      function showCodes() {
        body.dataset.step = "codes";
        const buttons = item.candidates.map((candidate) => el("button", { type: "button", class: "candidate",
          "data-code": candidate, "aria-label": t("code_button", { code: candidate }), text: candidate,
          onclick: () => send("approve", candidate) }));
        body.replaceChildren(el("h2", { id: "codes-title", tabindex: "-1", text: t("choose_code") }),
          el("div", { class: "candidates", role: "group", "aria-labelledby": "codes-title" }, buttons),
          error,
          el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", text: t("back"), onclick: () => pinStep() })));
        $("codes-title").focus();
      }
      async function decide(decision, code) {
        const claims = { iss: state.device.device_id, aud: state.device.server, iat: now(), jti: randomId(),
          request_id: item.request_id, decision, pin };
        if (code !== null) claims.code = code;
        const jwt = await signJwt(state.device, claims);
        return call("POST", "/requests/" + encodeURIComponent(item.request_id) + "/decision", { jwt });
      }
      async function send(decision, code) {
        // While the decision travels, the long poll may already see the request gone.
        const step = body.dataset.step;
        body.dataset.step = "sent";
        for (const button of main.querySelectorAll("button")) button.disabled = true;
        announce(t("sending"));
        try {
          let answer;
          try {
            answer = await decide(decision, code);
          } catch (failure) {
            // Signed with a clock that the problem's server_time has just corrected: once
            // more (a new decision, with its own jti).
            if (!(failure instanceof ApiError && CLOCK_ERRORS.includes(failure.code))) throw failure;
            answer = await decide(decision, code);
          }
          state.requests.delete(item.request_id);
          // The server has just accepted this PIN: an e-CPS of an earlier version masks its
          // offline codes with it (in the background).
          maskLegacyCodes(state.device, pin);
          await addHistory(item, answer.status === "approved" ? "approved" : "denied");
          // Left meanwhile (expired while the answer was late): the answer still says how it went.
          if (closed && state.screen !== "result") return;
          showResult(answer.status === "approved" ? "result_approved" : "result_denied", answer.status === "approved");
        } catch (failure) {
          if (failure instanceof ApiError && INACTIVE.includes(failure.code)) {
            state.requests.delete(item.request_id);
            await addHistory(item, "failed");
            showLocked(failure.code === "device_revoked" ? "revoked" : "locked");
            return;
          }
          if (closed) return;
          if (failure instanceof ApiError && failure.code === "wrong_pin") {
            pinStep(t("wrong_pin", { remaining: failure.problem.remaining_attempts }));
            announce(t("wrong_pin", { remaining: failure.problem.remaining_attempts }));
            $("pin-label").focus();
          } else if (failure instanceof ApiError && failure.code === "wrong_code") {
            state.requests.delete(item.request_id);
            await addHistory(item, "failed");
            showResult("result_wrong_code", false);
          } else if (failure instanceof ApiError && ["request_not_pending", "request_expired", "unknown_request", "foreign_request"].includes(failure.code)) {
            state.requests.delete(item.request_id);
            showResult("result_gone", false);
          } else {
            body.dataset.step = step;
            for (const button of main.querySelectorAll("button")) button.disabled = false;
            update();
            error.textContent = problemText(failure);
          }
        }
      }
      main.append(el("h1", { text: t("request_title", { service: item.client_name }) }),
        requestSummary(item, false), el("div", { class: "card" }, body));
      pinStep(null, keep && keep.pin);
      if (keep && keep.step === "codes" && /^[0-9]{4,8}$/.test(pin)) showCodes();
      // The language switch draws the screen again, with the PIN typed and the step; not
      // while a decision travels (its answer draws the next screen).
      state.redraw = () => {
        if (body.dataset.step !== "sent") showRequest(requestId, { pin, step: body.dataset.step });
      };
      const watch = window.setInterval(() => {
        const expires = main.querySelector(".expires");
        if (expires) expires.textContent = item.expires_at > now() ? t("expires_in", { seconds: item.expires_at - now() }) : t("expired");
        // Gone from the list (decided elsewhere, cancelled) — but not while our own decision
        // travels, which makes it go — or expired: also while a decision is stuck.
        const gone = !state.requests.has(item.request_id) && body.dataset.step !== "sent";
        if (state.screen === "request" && (gone || item.expires_at <= now())) showResult("result_gone", false);
      }, 1000);
      return () => { closed = true; window.clearInterval(watch); document.removeEventListener("keydown", onKey); };
    });
  }

  function showResult(key, good, quiet) {
    show("result", (main) => {
      main.append(el("h1", { id: "result", class: good ? "success" : "error", text: t(key) }),
        el("div", { class: "actions" }, el("button", { type: "button", id: "result-back", text: t("back"), onclick: showHome })));
    }, () => showResult(key, good, true));
    if (!quiet) announce(t(key));
  }

  function showLocked(kind, quiet) {
    state.inactive = kind;
    stopPolling();
    show("locked", (main) => {
      main.append(el("h1", { id: "locked-title", text: t(kind + "_title") }),
        el("p", { class: "card", id: "locked-text", text: t(kind + "_text") }),
        el("div", { class: "actions" },
          el("a", { class: "button", href: "/ecps/activation" + (locale === "en" ? "?ui_locales=en" : ""), id: "activation-page", text: t("activation_page") }),
          el("button", { type: "button", class: "secondary", id: "activate-again", text: t("activate_again"),
            onclick: () => showActivate() })));
    }, () => showLocked(kind, true));
    if (!quiet) announce(t(kind + "_title"));
  }

  function skewText() {
    const seconds = Math.abs(clockSkew);
    return seconds >= 90 ? Math.round(seconds / 60) + " min" : Math.round(seconds) + " s";
  }
  // The offline code: shown only once the PIN is typed, which unmasks the secret; the key it
  // gives lives in memory while the code is on the screen. unlocked: that key, kept by the
  // language switch.
  function showOffline(unlocked) {
    show("offline", (main) => {
      const card = el("div", { class: "card", id: "offline-card" });
      main.append(el("h1", { text: t("offline_title") }), el("p", { text: t("offline_intro") }), card);
      let timer = null;
      let key = unlocked || null;
      function askPin(focus) {
        key = null;
        if (timer) { window.clearInterval(timer); timer = null; }
        const pin = el("input", { id: "offline-pin", type: "password", inputmode: "numeric", autocomplete: "off",
          pattern: "[0-9]*", maxlength: "8", "aria-describedby": "offline-pin-help" });
        const error = el("p", { id: "offline-error", class: "error", role: "alert" });
        const submit = el("button", { type: "submit", id: "offline-show", text: t("offline_show") });
        card.replaceChildren(el("form", { id: "offline-form", novalidate: true, onsubmit: async (event) => {
          event.preventDefault();
          if (!/^[0-9]{4,8}$/.test(pin.value)) {
            error.textContent = t("pin_format"); pin.setAttribute("aria-invalid", "true"); pin.focus(); return;
          }
          submit.disabled = true;
          const typed = pin.value;
          pin.value = "";
          const found = await offlineCodes(state.device, typed);
          if (!card.isConnected) return; // another screen meanwhile
          key = found;
          showCode();
        } },
          el("div", { class: "field" }, el("label", { for: "offline-pin", text: t("pin_label") }), pin,
            el("p", { id: "offline-pin-help", class: "help", text: t("offline_pin_intro") })),
          error, el("div", { class: "actions" }, submit)));
        if (focus) pin.focus();
      }
      function showCode() {
        const code = el("p", { class: "totp", id: "totp-code", "aria-labelledby": "totp-label" });
        const bar = el("span");
        const left = el("p", { class: "help", id: "totp-left" });
        card.replaceChildren(el("div", {}, el("p", { id: "totp-label", class: "meta", text: t("offline_code_label") }), code,
          el("div", { class: "countdown", "aria-hidden": "true" }, bar), left,
          Math.abs(clockSkew) >= LARGE_SKEW ? el("p", { class: "help", id: "offline-clock", text: t("offline_clock", { amount: skewText() }) }) : null,
          state.device.totpKey ? el("p", { class: "help", id: "offline-legacy", text: t("offline_legacy") }) : null,
          state.device.totpTable ? el("p", { class: "help", id: "offline-until", text: t("offline_until", {
            date: new Date((state.device.totpTable.start + state.device.totpTable.masked.length) * 30000)
              .toLocaleDateString(locale === "en" ? "en-GB" : "fr-FR") }) }) : null,
          el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", id: "offline-hide",
            text: t("offline_hide"), onclick: () => askPin(true) }))));
        let shownStep = null;
        const shownKey = key;
        async function tick() {
          if (key !== shownKey) return;
          // The server's time, as the last answer gave it: no network involved now.
          const seconds = Date.now() / 1000 + clockSkew;
          const step = Math.floor(seconds / 30);
          const remaining = Math.ceil(30 - (seconds % 30));
          if (step !== shownStep) {
            shownStep = step;
            const value = await key(seconds);
            if (value === null) { code.replaceWith(el("p", { class: "error", id: "offline-expired", text: t("offline_expired") })); return; }
            code.textContent = value.slice(0, 3) + " " + value.slice(3);
            code.dataset.code = value;
          }
          bar.style.width = (remaining / 30 * 100).toFixed(1) + "%";
          left.textContent = t("offline_left", { seconds: remaining });
        }
        tick();
        timer = window.setInterval(tick, 1000);
      }
      if (key) showCode(); else askPin();
      state.redraw = () => showOffline(key);
      return () => { if (timer) window.clearInterval(timer); key = null; };
    });
  }

  function showMe() {
    show("me", (main) => {
      const facts = el("dl", { class: "facts", id: "me-facts" });
      const history = el("ul", { class: "history", id: "me-history" });
      const message = el("p", { role: "status", id: "me-status" });
      main.append(el("h1", { text: t("me_title") }), el("div", { class: "card" }, facts),
        el("h2", { text: t("me_history") }), el("div", { class: "card" }, history), message,
        el("div", { class: "actions" }, el("button", { type: "button", class: "danger", id: "revoke", text: t("revoke"),
          onclick: async () => {
            if (!window.confirm(t("revoke_confirm"))) return;
            try {
              await call("POST", "/revoke", { device: state.device });
              await unsubscribePush();
              announce(t("revoked_done"));
              showLocked("revoked");
            } catch (failure) { message.textContent = problemText(failure); }
          } })));
      (async () => {
        let profile = await load("profile");
        let info = null;
        try {
          info = await call("GET", "/me", { device: state.device });
          profile = await saveProfile();
        } catch (failure) { if (!unanswered(failure)) message.textContent = problemText(failure); }
        if (!facts.isConnected) return; // another screen meanwhile
        const device = state.device;
        const rows = [
          ["me_identity", profile ? `${profile.given_name} ${profile.family_name}`.trim() : "—"],
          ["me_national_id", device.national_id],
          ["me_device", device.name],
          ["me_state", info ? t("state_" + info.status) : t(phoneOffline() ? "state_unknown" : "state_unreachable")],
          ["me_created", new Date(device.created_at).toLocaleDateString(locale === "en" ? "en-GB" : "fr-FR")],
        ];
        if (info && info.status === "active") rows.push(["me_attempts", info.remaining_pin_attempts]);
        facts.replaceChildren(...rows.flatMap(([key, value]) => [el("dt", { text: t(key) }), el("dd", { "data-fact": key, text: value })]));
        const past = (await load("history")) || [];
        history.replaceChildren(...(past.length ? past.map((entry) => el("li", {},
          new Date(entry.at).toLocaleString(locale === "en" ? "en-GB" : "fr-FR") + " — " + entry.client_name + " — " + t("h_" + entry.result)))
          : [el("li", { text: t("me_history_empty") })]));
      })();
    }, showMe);
  }

  // -- live requests: the long poll (protocol §3) -------------------------------------------------
  // One loop at a time. Each loop has its generation: a loop that is stopped or replaced
  // (a new one started by a push message) sees a newer generation and ends without touching
  // `polling`, which belongs to the loop of the current generation.
  let polling = false;
  let pollGeneration = 0;
  function stopPolling() {
    pollGeneration += 1;
    polling = false;
    if (state.pollAbort) state.pollAbort.abort();
  }
  function restartPolling() {
    stopPolling();
    startPolling();
  }
  async function startPolling() {
    if (polling || !state.device) return;
    polling = true;
    const generation = ++pollGeneration;
    const current = () => generation === pollGeneration;
    while (current() && state.device) {
      const abort = new AbortController();
      state.pollAbort = abort;
      try {
        const answer = await call("GET", "/requests?wait=" + LONG_POLL,
          { device: state.device, signal: abort.signal, timeout: POLL_TIMEOUT });
        if (!current()) return;
        const fresh = new Map(answer.requests.map((item) => [item.request_id, item]));
        let arrived = false;
        for (const [id, item] of fresh) {
          if (!state.requests.has(id)) { arrived = true; announce(t("new_request", { service: item.client_name })); }
          state.requests.set(id, item);
        }
        // A new request takes the professional from a finished answer back to the list.
        if (arrived && state.screen === "result") showHome();
        for (const id of [...state.requests.keys()]) if (!fresh.has(id)) state.requests.delete(id);
        if (state.screen === "home") { const list = $("request-list"); if (list) renderRequests(list); }
        if (state.screen === "activate") renderActivatePending();
        // A pending request makes the long poll answer at once: look again a little later.
        if (fresh.size) await sleep(1500);
      } catch (failure) {
        if (!current()) return; // stopped, or replaced by a newer loop
        if (failure instanceof ApiError && INACTIVE.includes(failure.code)) {
          markInactive(failure.code === "device_revoked" ? "revoked" : "locked");
          return;
        }
        // The banner says why requests cannot arrive until a poll succeeds again.
        setTrouble(failure);
        const wait = failure instanceof ApiError && failure.retryAfter !== null ? failure.retryAfter : RETRY_DELAY;
        await sleep(Math.min(Math.max(wait, 1), 300) * 1000);
      }
    }
    if (current()) polling = false;
  }
  function sleep(ms) { return new Promise((resolve) => window.setTimeout(resolve, ms)); }

  // -- Web Push (RFC 8030/8291/8292): wakes the app when it is closed --------------------------
  // What the box says comes from the server (GET /push: subscribed), not from the browser's
  // permission alone: a permission without a subscription wakes nothing.
  async function renderNotifyBox(box, message) {
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) return;
    if (Notification.permission === "denied") { box.replaceChildren(el("p", { class: "help", text: t("notifications_denied") })); return; }
    let config = null;
    try { config = await call("GET", "/push", { device: state.device }); } catch (ignored) { /* offline: offer the button */ }
    if (!box.isConnected) return;
    if (config && config.subscribed && Notification.permission === "granted") {
      box.replaceChildren(el("p", { class: "help", id: "notifications-state", text: t("notifications_on") })); return;
    }
    if (config && !config.vapid_public_key) {
      box.replaceChildren(el("p", { class: "help", id: "notifications-state", text: t("notifications_unavailable") })); return;
    }
    box.replaceChildren(el("button", { type: "button", class: "secondary", id: "enable-notifications", text: t("notifications_enable"),
      onclick: async () => {
        const permission = await Notification.requestPermission();
        const subscribed = permission === "granted" && await subscribePush();
        renderNotifyBox(box, subscribed || permission === "denied" ? null : t("notifications_failed"));
      } }),
    // replaceChildren writes a null as the text "null": no message, no second child.
    ...(message ? [el("p", { class: "help", id: "notifications-state", role: "status", text: message })] : []));
  }
  async function unsubscribePush() {
    try {
      const registration = await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.getSubscription();
      if (subscription) await subscription.unsubscribe();
    } catch (ignored) { /* nothing to undo */ }
  }
  async function enablePushIfGranted() {
    if ("Notification" in window && Notification.permission === "granted") await subscribePush();
  }
  // true once the server keeps this browser's subscription; false otherwise (push is a
  // convenience: the app works without it).
  async function subscribePush() {
    try {
      const registration = await navigator.serviceWorker.ready;
      const config = await call("GET", "/push", { device: state.device });
      if (!config.vapid_public_key) return false;
      const key = Uint8Array.from(atob(config.vapid_public_key.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - config.vapid_public_key.length % 4) % 4)), (c) => c.charCodeAt(0));
      let subscription = await registration.pushManager.getSubscription();
      if (!subscription) subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      const kept = await call("POST", "/push", { device: state.device, body: { subscription: subscription.toJSON(), lang: locale } });
      return kept.subscribed === true;
    } catch (ignored) {
      return false;
    }
  }

  // -- start -------------------------------------------------------------------------------------
  function applyLanguage() {
    document.documentElement.lang = locale;
    $("lang-toggle").textContent = t("other_lang");
    $("lang-toggle").setAttribute("lang", locale === "fr" ? "en" : "fr");
    $("tab-requests").textContent = t("tab_requests");
    $("tab-offline").textContent = t("tab_offline");
    $("tab-me").textContent = t("tab_me");
    document.querySelector(".skip").textContent = t("skip");
    const sandbox = $("sandbox-banner"); // sandbox mode only, with its text in each language
    if (sandbox && sandbox.getAttribute("data-text-" + locale)) {
      sandbox.textContent = sandbox.getAttribute("data-text-" + locale);
    }
    if (state.trouble) $("network-banner").textContent = troubleText(state.trouble);
  }
  const SCREENS = { home: showHome, offline: showOffline, me: showMe };

  // The activation code travels in the fragment, which no server sees; it is dropped from the
  // address bar and the history at once. true if the address had one.
  function takeActivationLink() {
    const code = new URLSearchParams(location.hash.slice(1)).get("activation");
    if (!code) return false;
    state.pendingActivation = code;
    history.replaceState(null, "", location.pathname + location.search);
    return true;
  }
  const supported = () => window.isSecureContext && window.crypto && crypto.subtle && window.indexedDB;

  function showUnsupported() {
    show("unsupported", (main) => main.append(el("h1", { text: t("unsupported") })), showUnsupported);
  }

  async function start() {
    const query = new URLSearchParams(location.search);
    locale = query.get("ui_locales") === "en" ? "en" : (localStorage.getItem("santeid-ecps-lang") || "fr");
    applyLanguage();
    $("lang-toggle").addEventListener("click", () => {
      locale = locale === "fr" ? "en" : "fr";
      localStorage.setItem("santeid-ecps-lang", locale);
      applyLanguage();
      if (state.redraw) state.redraw();
    });
    for (const tab of document.querySelectorAll("#tabs button")) {
      tab.addEventListener("click", () => SCREENS[tab.dataset.screen]());
    }
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("sw.js", { scope: "./" }).catch(() => {});
      // A push arrived while the app is open: look at once rather than at the end of the wait.
      navigator.serviceWorker.addEventListener("message", (event) => {
        if (event.data && event.data.type === "request" && polling) restartPolling();
      });
    }
    takeActivationLink();
    // An activation link opened while the app is open in this tab changes only the fragment.
    window.addEventListener("hashchange", () => { if (takeActivationLink() && supported()) showActivate(); });
    if (!supported()) {
      showUnsupported();
      return;
    }
    state.device = (await load("device")) || null;
    if (!state.device) { showActivate(); return; }
    // An activation link opened on a phone that holds an e-CPS: the activation screen, but
    // that e-CPS's requests keep arriving (and are said there) until it is replaced.
    if (state.pendingActivation) showActivate(); else showHome();
    try {
      const info = await call("GET", "/me", { device: state.device });
      if (info.status !== "active") { markInactive(info.status === "revoked" ? "revoked" : "locked"); return; }
    } catch (failure) {
      if (failure instanceof ApiError && INACTIVE.includes(failure.code)) {
        markInactive(failure.code === "device_revoked" ? "revoked" : "locked"); return;
      }
      setTrouble(failure);
      if (state.screen === "home") showHome();
    }
    startPolling();
    window.addEventListener("online", () => { if (polling) restartPolling(); });
    // The banner follows the phone's network at once (troubleText reads navigator.onLine);
    // the polls go on retrying either way.
    for (const change of ["online", "offline"]) {
      window.addEventListener(change, () => { if (state.trouble) setTrouble(state.trouble); });
    }
  }
  document.addEventListener("DOMContentLoaded", () => {
    start().catch((error) => { $("screen").replaceChildren(el("p", { class: "error", text: String(error) })); });
  });
})();
