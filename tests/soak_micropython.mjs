// The console's firmware logic in real MicroPython (its WebAssembly port), stepped every
// 5 ms as the board's main loop is, for tests/console_soak.py.
// usage: node tests/soak_micropython.mjs PATH/TO/micropython.mjs INITIAL_PCT
// stdin lines:  "D <hex>" bytes from the Pi, "K <key>" a console key, "R" reboot, "Q" quit
// stdout lines: "D <hex>" bytes to the Pi, "L <log>" what the firmware did (soak_board.py)
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createInterface } from "node:readline";

const here = dirname(fileURLToPath(import.meta.url));
const firmware = join(dirname(here), "firmware");
const { loadMicroPython } = await import(pathToFileURL(process.argv[2]).href);
const mp = await loadMicroPython({
  stdout: (line) => process.stderr.write(line),
  stderr: (line) => process.stderr.write(line),
});
mp.FS.mkdir("/fw");
for (const name of readdirSync(firmware)) {
  if (name.endsWith(".py") && !["__init__.py", "main.py", "hal.py"].includes(name)) {
    mp.FS.writeFile("/fw/" + name, readFileSync(join(firmware, name)));
  }
}
mp.FS.writeFile("/fw/soak_board.py", readFileSync(join(here, "soak_board.py")));
mp.runPython("import sys\nsys.path.insert(0, '/fw')\nimport soak_board\nsoak_board.start(" +
  Number(process.argv[3]) + ")\nstep_hex = soak_board.step_hex\nimport sys\nprint(sys.implementation.name)\n");
const step = mp.globals.get("step_hex");

let data = "";
let keys = [];
let quit = false;
let reboot = false;
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.startsWith("D ")) data += line.slice(2);
  else if (line.startsWith("K ")) keys.push(line.slice(2));
  else if (line === "R") reboot = true;
  else if (line === "Q") quit = true;
}).on("close", () => { quit = true; });

const t0 = performance.now();
process.stdout.write("READY\n");
const timer = setInterval(() => {
  const now = Math.floor(performance.now() - t0);
  if (reboot) {
    // The watchdog resets the MCU: everything starts again but the deck, which stays put.
    mp.runPython("soak_board.start(soak_board.board.motor.position)");
    reboot = false;
  }
  const [out, log] = step(now, data, keys.join(",")).split("|");
  data = "";
  keys = [];
  let text = "";
  if (out) text += "D " + out + "\n";
  if (log) text += "L " + log + "\n";
  if (text) process.stdout.write(text);
  if (quit) { clearInterval(timer); process.exit(0); }
}, 5);
