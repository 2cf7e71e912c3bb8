// The live page: numbers from /api/stream (Server-Sent Events), the last minutes from
// /api/recent then live, history from /api/sessions, and the person's controls (which need
// the pairing token). Times shown as "for 0:42" tick on the page's clock from the latest
// status; no status for 1.5 s (or the stream failing) greys the numbers and says so.
"use strict";

const PRIORITY = ["steep_incline", "rail_lean", "speed_jump", "abrupt_stop", "rail_hold", "overstride", "no_warmup",
  "sensor_fault"];
// Alarms get the banner, not a card: they are stopped with the safety key, not snoozed.
const ALARM_KINDS = ["unattended_belt"];
const INSTANT_SHOWN_S = 20;   // an instant rule's card stays this long ("12 s ago")
const WINDOW_S = 300;         // the live charts: the last 5 minutes
const STALE_AFTER_MS = 1500;  // no status this long: the numbers are stale
const REOPEN_AFTER_MS = 5000; // ... this long with the stream "open": it is dead, open a new one

// ---- pairing token: from the pairing link's #token=..., kept in this browser ----
const TOKEN_KEY = "treadmill-companion-token";
function takeTokenFromLink() {
  const match = location.hash.match(/token=([A-Za-z0-9_-]+)/);
  if (match) {
    localStorage.setItem(TOKEN_KEY, match[1]);
    history.replaceState(null, "", location.pathname);
  }
}
const token = () => localStorage.getItem(TOKEN_KEY);

// A refusal shows the companion's own reason (a 409 says why nothing was done).
async function refusal(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string" && body.detail) return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg || String(d)).join("; ");
  } catch (error) { /* not JSON */ }
  return "The companion said no (" + response.status + ")";
}
async function post(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  let response;
  try {
    response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}) });
  } catch (error) {
    toast("No connection to the companion");
    return false;
  }
  if (response.status === 401 || response.status === 403) {
    toast("Pair this phone first (treadmill-companion pair)");
    $("pairing").scrollIntoView({ behavior: "smooth" });
    return false;
  }
  if (!response.ok) {
    toast(await refusal(response));
    return false;
  }
  return true;
}

async function checkPairing() {
  const state = $("pair-state");
  if (!token()) {
    $("unpair").hidden = true;
    return;
  }
  try {
    const response = await fetch("/api/pair/check", { headers: { Authorization: "Bearer " + token() } });
    const paired = response.ok;
    state.textContent = paired ? "Paired: the buttons work on this phone."
      : "This phone's pairing is no longer valid: open a new pairing link.";
    state.dataset.paired = paired ? "yes" : "no";
    $("unpair").hidden = false;
  } catch (error) { /* offline: try again on the next connection */ }
}

// Toasts sit at the foot of the nudge region: they never cover a number.
let toastTimer = null;
function toast(text) {
  const element = $("toast");
  element.textContent = text;
  element.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { element.hidden = true; }, 4000);
}
function announce(text) { $("announce").textContent = text; }

// ---- theme ----
const THEME_KEY = "treadmill-companion-theme";
function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}
applyTheme(localStorage.getItem(THEME_KEY));
$("theme").addEventListener("click", () => {
  const dark = document.documentElement.dataset.theme === "dark" ||
    (!document.documentElement.dataset.theme && matchMedia("(prefers-color-scheme: dark)").matches);
  const next = dark ? "light" : "dark";
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
  rebuildCharts();
});
// Following the phone's own light or dark: the charts take their colours when built.
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  if (!document.documentElement.dataset.theme) rebuildCharts();
});

// ---- formatting ----
function clock(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.floor(seconds)), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? h + ":" + two(m) + ":" + two(r) : two(m) + ":" + two(r);
}
function short(seconds) {  // "0:42", "12:05", "1:02:03"
  const s = Math.max(0, Math.floor(seconds)), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? h + ":" + two(m) + ":" + two(r) : m + ":" + two(r);
}
function ago(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return s < 60 ? s + " s ago" : short(s) + " ago";
}
const mph = () => unitLabel === "mph";

