// What the live page (app.js) and a past session's page (session.js) share: the rules' names,
// unit factors and number formatting. Loaded before either.
"use strict";

const $ = (id) => document.getElementById(id);
const KIND_NAMES = {
  rail_lean: "Leaning on the rails", rail_hold: "Holding the rails", steep_incline: "Steep climb",
  speed_jump: "Speed jump", no_warmup: "No warm-up", abrupt_stop: "Abrupt stop", sensor_fault: "Sensor fault",
  unattended_belt: "Belt running, nobody on it", overstride: "Overstriding", incline_ramp: "Incline ramp-down",
};
const KM_PER_MI = 1.609344, FT_PER_M = 3.28084;

function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
function fixed(value, digits) {
  if (value === null || value === undefined) return "–";
  return Number(value).toFixed(digits).replace(/^-(0(\.0*)?)$/, "$1");  // no "-0.0" from a reading a hair below zero
}
