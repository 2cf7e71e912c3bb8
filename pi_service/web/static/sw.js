// The service worker: keeps the page's own files so that the page opens with the Pi out of
// reach (it then says "No live data" and reconnects). Network first, so a new version is
// taken at once while the Pi answers; the cache only when it does not. Nothing under /api/
// is ever cached or answered from here: live numbers and history always come from the Pi.
"use strict";

const CACHE = "treadmill-companion-v1";
const SHELL = [
  "/", "/static/common.js", "/static/app.js", "/static/app.css", "/static/session.html", "/static/session.js",
  "/static/vendor/uplot/uPlot.iife.min.js", "/static/vendor/uplot/uPlot.min.css", "/static/vendor/nosleep/NoSleep.min.js",
  "/manifest.webmanifest", "/static/icons/icon.svg", "/static/icons/icon-192.png", "/static/icons/icon-512.png",
];
const NETWORK_WAIT_MS = 3000;  // a Wi-Fi that drops packets instead of refusing: give up and use the cache

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
    .then(() => self.clients.claim()));
});

function cachedFor(request, url) {
  // Every /session/{id} is the same page (it reads its id from the address).
  const key = url.pathname.startsWith("/session/") ? "/static/session.html" : url.pathname;
  return caches.match(key).then((hit) => hit || caches.match(request));
}

function networkFirst(request, url) {
  const fetched = fetch(request).then((response) => {
    if (response.ok && SHELL.includes(url.pathname)) {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
    }
    return response;
  });
  const timeout = new Promise((resolve, reject) => setTimeout(() => reject(new Error("slow")), NETWORK_WAIT_MS));
  return Promise.race([fetched, timeout]).catch(() => cachedFor(request, url).then((hit) => hit || fetched));
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/")) return;  // never cached: the browser asks the Pi itself
  const shell = SHELL.includes(url.pathname) || url.pathname.startsWith("/session/");
  if (!shell) return;  // the API docs and anything else: straight to the Pi
  event.respondWith(networkFirst(request, url));
});