// ---- the daemon's clock, as the page sees it ----
let last = null;          // the latest status
let lastStatusAt = 0;     // Date.now() when it came
const pageStartedAt = Date.now();
// Now on status.t's clock: the snapshot's time, its age when served, and the time since.
function daemonNow() {
  if (!last) return null;
  return last.t + ((last.loop && last.loop.age_ms) || 0) / 1000 + (Date.now() - lastStatusAt) / 1000;
}

// ---- charts (uPlot) ----
const series = { t: [], speed: [], incline: [], left: [], right: [] };
let charts = [];
let weekly = null, weeklyData = [[], []];

function chartWidth() { return Math.max(260, ($("chart-speed").clientWidth || 320)); }
// Minutes ago on a fixed 5-minute axis: "-5 min" ... "-1 min", "now"; never a repeated label.
function agoLabel(v) { return v === 0 ? "now" : "-" + Math.round(Math.abs(v) / 60) + " min"; }
function axisColors() { return { stroke: css("--muted"), grid: { stroke: css("--line") }, ticks: { stroke: css("--line") } }; }
function lineChart(element, labels, unit, colors, floor) {
  return new uPlot({
    width: chartWidth(), height: 130, legend: { show: true, live: false }, cursor: { show: false },
    scales: { x: { time: false, range: () => [-WINDOW_S, 0] },
      // From zero up to at least `floor`, so a flat line sits where it belongs.
      y: { range: (u, min, max) => [Math.min(0, min ?? 0), Math.max(floor, (max ?? 0) * 1.1)] } },
    axes: [
      { ...axisColors(), incrs: [60, 120, 300], space: 40, values: (u, splits) => splits.map(agoLabel) },
      { ...axisColors(), size: 44 },
    ],
    series: [{ label: "time" }, ...labels.map((label, i) => ({ label: label + " (" + unit + ")", stroke: colors[i],
      width: 2, points: { show: false } }))],
  }, [[], ...labels.map(() => [])], element);
}
function rebuildCharts() {
  charts.forEach((c) => c.destroy());
  ["chart-speed", "chart-incline", "chart-rails"].forEach((id) => { $(id).textContent = ""; });
  charts = [
    lineChart($("chart-speed"), ["speed"], unitLabel, [css("--speed")], 6),
    lineChart($("chart-incline"), ["incline"], "%", [css("--incline")], 5),
    lineChart($("chart-rails"), ["left", "right"], "N", [css("--left"), css("--right")], 20),
  ];
  if (weekly) weekly.destroy();
  $("chart-weekly").textContent = "";
  weekly = new uPlot({
    width: chartWidth(), height: 130, legend: { show: false }, cursor: { show: false },
    scales: { x: { time: false } },
    axes: [
      { ...axisColors(), grid: { show: false }, incrs: [1, 2, 4],
        values: (u, ticks) => ticks.map((v) => (weeklyData.labels || [])[Math.round(v)] || "") },
      { ...axisColors(), size: 44, label: "min/week" },
    ],
    series: [{}, { label: "minutes", fill: css("--accent"), stroke: css("--accent"),
      paths: uPlot.paths.bars({ size: [0.7, 60] }), points: { show: false } }],
  }, weeklyData, $("chart-weekly"));
  drawCharts();
}
function drawCharts() {
  if (!charts.length || !series.t.length) return;
  const now = series.t[series.t.length - 1];
  const x = series.t.map((t) => t - now);
  charts[0].setData([x, series.speed]);
  charts[1].setData([x, series.incline]);
  charts[2].setData([x, series.left, series.right]);
}
function trimSeries(now) {
  while (series.t.length && series.t[0] < now - WINDOW_S) Object.values(series).forEach((a) => a.shift());
}
// The last minutes from the daemon, then the live points already kept after them.
async function loadRecent() {
  try {
    const response = await fetch("/api/recent?seconds=" + WINDOW_S);
    if (!response.ok) return;
    const recent = await response.json();
    const lastKept = recent.samples.length ? recent.samples[recent.samples.length - 1].t : -Infinity;
    const fresh = { t: [], speed: [], incline: [], left: [], right: [] };
    for (const s of recent.samples) {
      fresh.t.push(s.t); fresh.speed.push(s.speed); fresh.incline.push(s.incline_pct);
      fresh.left.push(s.rail_left_n); fresh.right.push(s.rail_right_n);
    }
    series.t.forEach((t, i) => {
      if (t > lastKept) { Object.keys(fresh).forEach((key) => fresh[key].push(series[key][i])); }
    });
    Object.keys(series).forEach((key) => { series[key] = fresh[key]; });
    if (series.t.length) trimSeries(series.t[series.t.length - 1]);
    drawCharts();
  } catch (error) { /* offline: the next connection loads it */ }
}
function resizeCharts() {
  charts.concat(weekly ? [weekly] : []).forEach((c) => c.setSize({ width: chartWidth(), height: 130 }));
}
window.addEventListener("resize", resizeCharts);

