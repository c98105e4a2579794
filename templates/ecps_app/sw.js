// Service worker of the e-CPS app (docs/ecps-app.md). It caches the app shell so the app starts
// without network (the offline code needs none), and shows Web Push notifications (RFC 8030)
// when a login request arrives while the app is closed. The device API is never cached.
"use strict";

const VERSION = "__SHELL_VERSION__";
const CACHE = "santeid-ecps-app-" + VERSION;
const SHELL = ["./", "app.js", "app.css", "manifest.webmanifest", "icon-192.png", "icon-512.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("santeid-ecps-app-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const scope = new URL(self.registration.scope);
  if (event.request.method !== "GET" || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) {
    return; // the device API and everything else: straight to the network
  }
  // Network first (a new shell shows at once when online), the cached shell when offline.
  const key = url.pathname === scope.pathname ? "./" : event.request;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(event.request);
      if (response.ok) await cache.put(key, response.clone());
      return response;
    } catch (error) {
      const cached = await cache.match(key, { ignoreSearch: true });
      if (cached) return cached;
      throw error;
    }
  })());
});

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (error) { data = {}; }
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of windows) client.postMessage({ type: "request", request_id: data.request_id });
    await self.registration.showNotification(data.title || "e-CPS", {
      body: data.body || "",
      tag: data.request_id || "santeid-ecps",
      icon: "icon-192.png",
      data: { url: self.registration.scope },
      requireInteraction: true,
    });
  })());
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of windows) {
      if (client.url.startsWith(self.registration.scope) && "focus" in client) return client.focus();
    }
    return self.clients.openWindow(self.registration.scope);
  })());
});
