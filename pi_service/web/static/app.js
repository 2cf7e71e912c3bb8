// The phone page: live numbers from /api/stream (Server-Sent Events), charts with uPlot,
// history from /api/sessions, and the person's controls (which need the pairing token).
"use strict";

const $ = (id) => document.getElementById(id);
const KIND_NAMES = {
  rail_lean: "Leaning on the rails", rail_hold: "Holding the rails", steep_incline: "Steep climb",
  speed_jump: "Speed jump", no_warmup: "No warm-up", abrupt_stop: "Abrupt stop", sensor_fault: "Sensor fault",
  unattended_belt: "Belt running, nobody on it", overstride: "Overstriding", incline_ramp: "Incline ramp-down",
};
const PRIORITY = ["steep_incline", "rail_lean", "speed_jump", "abrupt_stop", "rail_hold", "overstride", "no_warmup",
  "sensor_fault"];
// Alarms get the banner, not the nudge card: they are stopped with the safety key, not snoozed.
const ALARM_KINDS = ["unattended_belt"];
const INSTANT_SHOWN_S = 20;
const WINDOW_S = 300;
const RAIL_FULL_N = 150;

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
    toast("The companion said no (" + response.status + ")");
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

let toastTimer = null;
function toast(text) {
  const element = $("toast");
  element.textContent = text;
  element.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { element.hidden = true; }, 4000);
}

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
function fixed(value, digits) { return value === null || value === undefined ? "–" : value.toFixed(digits); }
function clock(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? h + ":" + two(m) + ":" + two(r) : two(m) + ":" + two(r);
}
function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

// ---- charts (uPlot) ----
const series = { t: [], speed: [], incline: [], left: [], right: [] };
let charts = [];
let weekly = null, weeklyData = [[], []];

function chartWidth() { return Math.max(280, $("chart-speed").clientWidth || 320); }
function lineChart(element, label, unit, keys, colors, floor) {
  return new uPlot({
    width: chartWidth(), height: 130, legend: { show: true, live: false }, cursor: { show: false },
    // From zero up to at least `floor`, so a flat line sits where it belongs.
    scales: { x: { time: false }, y: { range: (u, min, max) => [Math.min(0, min ?? 0), Math.max(floor, (max ?? 0) * 1.1)] } },
    axes: [
      { stroke: css("--muted"), grid: { stroke: css("--line") }, values: (u, ticks) => ticks.map((v) => Math.round(v) + " s") },
      { stroke: css("--muted"), grid: { stroke: css("--line") }, size: 44 },
    ],
    series: [{ label: "s ago" }, ...keys.map((key, i) => ({ label: label[i] + " (" + unit + ")", stroke: colors[i], width: 2,
      points: { show: false } }))],
  }, [[], ...keys.map(() => [])], element);
}
function rebuildCharts() {
  charts.forEach((c) => c.destroy());
  ["chart-speed", "chart-incline", "chart-rails"].forEach((id) => { $(id).textContent = ""; });
  charts = [
    lineChart($("chart-speed"), ["speed"], unitLabel, ["speed"], [css("--speed")], 6),
    lineChart($("chart-incline"), ["incline"], "%", ["incline"], [css("--incline")], 5),
    lineChart($("chart-rails"), ["left", "right"], "N", ["left", "right"], [css("--left"), css("--right")], 20),
  ];
  if (weekly) weekly.destroy();
  $("chart-weekly").textContent = "";
  weekly = new uPlot({
    width: chartWidth(), height: 130, legend: { show: false }, cursor: { show: false },
    scales: { x: { time: false } },
    axes: [
      { stroke: css("--muted"), grid: { show: false },
        values: (u, ticks) => ticks.map((v) => (weeklyData.labels || [])[Math.round(v)] || "") },
      { stroke: css("--muted"), grid: { stroke: css("--line") }, size: 44, label: "min/week" },
    ],
    series: [{}, { label: "minutes", fill: css("--accent"), stroke: css("--accent"),
      paths: uPlot.paths.bars({ size: [0.7, 60] }), points: { show: false } }],
  }, weeklyData, $("chart-weekly"));
  drawCharts();
}
function drawCharts() {
  if (!charts.length || !series.t.length) return;
  const now = series.t[series.t.length - 1];
  const ago = series.t.map((t) => t - now);
  charts[0].setData([ago, series.speed]);
  charts[1].setData([ago, series.incline]);
  charts[2].setData([ago, series.left, series.right]);
}
window.addEventListener("resize", () => {
  charts.concat(weekly ? [weekly] : []).forEach((c) => c.setSize({ width: chartWidth(), height: 130 }));
});

// ---- live status ----
let unitLabel = "km/h";
let last = null;
let lastStatusAt = 0;
let lastChartAt = 0;