// ---- live status ----
let unitLabel = "km/h";
let lastChartAt = 0;
let sessionWas = undefined;

// Not the workout's: the MQTT link's fault and the belt's maintenance, small, below the nudges.
function showNotices(status) {
  const lines = [];
  for (const fault of status.faults || []) {
    if (fault.channel === "mqtt") lines.push(`Home Assistant link: ${fault.reason}`);
  }
  if (status.usage && status.usage.hint) lines.push(`Maintenance: ${status.usage.hint}`);
  const text = lines.join("\n");
  const list = $("notices");
  if (list.dataset.text === text) return;
  list.dataset.text = text;
  list.replaceChildren(...lines.map((line) => Object.assign(document.createElement("li"), { textContent: line })));
  list.hidden = lines.length === 0;
}

function onStatus(status) {
  const first = !last;
  last = status;
  lastStatusAt = Date.now();
  setStale(false);
  if (status.units && status.units !== unitLabel) {
    unitLabel = status.units;
    $("speed-unit").textContent = unitLabel;
    $("distance-unit").textContent = mph() ? "mi" : "km";
    $("pace-unit").textContent = mph() ? "/mi" : "/km";
    $("elevation-unit").textContent = mph() ? "ft" : "m";
    rebuildCharts();
  }
  $("demo").hidden = !status.demo;
  showNotices(status);
  $("speed").textContent = fixed(status.speed, 1);
  $("incline").textContent = fixed(status.incline_pct, 1);
  const session = status.session;
  const elapsed = $("elapsed");
  elapsed.textContent = session ? short(session.elapsed_s) : "–";
  elapsed.classList.toggle("long", elapsed.textContent.length > 5);
  const km = session ? session.distance_m / 1000 : null;
  $("distance").textContent = km === null ? "–" : fixed(mph() ? km / KM_PER_MI : km, 2);
  $("pace").textContent = status.pace_s == null ? "–" : short(status.pace_s);
  const climbed = session && session.elevation_gain_m != null ? session.elevation_gain_m : null;
  $("elevation").textContent = climbed === null ? "–" : fixed(mph() ? climbed * FT_PER_M : climbed, 0);
  $("calories").textContent = session && session.energy_kcal != null ? fixed(session.energy_kcal, 0) : "–";
  const massHint = $("mass-hint");
  massHint.hidden = !status.body_mass_assumed;
  if (status.body_mass_assumed) massHint.textContent = "(" + fixed(status.body_mass_kg ?? 70, 0) + " kg assumed)";
  $("cadence").textContent = fixed(status.cadence_spm, 0);  // 0 is nobody stepping: shown as 0, not a dash
  $("footstrike").textContent = fixed(status.footstrike_g, 2);
  showRails(status);

  if (!series.t.length || status.t - series.t[series.t.length - 1] >= 1) {
    series.t.push(status.t);
    series.speed.push(status.speed);
    series.incline.push(status.incline_pct);
    series.left.push(status.rail_left_n);
    series.right.push(status.rail_right_n);
    trimSeries(status.t);
  }
  if (Date.now() - lastChartAt > 1000) { lastChartAt = Date.now(); drawCharts(); }

  showAlarm(status);
  showRamp(status);
  showAlerts(status);
  showSim(status);
  showEvents(status.events || []);
  tick();
  // A session ended (or began): the history changes.
  const running = !!session;
  if (!first && sessionWas !== undefined && running !== sessionWas) loadHistory(true);
  sessionWas = running;
  holdScreen(running);
}

