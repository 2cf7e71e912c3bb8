// Runs firmware/tests/run.py inside real MicroPython (its WebAssembly port) under Node.js.
// usage: node firmware/tests/micropython.mjs PATH/TO/micropython.mjs [SCRIPT.py]
// (SCRIPT.py, if given, is copied in too and imported instead of run.py.)
// The firmware's modules and tests are copied flat into MicroPython's file system, as on the board.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const firmware = dirname(here);
const { loadMicroPython } = await import(pathToFileURL(process.argv[2]).href);
const mp = await loadMicroPython({
  stdout: (line) => process.stdout.write(line.endsWith("\n") ? line : line + "\n"),
  stderr: (line) => process.stderr.write(line.endsWith("\n") ? line : line + "\n"),
});
mp.FS.mkdir("/fw");
for (const dir of [firmware, here]) {
  for (const name of readdirSync(dir)) {
    if (name.endsWith(".py") && name !== "__init__.py" && name !== "main.py" && name !== "hal.py") {
      mp.FS.writeFile("/fw/" + name, readFileSync(join(dir, name)));
    }
  }
}
let entry = "run";
if (process.argv[3]) {
  const script = process.argv[3];
  entry = script.split("/").pop().replace(/\.py$/, "");
  mp.FS.writeFile("/fw/" + entry + ".py", readFileSync(script));
}
try {
  mp.runPython("import sys\nsys.path.insert(0, '/fw')\nimport " + entry + "\n");
} catch (error) {
  const lines = String(error.message || error).trim().split("\n");
  console.error(lines.slice(-4).join("\n"));
  process.exitCode = 1;
}