function onStatus(status) {
  last = status;
  lastStatusAt = Date.now();
  setConnection("live");
  if (status.units && status.units !== unitLabel) {
    unitLabel = status.units;
    $("speed-unit").textContent = unitLabel;
    $("distance-unit").textContent = unitLabel === "mph" ? "mi" : "km";
    rebuildCharts();
  }
  $("demo").hidden = !status.demo;
  $("speed").textContent = fixed(status.speed, 1);
  $("incline").textContent = fixed(status.incline_pct, 1);
  const session = status.session;
  $("elapsed").textContent = session ? clock(session.elapsed_s) : "–";
  const km = session ? session.distance_m / 1000 : null;
  $("distance").textContent = km === null ? "–" : fixed(unitLabel === "mph" ? km / 1.609344 : km, 2);
  $("cadence").textContent = fixed(status.cadence_spm, 0);  // 0 is nobody stepping: shown as 0, not a dash
  $("footstrike").textContent = fixed(status.footstrike_g, 2);
  const left = status.rail_left_n, right = status.rail_right_n;
  $("rail-left").style.width = Math.min(100, Math.max(0, (left || 0) / RAIL_FULL_N * 100)) + "%";
  $("rail-right").style.width = Math.min(100, Math.max(0, (right || 0) / RAIL_FULL_N * 100)) + "%";
  $("rail-total").textContent = left === null || right === null ? "– N" : Math.round(left + right) + " N";

  series.t.push(status.t);
  series.speed.push(status.speed);
  series.incline.push(status.incline_pct);
  series.left.push(left);
  series.right.push(right);
  while (series.t.length && series.t[0] < status.t - WINDOW_S) Object.values(series).forEach((a) => a.shift());
  if (Date.now() - lastChartAt > 1000) { lastChartAt = Date.now(); drawCharts(); }

  showAlarm(status);
  showNudge(status);
  showRamp(status);
  showSim(status);
  showEvents(status.events || []);
}

function activeNudge(status) {
  const snoozed = (kind) => status.nudges && status.nudges[kind] && status.nudges[kind].snoozed_s > 0;
  const acknowledged = (kind) => status.nudges && status.nudges[kind] && status.nudges[kind].acknowledged;
  const candidates = [];
  for (const alert of status.alerts || []) {
    if (ALARM_KINDS.includes(alert.kind)) continue;
    if (!snoozed(alert.kind) && !acknowledged(alert.kind)) candidates.push({ kind: alert.kind, message: alert.message });
  }
  for (const event of status.events || []) {
    if (event.phase === "instant" && status.t - event.t < INSTANT_SHOWN_S && !snoozed(event.kind)) {
      candidates.push({ kind: event.kind, message: event.message });
    }
  }
  candidates.sort((a, b) => PRIORITY.indexOf(a.kind) - PRIORITY.indexOf(b.kind));
  return candidates[0] || null;
}
let alarmDetail = null;
function showAlarm(status) {
  const alarm = (status.alerts || []).find((alert) => ALARM_KINDS.includes(alert.kind));
  $("alarm").hidden = !alarm;
  const detail = alarm ? (alarm.message ? alarm.message + " " : "") + "The phone cannot silence it." : "";
  if (detail !== alarmDetail) { alarmDetail = detail; $("alarm-detail").textContent = detail; }  // announced once
}
let nudgeKind = null;
function showNudge(status) {
  const nudge = activeNudge(status);
  $("nudge").hidden = !nudge;
  nudgeKind = nudge ? nudge.kind : null;
  if (!nudge) return;
  $("nudge-kind").textContent = KIND_NAMES[nudge.kind] || nudge.kind;
  $("nudge-message").textContent = nudge.message;
  // (While the ramp card offers "I know, leave it", it is the one button for it.)
  const rampOffers = status.ramp && (status.ramp.state === "announced" || status.ramp.state === "ramping");
  $("ack").hidden = nudge.kind !== "steep_incline" || rampOffers;
}
function showRamp(status) {
  const ramp = status.ramp;
  const shown = ramp && ramp.state !== "idle" && ramp.state !== "waiting";
  $("ramp").hidden = !shown;
  if (!shown) return;
  $("ramp").dataset.state = ramp.state;
  let text;
  if (ramp.state === "announced") {
    // The one button that defers it: "I know, leave it" (acknowledging the climb).
    const left = Math.max(0, Math.ceil(ramp.due_t - status.t));
    text = "The incline comes down to " + ramp.target_pct + " % in " + left + " s (at " + ramp.rate_pct_s +
      " %/s) unless you say to leave it.";
  } else {
    const texts = {
      ramping: "Bringing the incline down: ", stopping: "Stopping the ramp: ", deferred: "Incline ramp-down deferred: ",
      blocked: "Cannot ramp the incline down: ", done: "Incline ramp-down done: ", not_needed: "No ramp-down needed: ",
      cancelled: "Incline ramp-down cancelled: ", stopped: "Incline ramp-down stopped: ",
      failed: "Incline ramp-down failed: ",
    };
    text = (texts[ramp.state] || "Incline ramp-down " + ramp.state + ": ") + ramp.reason;
    if (ramp.state === "ramping" && status.incline_pct != null) text += "; now " + fixed(status.incline_pct, 1) + " %";
  }
  $("ramp-text").textContent = text;
  $("ramp-leave").hidden = ramp.state !== "announced" && ramp.state !== "ramping";
  $("ramp-stop").hidden = ramp.state !== "ramping";
}
function showSim(status) {
  $("sim").hidden = !status.sim;
  if (status.sim) $("sim-step").textContent = "Scenario \u201c" + status.sim.scenario + "\u201d: " + status.sim.step +
    (status.sim.controlled ? " (your controls hold the belt)" : "");
}
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
    when.textContent = last ? clock(Math.max(0, last.t - event.t)) + " ago" : "";
    item.append(kind, " ", when, event.message);
    list.append(item);
  }
}