function showRails(status) {
  const left = status.rail_left_n, right = status.rail_right_n;
  const lean = status.rail_lean_n || 80;
  const full = Math.max(150, lean * 2);
  const pct = (n) => Math.min(100, Math.max(0, (n || 0) / full * 100));
  const l = pct(left), r = Math.min(100 - l, pct(right));
  $("rail-left").style.width = l + "%";
  $("rail-right").style.left = l + "%";
  $("rail-right").style.width = r + "%";
  $("lean-mark").style.left = pct(lean) + "%";
  $("lean-label").textContent = "lean " + Math.round(lean) + " N";
  const gauge = $("rail-gauge");
  const total = left === null || right === null || left === undefined || right === undefined ? null : left + right;
  gauge.setAttribute("aria-valuemax", String(Math.round(full)));
  gauge.setAttribute("aria-valuenow", String(Math.round(total || 0)));
  gauge.dataset.leaning = total !== null && total >= lean ? "yes" : "no";
  $("rail-total").textContent = total === null ? "– N" : Math.round(total) + " N";
}

let alarmDetail = null;
function showAlarm(status) {
  const alarm = (status.alerts || []).find((alert) => ALARM_KINDS.includes(alert.kind));
  $("alarm").hidden = !alarm;
  const detail = alarm ? (alarm.message ? alarm.message + " " : "") + "The phone cannot silence it." : "";
  if (detail !== alarmDetail) { alarmDetail = detail; $("alarm-detail").textContent = detail; }  // announced once
}

// ---- the ramp: announced with its countdown and the one button that defers it ----
const RAMP_TITLES = {
  ramping: "Bringing the incline down", stopping: "Stopping the ramp", deferred: "Incline ramp-down deferred",
  blocked: "Cannot ramp the incline down", done: "Incline ramp-down done", not_needed: "No ramp-down needed",
  cancelled: "Incline ramp-down cancelled", stopped: "Incline ramp-down stopped", failed: "Incline ramp-down failed",
  unconfirmed: "Incline ramp-down unconfirmed",
};
let rampShown = null;
function rampOffersLeave(status) {
  return !!status.ramp && (status.ramp.state === "announced" || status.ramp.state === "ramping");
}
function showRamp(status) {
  const ramp = status.ramp;
  const shown = ramp && ramp.state !== "idle" && ramp.state !== "waiting";
  $("ramp").hidden = !shown;
  if (!shown) { rampShown = null; return; }
  const card = $("ramp");
  card.dataset.state = ramp.state;
  if (ramp.state !== rampShown) {
    rampShown = ramp.state;
    const title = $("ramp-title");
    title.textContent = "";
    if (ramp.state === "announced") {
      const countdown = document.createElement("span");
      countdown.className = "ramp-countdown";
      countdown.id = "ramp-countdown";
      title.append("Incline down in ", countdown);
      announce("The incline comes down to " + ramp.target_pct + " % in " + Math.round((ramp.due_t ?? status.t) - status.t) +
        " seconds unless you leave it");
    } else {
      title.textContent = RAMP_TITLES[ramp.state] || "Incline ramp-down " + ramp.state;
    }
  }
  let text;
  if (ramp.state === "announced") {
    text = "To " + ramp.target_pct + " % at " + ramp.rate_pct_s + " %/s, unless you leave the incline.";
  } else if (ramp.state === "ramping") {
    text = "To " + ramp.target_pct + " %" + (status.incline_pct != null ? "; now " + fixed(status.incline_pct, 1) + " %" : "") +
      ". Any console key stops it too.";
  } else {
    text = ramp.reason || "";
  }
  if ($("ramp-text").textContent !== text) $("ramp-text").textContent = text;
  $("ramp-leave").hidden = !rampOffersLeave(status);
  $("ramp-stop").hidden = ramp.state !== "ramping";
}

