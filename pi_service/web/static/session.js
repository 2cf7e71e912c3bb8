// One past session: its figures, its readings at 1 Hz (speed, incline, rails, cadence), its
// nudges, and the files to take it elsewhere. The id comes from the address: /session/12
// (or /static/session.html?id=12).
"use strict";

const KMH_PER_MPS = 3.6;

const THEME = localStorage.getItem("treadmill-companion-theme");
if (THEME) document.documentElement.dataset.theme = THEME;
function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0)), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? h + ":" + two(m) + ":" + two(r) : m + ":" + two(r);
}

function sessionId() {
  const match = location.pathname.match(/^\/session\/(\d+)/);
  if (match) return match[1];
  const query = new URLSearchParams(location.search).get("id");
  return query && /^\d+$/.test(query) ? query : null;
}

// Whole minutes (or 10 s steps for a short session) from the start: "0:00", "5:00", "10:00".
function timeAxis() {
  return { stroke: css("--muted"), grid: { stroke: css("--line") }, ticks: { stroke: css("--line") },
    incrs: [10, 30, 60, 120, 300, 600, 900, 1800, 3600], space: 56,
    values: (u, splits) => splits.map((v) => clock(v)) };
}
function chart(element, labels, unit, colors, x, ys, floor) {
  return new uPlot({
    width: Math.max(260, element.clientWidth || 320), height: 150, legend: { show: true, live: false },
    cursor: { show: false },
    scales: { x: { time: false }, y: { range: (u, min, max) => [Math.min(0, min ?? 0), Math.max(floor, (max ?? 0) * 1.1)] } },
    axes: [timeAxis(), { stroke: css("--muted"), grid: { stroke: css("--line") }, size: 48 }],
    series: [{ label: "time" }, ...labels.map((label, i) => ({ label: label + " (" + unit + ")", stroke: colors[i],
      width: 2, points: { show: false } }))],
  }, [x, ...ys], element);
}

let charts = [];
function drawCharts(records, units) {
  charts.forEach((c) => c.destroy());
  charts = [];
  ["chart-speed", "chart-incline", "chart-rails", "chart-cadence"].forEach((id) => { $(id).textContent = ""; });
  $("no-records").hidden = records.length > 0;
  if (!records.length) return;
  const x = records.map((r) => r.t_s);
  const speed = records.map((r) => r.speed_mps == null ? null
    : units === "mph" ? r.speed_mps * KMH_PER_MPS / KM_PER_MI : r.speed_mps * KMH_PER_MPS);
  charts = [
    chart($("chart-speed"), ["speed"], units, [css("--speed")], x, [speed], 6),
    chart($("chart-incline"), ["incline"], "%", [css("--incline")], x, [records.map((r) => r.incline_pct)], 5),
    chart($("chart-rails"), ["left", "right"], "N", [css("--left"), css("--right")], x,
      [records.map((r) => r.rail_left_n), records.map((r) => r.rail_right_n)], 20),
    chart($("chart-cadence"), ["cadence"], "steps/min", [css("--cadence")], x, [records.map((r) => r.cadence_spm)], 60),
  ];
}

function figure(list, label, value, wide) {
  const pair = document.createElement("div");  // (a dl may group each term with its value)
  pair.className = wide ? "figure wide" : "figure";
  const term = document.createElement("dt");
  term.textContent = label;
  const detail = document.createElement("dd");
  detail.textContent = value;
  pair.append(term, detail);
  list.append(pair);
}

async function units() {
  try {
    const response = await fetch("/api/status");
    if (response.ok) return (await response.json()).units || "km/h";
  } catch (error) { /* the live status is only asked for its units */ }
  return "km/h";
}

async function main() {
  const id = sessionId();
  const state = $("state");
  if (!id) { state.textContent = "No session given: open one from the history on the live page."; return; }
  let detail;
  try {
    const response = await fetch("/api/sessions/" + id);
    if (response.status === 404) { state.textContent = "There is no session " + id + "."; return; }
    if (!response.ok) { state.textContent = "The companion could not read the history (" + response.status + ")."; return; }
    detail = await response.json();
  } catch (error) {
    state.textContent = "No connection to the companion: the session shows once it answers.";
    return;
  }
  const unit = await units();
  const mph = unit === "mph";
  const s = detail.session;
  state.hidden = true;
  const started = new Date(s.started_at);
  document.title = "Session " + started.toLocaleString() + " — Treadmill Companion";
  $("title").textContent = "Session " + s.id;
  $("when").textContent = started.toLocaleString() + (s.interrupted ? " (interrupted)" : s.ended_at ? "" : " (running now)");
  const list = $("summary");
  list.textContent = "";
  const km = s.distance_m / 1000;
  figure(list, "time", clock(s.duration_s));
  figure(list, "distance", fixed(mph ? km / KM_PER_MI : km, 2) + (mph ? " mi" : " km"));
  const avg = s.duration_s > 0 ? s.distance_m / s.duration_s * KMH_PER_MPS : null;
  figure(list, "average speed", avg === null ? "–" : fixed(mph ? avg / KM_PER_MI : avg, 1) + " " + unit);
  const max = s.max_speed_mps * KMH_PER_MPS;
  figure(list, "top speed", fixed(mph ? max / KM_PER_MI : max, 1) + " " + unit);
  figure(list, "climbed", s.elevation_gain_m == null ? "–"
    : fixed(mph ? s.elevation_gain_m * FT_PER_M : s.elevation_gain_m, 0) + (mph ? " ft" : " m"));
  figure(list, "calories", s.energy_kcal == null ? "–" : fixed(s.energy_kcal, 0) + " kcal");
  figure(list, "cadence", s.cadence_avg_spm == null ? "–" : fixed(s.cadence_avg_spm, 0) + " steps/min");
  figure(list, "steep (10 % and up)", clock(s.steep_s));
  const nudges = Object.entries(s.rules || {}).filter(([, v]) => v.count);
  figure(list, "nudges", nudges.length ? nudges.map(([k, v]) => (KIND_NAMES[k] || k) + " ×" + v.count).join(", ") : "none", true);
  for (const format of ["fit", "tcx", "csv"]) $("export-" + format).href = "/api/sessions/" + s.id + "/export?format=" + format;
  $("summary-card").hidden = false;

  $("charts-card").hidden = false;
  const records = detail.records || [];
  drawCharts(records, unit);
  // The charts take their colours when drawn: again when the phone turns light or dark.
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    drawCharts(records, unit);
    window.treadmillSession.charts = charts;
  });
  window.addEventListener("resize", () => charts.forEach((c) => c.setSize({ width: Math.max(260, c.root.parentElement.clientWidth), height: 150 })));

  $("events-card").hidden = false;
  const events = $("events");
  for (const event of detail.events || []) {
    const item = document.createElement("li");
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = (KIND_NAMES[event.kind] || event.kind) + (event.phase === "end" ? " (over)" : "");
    const when = document.createElement("time");
    const into = (new Date(event.at) - started) / 1000;
    when.textContent = new Date(event.at).toLocaleTimeString() + (into >= 0 ? " · " + clock(into) + " in" : "");
    item.append(kind, " ", when, event.message || "");
    events.append(item);
  }
  $("no-events").hidden = (detail.events || []).length > 0;
  window.treadmillSession = { charts, detail };
}

main();