// ---- the stream, with reconnection ----
let source = null;
function setConnection(state) {
  const element = $("conn");
  if (element.dataset.state === state) return;
  element.dataset.state = state;
  element.textContent = { live: "live", connecting: "connecting…", stale: "no data", offline: "reconnecting…" }[state];
}
function connect() {
  if (source) source.close();
  source = new EventSource("/api/stream");
  source.addEventListener("status", (message) => onStatus(JSON.parse(message.data)));
  source.addEventListener("rule", (message) => {
    const event = JSON.parse(message.data);
    if (event.phase !== "end") toast((KIND_NAMES[event.kind] || event.kind) + ": " + event.message);
    if (event.kind !== "sensor_fault" && event.phase !== "start") loadHistory(true);
  });
  source.onopen = () => { checkPairing(); loadHistory(true); };
  source.onerror = () => {
    setConnection("offline");
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  };
}
setInterval(() => {
  if (lastStatusAt && Date.now() - lastStatusAt > 3000 && $("conn").dataset.state === "live") setConnection("stale");
}, 1000);

// ---- history ----
let sessionsShown = 0;
async function loadHistory(fresh) {
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
      const when = document.createElement("span");
      when.className = "when";
      when.textContent = new Date(s.started_at).toLocaleString() + (s.interrupted ? " (interrupted)" : s.ended_at ? "" : " (now)");
      const km = s.distance_m / 1000;
      const nudges = Object.entries(s.rules).filter(([, v]) => v.count).map(([k, v]) => (KIND_NAMES[k] || k) + " ×" + v.count);
      const cadence = s.cadence_avg_spm == null ? "" : " · " + fixed(s.cadence_avg_spm, 0) + " steps/min";
      item.append(when, clock(s.duration_s) + " · " + fixed(unitLabel === "mph" ? km / 1.609344 : km, 2) +
        (unitLabel === "mph" ? " mi" : " km") + cadence + (nudges.length ? " · " + nudges.join(", ") : ""));
      list.append(item);
    }
    sessionsShown += page.sessions.length;
    $("more").hidden = sessionsShown >= page.total;
    if (weeks) {
      weeklyData = [weeks.map((w, i) => i), weeks.map((w) => w.minutes)];
      weeklyData.labels = weeks.map((w) => w.week_start.slice(5));
      if (weekly) weekly.setData(weeklyData);
    }
  } catch (error) { /* offline: the next connection reloads it */ }
}

// ---- controls ----
$("snooze").addEventListener("click", async () => {
  if (nudgeKind && await post("/api/nudges/" + nudgeKind + "/snooze", { minutes: 10 })) toast("Snoozed for 10 minutes");
});
$("ack").addEventListener("click", async () => {
  if (await post("/api/nudges/steep_incline/acknowledge")) toast("Understood: no ramp-down for this climb");
});
$("ramp-leave").addEventListener("click", async () => {
  if (await post("/api/nudges/steep_incline/acknowledge")) toast("Understood: the incline stays for this climb");
});
$("ramp-stop").addEventListener("click", async () => {
  if (await post("/api/ramp/stop")) toast("Stopping the ramp");
});
$("sim-speed").addEventListener("input", (e) => { $("sim-speed-out").textContent = e.target.value; });
$("sim-speed").addEventListener("change", (e) => post("/api/sim", { speed_kmh: Number(e.target.value) }));
$("sim-incline").addEventListener("input", (e) => { $("sim-incline-out").textContent = e.target.value; });
$("sim-incline").addEventListener("change", (e) => post("/api/sim", { incline_pct: Number(e.target.value) }));
$("sim-lean").addEventListener("click", async (e) => {
  const lean = e.target.getAttribute("aria-pressed") !== "true";
  if (await post("/api/sim", { lean })) e.target.setAttribute("aria-pressed", String(lean));
});
$("sim-resume").addEventListener("click", async () => {
  if (await post("/api/sim", { resume: true })) $("sim-lean").setAttribute("aria-pressed", "false");
});
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

takeTokenFromLink();
window.addEventListener("hashchange", () => { takeTokenFromLink(); checkPairing(); });
rebuildCharts();
connect();