// ---- the alerts: every active one, and the instants of the last 20 s, each with its time ----
function nudgeState(status, kind) { return (status.nudges && status.nudges[kind]) || null; }
function activeAlerts(status) {
  const cards = [];
  for (const alert of status.alerts || []) {
    if (ALARM_KINDS.includes(alert.kind)) continue;
    const nudge = nudgeState(status, alert.kind);
    const channel = alert.detail && alert.detail.channel;
    cards.push({ key: alert.kind + (channel ? ":" + channel : ""), kind: alert.kind, message: alert.message,
      since: alert.since_t, instant: false, snoozed_s: nudge ? nudge.snoozed_s : 0,
      acknowledged: !!(nudge && nudge.acknowledged), channel });
  }
  for (const event of status.events || []) {
    if (event.phase !== "instant" || status.t - event.t >= INSTANT_SHOWN_S || ALARM_KINDS.includes(event.kind)) continue;
    const nudge = nudgeState(status, event.kind);
    cards.push({ key: event.kind + "@" + event.t, kind: event.kind, message: event.message, since: event.t,
      instant: true, snoozed_s: nudge ? nudge.snoozed_s : 0, acknowledged: false });
  }
  const rank = (c) => (c.snoozed_s > 0 || c.acknowledged ? 100 : 0) + PRIORITY.indexOf(c.kind);
  return cards.sort((a, b) => rank(a) - rank(b) || b.since - a.since);
}
let cardsKey = "";
function showAlerts(status) {
  const cards = activeAlerts(status);
  const offersLeave = rampOffersLeave(status);
  const key = cards.map((c) => c.key + (c.snoozed_s > 0 ? "z" : "") + (c.acknowledged ? "a" : "")).join("|") +
    "/" + offersLeave;
  $("calm").hidden = cards.length > 0 || !$("ramp").hidden;
  if (key === cardsKey) return;  // the same cards: only their times change (tick), the buttons stay put
  cardsKey = key;
  const list = $("alerts");
  list.textContent = "";
  for (const card of cards) {
    const quiet = card.snoozed_s > 0 || card.acknowledged;
    const item = document.createElement("li");
    item.className = "alert-card";
    item.dataset.kind = card.kind;
    item.dataset.quiet = quiet ? "yes" : "no";
    const head = document.createElement("div");
    head.className = "alert-head";
    const kind = document.createElement("p");
    kind.className = "alert-kind";
    kind.textContent = (KIND_NAMES[card.kind] || card.kind) + (card.channel ? " (" + card.channel + ")" : "");
    const when = document.createElement("span");
    when.className = "alert-for";
    when.dataset.since = String(card.since);
    when.dataset.instant = card.instant ? "yes" : "no";
    head.append(kind, when);
    item.append(head);
    if (quiet) {
      const state = document.createElement("span");
      state.className = "alert-state";
      state.textContent = card.acknowledged ? "you said leave it" : "snoozed";
      item.append(state);
    }
    const message = document.createElement("p");
    message.className = "alert-message";
    message.textContent = card.message;
    const actions = document.createElement("div");
    actions.className = "actions";
    const snooze = document.createElement("button");
    snooze.type = "button";
    snooze.className = "snooze";
    snooze.textContent = "Snooze 10 min";
    snooze.addEventListener("click", async () => {
      if (await post("/api/nudges/" + card.kind + "/snooze", { minutes: 10 })) toast("Snoozed for 10 minutes");
    });
    actions.append(snooze);
    // (While the ramp card offers "Leave the incline", it is the one button for it.)
    if (card.kind === "steep_incline" && !offersLeave) {
      const ack = document.createElement("button");
      ack.type = "button";
      ack.className = "ack primary";
      ack.textContent = "I know, leave it (no ramp-down)";
      ack.addEventListener("click", async () => {
        if (await post("/api/nudges/steep_incline/acknowledge")) toast("Understood: no ramp-down for this climb");
      });
      actions.append(ack);
    }
    item.append(message, actions);
    list.append(item);
  }
  tick();
}

// ---- the page's clock: every time shown ticks from the latest status ----
function tick() {
  const now = daemonNow();
  if (now === null) return;
  for (const element of document.querySelectorAll(".alert-for")) {
    const since = Number(element.dataset.since);
    const text = element.dataset.instant === "yes" ? ago(now - since) : "for " + short(now - since);
    if (element.textContent !== text) element.textContent = text;
  }
  for (const element of document.querySelectorAll("#events time[data-t]")) {
    const text = ago(now - Number(element.dataset.t));
    if (element.textContent !== text) element.textContent = text;
  }
  const countdown = $("ramp-countdown");
  if (countdown && last && last.ramp && last.ramp.due_t != null) {
    const text = short(Math.max(0, Math.ceil(last.ramp.due_t - now)));
    if (countdown.textContent !== text) countdown.textContent = text;
  }
  if (stale) {
    const text = "(no data for " + short((Date.now() - (lastStatusAt || pageStartedAt)) / 1000) + ")";
    if ($("stale-for").textContent !== text) $("stale-for").textContent = text;
  }
}

// ---- the virtual treadmill: the controls follow the real state unless a finger is on them ----
const held = { speed: 0, incline: 0 };  // > Date.now(): the person's value stands until then
function follow(input, output, value, step, key) {
  if (held[key] > Date.now() || value === null || value === undefined) return;
  const snapped = Math.round(value / step) * step;
  if (Number(input.value) !== snapped) input.value = String(snapped);
  const text = input.value;
  if (output.textContent !== text) output.textContent = text;
}
function showSim(status) {
  $("sim").hidden = !status.sim;
  if (!status.sim) return;
  const sim = status.sim, hold = sim.held || {};
  const text = "Scenario \u201c" + sim.scenario + "\u201d: " + sim.step +
    (sim.controlled ? " (your controls hold the belt until \u201cBack to the scenario\u201d)" : "");
  if ($("sim-step").textContent !== text) $("sim-step").textContent = text;
  follow($("sim-speed"), $("sim-speed-out"), hold.speed_kmh ?? status.speed_kmh, 0.5, "speed");
  follow($("sim-incline"), $("sim-incline-out"), hold.incline_pct ?? status.incline_pct, 1, "incline");
  $("sim-lean").setAttribute("aria-pressed", String(!!hold.lean));
  $("sim-resume").disabled = !sim.controlled;
}
function simSlider(id, key, field) {
  const input = $(id);
  const grab = () => { held[key] = Infinity; };
  input.addEventListener("pointerdown", grab);
  input.addEventListener("input", () => { grab(); $(id + "-out").textContent = input.value; });
  input.addEventListener("change", async () => {
    held[key] = Infinity;
    const ok = await post("/api/sim", { [field]: Number(input.value) });
    // Accepted: the person's value stands until the next snapshots carry it; refused: back now.
    held[key] = ok ? Date.now() + 1500 : 0;
    if (!ok && last) showSim(last);
  });
}
simSlider("sim-speed", "speed", "speed_kmh");
simSlider("sim-incline", "incline", "incline_pct");
$("sim-lean").addEventListener("click", async (e) => {
  const lean = e.target.getAttribute("aria-pressed") !== "true";
  if (await post("/api/sim", { lean })) e.target.setAttribute("aria-pressed", String(lean));
});
$("sim-resume").addEventListener("click", async () => {
  if (await post("/api/sim", { resume: true })) { held.speed = held.incline = 0; toast("Back to the scenario"); }
});

let shownEvents = "";
function showEvents(events) {
  const key = events.map((e) => e.t + e.kind + e.phase).join("|");
  if (key === shownEvents) return;
  shownEvents = key;
  const list = $("events");
  list.textContent = "";
  for (const event of events.slice().reverse().slice(0, 8)) {
    const item = document.createElement("li");
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = (KIND_NAMES[event.kind] || event.kind) + (event.phase === "end" ? " (over)" : "");
    const when = document.createElement("time");
    when.dataset.t = String(event.t);
    item.append(kind, " ", when, event.message);
    list.append(item);
  }
  tick();
}

// ---- the stream, with reconnection, and the stale state ----
let source = null;
let stale = false;
function setConnection(state) {
  const element = $("conn");
  if (element.dataset.state === state) return;
  element.dataset.state = state;
  element.textContent = { live: "live", connecting: "connecting…", stale: "no live data" }[state];
}
function setStale(value) {
  if (value === stale && (value || $("conn").dataset.state === "live")) return;
  stale = value;
  $("dash").dataset.stale = value ? "yes" : "no";
  $("stale").hidden = !value;
  setConnection(value ? "stale" : "live");
  if (value) tick();
}
function connect() {
  if (source) source.close();
  source = new EventSource("/api/stream");
  source.addEventListener("status", (message) => onStatus(JSON.parse(message.data)));
  source.addEventListener("rule", (message) => {
    const event = JSON.parse(message.data);
    if (event.phase !== "end") announce((KIND_NAMES[event.kind] || event.kind) + ": " + event.message);
    if (event.kind !== "sensor_fault" && event.phase !== "start") loadHistory(true);
  });
  source.onopen = () => { checkPairing(); loadHistory(true); loadRecent(); };
  source.onerror = () => {
    setStale(true);
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  };
}
setInterval(() => {
  const quietMs = Date.now() - (lastStatusAt || pageStartedAt);
  if (quietMs > STALE_AFTER_MS && !stale) setStale(true);
  // A stream that stays "open" but brings nothing (a half-open connection after the Wi-Fi
  // dropped) is replaced; EventSource reconnects by itself only when it sees the error.
  if (quietMs > REOPEN_AFTER_MS && source && source.readyState === EventSource.OPEN) connect();
  if (stale && quietMs > 60_000) holdScreen(false);  // the companion is gone: let the screen sleep
  tick();
}, 250);

// ---- history ----
let sessionsShown = 0;
let historyRetries = 0;
let historyLoading = null;
function loadHistory(fresh) {
  if (fresh && historyLoading) { historyLoading.again = true; return; }
  const run = (async () => {
    try {
      const offset = fresh ? 0 : sessionsShown;
      const [page, weeks] = await Promise.all([
        fetch("/api/sessions?limit=10&offset=" + offset).then((r) => r.json()),
        fresh ? fetch("/api/weekly?weeks=8").then((r) => r.json()) : Promise.resolve(null),
      ]);
      const list = $("sessions");
      if (fresh) { list.textContent = ""; sessionsShown = 0; }
      for (const s of page.sessions) {
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = "/session/" + s.id;
        const when = document.createElement("span");
        when.className = "when";
        when.textContent = new Date(s.started_at).toLocaleString() +
          (s.interrupted ? " (interrupted)" : s.ended_at ? "" : " (now)");
        const km = s.distance_m / 1000;
        const nudges = Object.entries(s.rules).filter(([, v]) => v.count).map(([k, v]) => (KIND_NAMES[k] || k) + " ×" + v.count);
        const cadence = s.cadence_avg_spm == null ? "" : " · " + fixed(s.cadence_avg_spm, 0) + " steps/min";
        const kcal = s.energy_kcal == null ? "" : " · " + fixed(s.energy_kcal, 0) + " kcal";
        const open = document.createElement("span");
        open.className = "open";
        open.textContent = "details";
        link.append(when, clock(s.duration_s) + " · " + fixed(mph() ? km / KM_PER_MI : km, 2) + (mph() ? " mi" : " km") +
          cadence + kcal + (nudges.length ? " · " + nudges.join(", ") : "") + " · ", open);
        item.append(link);
        list.append(item);
      }
      sessionsShown += page.sessions.length;
      $("more").hidden = sessionsShown >= page.total;
      // The belt has stopped but the newest session is not closed in the history yet (the
      // sampler writes it just after): ask again shortly, a few times.
      const open = fresh && page.sessions.length && !page.sessions[0].ended_at && last && !last.session;
      historyRetries = open ? historyRetries + 1 : 0;
      if (open && historyRetries <= 5) setTimeout(() => loadHistory(true), 1000);
      if (weeks) {
        weeklyData = [weeks.map((w, i) => i), weeks.map((w) => w.minutes)];
        weeklyData.labels = weeks.map((w) => w.week_start.slice(5));
        if (weekly) weekly.setData(weeklyData);
      }
    } catch (error) { /* offline: the next connection reloads it */ }
  })();
  if (!fresh) return;
  historyLoading = run;
  run.finally(() => {
    const again = historyLoading && historyLoading.again;
    historyLoading = null;
    if (again) loadHistory(true);  // a session ended while the list was loading
  });
}

// ---- the screen stays on during a session (Screen Wake Lock), re-asked when the page is shown again ----
let wakeLock = null, wantAwake = false, wakeAsking = false, wakeRefusedAt = 0;
async function holdScreen(want) {
  wantAwake = want;
  if (!("wakeLock" in navigator)) { holdScreenByVideo(want); return; }  // not offered outside a secure context
  if (want && !wakeLock && !wakeAsking && document.visibilityState === "visible" && Date.now() - wakeRefusedAt > 10_000) {
    wakeAsking = true;
    try {
      const lock = await navigator.wakeLock.request("screen");
      lock.addEventListener("release", () => { if (wakeLock === lock) wakeLock = null; });
      wakeLock = lock;
      if (!wantAwake) { wakeLock = null; lock.release().catch(() => {}); }
    } catch (error) {
      wakeRefusedAt = Date.now();  // refused (battery saver, a hidden page): asked again a little later
    } finally {
      wakeAsking = false;
    }
  } else if (!want && wakeLock) {
    const lock = wakeLock;
    wakeLock = null;
    lock.release().catch(() => {});
  }
}
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && wantAwake) { wakeRefusedAt = 0; holdScreen(true); }
});

// Without the Wake Lock (a phone on http://<pi>:8080 is not a secure context), NoSleep.js
// (vendored: static/vendor/nosleep) plays a tiny silent looping video, which phones let keep
// the screen on. A video may only start from a tap, so the first tap during a session starts
// it (the page says so); it is stopped when the session ends.
let noSleep = null, noSleepOn = false;
function holdScreenByVideo(want) {
  if (typeof NoSleep === "undefined") return;
  if (!noSleep) noSleep = new NoSleep();
  if (!want && noSleepOn) { noSleep.disable(); noSleepOn = false; }
  $("screen-tap").hidden = !(want && !noSleepOn);
}
function startVideoOnTap() {
  if (!wantAwake || noSleepOn || !noSleep || "wakeLock" in navigator) return;
  noSleep.enable().then(() => {
    noSleepOn = true;
    if (!wantAwake) holdScreenByVideo(false);  // the session ended while it started
    $("screen-tap").hidden = true;
  }, () => {});
}
document.addEventListener("pointerdown", startVideoOnTap, { capture: true });
document.addEventListener("keydown", startVideoOnTap, { capture: true });

// ---- full screen, where the browser offers it ----
if (document.fullscreenEnabled) {
  const button = $("fullscreen");
  button.hidden = false;
  button.addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else document.documentElement.requestFullscreen({ navigationUI: "hide" }).catch(() => toast("Full screen refused"));
  });
  document.addEventListener("fullscreenchange", () => {
    button.setAttribute("aria-pressed", String(!!document.fullscreenElement));
    button.setAttribute("aria-label", document.fullscreenElement ? "leave full screen" : "full screen");
  });
}

// ---- installable: the service worker keeps the page's files for when the Pi is out of reach ----
if ("serviceWorker" in navigator) {
  window.addEventListener("load", () => { navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {}); });
}

$("more").addEventListener("click", () => loadHistory(false));
$("pair-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = $("pair-token").value.trim().replace(/^.*token=/, "");
  if (value) { localStorage.setItem(TOKEN_KEY, value); $("pair-token").value = ""; checkPairing(); }
});
$("unpair").addEventListener("click", () => {
  localStorage.removeItem(TOKEN_KEY);
  $("pair-state").textContent = "Not paired.";
  $("unpair").hidden = true;
});
$("ramp-leave").addEventListener("click", async () => {
  if (await post("/api/nudges/steep_incline/acknowledge")) toast("Understood: the incline stays for this climb");
});
$("ramp-stop").addEventListener("click", async () => {
  if (await post("/api/ramp/stop")) toast("Stopping the ramp");
});

// For the browser tests and anyone curious in the console: the charts and the screen lock.
window.treadmillPage = {
  get charts() { return charts; }, get wakeLock() { return wakeLock; }, get stale() { return stale; },
  get screenVideo() { return noSleep && noSleep.noSleepVideo ? { on: noSleepOn, paused: noSleep.noSleepVideo.paused } : null; },
};

takeTokenFromLink();
window.addEventListener("hashchange", () => { takeTokenFromLink(); checkPairing(); });
rebuildCharts();
loadRecent();
connect();
