# Treadmill Companion. `make demo` and `make test` set everything up by themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Real MicroPython (its WebAssembly port) for the firmware's tests, run by Node.js.
MICROPYTHON_NPM := @micropython/micropython-webassembly-pyscript@1.27.0
# axe-core: the accessibility checker the page's browser tests inject (run offline, from .node).
AXE_NPM := axe-core@4.14.1
NODE_STAMP := .node/.installed

.PHONY: demo test test-pi bench bench-web bench-replay bench-tick bench-fleet clean

# The venv, with the package (editable) and its test tools; redone when pyproject changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Node.js from Debian if the machine has none, then the MicroPython package and axe-core into .node/.
$(NODE_STAMP):
	command -v node >/dev/null && command -v npm >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	mkdir -p .node
	npm install --silent --no-audit --no-fund --prefix .node $(MICROPYTHON_NPM) $(AXE_NPM)
	touch $@

# Debian's Chromium for the page's browser tests (Playwright drives it; no browser download),
# and systemd-analyze for the unit's tests.
CHROMIUM_STAMP := .node/.chromium
$(CHROMIUM_STAMP):
	mkdir -p .node
	command -v chromium >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	command -v systemd-analyze >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd; }
	touch $@

# Debian's Mosquitto broker and its clients (mosquitto_sub, mosquitto_passwd) for the fleet tests
# and `make bench-fleet`, and openssl for their test CA.
MOSQUITTO_STAMP := .node/.mosquitto
$(MOSQUITTO_STAMP):
	mkdir -p .node
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] && command -v mosquitto_sub >/dev/null && \
		command -v openssl >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			mosquitto mosquitto-clients openssl; }
	touch $@

# --pair: the daemon prints the page's link with a fresh token, on the port it serves (PORT=...).
demo: $(STAMP)
	$(BIN)/treadmill-companion run --sim --config pi_service/config/demo.toml --host 127.0.0.1 --port $(PORT) --pair

test: $(STAMP) $(NODE_STAMP) $(CHROMIUM_STAMP) $(MOSQUITTO_STAMP)
	$(BIN)/python -m pytest -q

# The Pi in a box alone (tests/pibox/, docs/install.md): Debian 12's kernel and systemd under
# QEMU, install.sh, and the unit checked on gpio-sim, i2c-stub and a UART. Part of `make test`.
test-pi: $(STAMP)
	$(BIN)/python tests/pibox/run.py

# The sampling loop at 200 Hz for 60 s under web load and a busy core, next to the naive
# baseline. SECONDS=10 for a quick look.
SECONDS ?= 60
bench: $(STAMP)
	$(BIN)/python bench/loop_latency.py --seconds $(SECONDS)

# /api/status at 100 req/s with 10 SSE clients connected, and the loop meanwhile
bench-web: $(STAMP)
	$(BIN)/python bench/loop_latency.py --web --seconds 30

# replay throughput on a one-hour 100 Hz recording
bench-replay: $(STAMP)
	$(BIN)/python bench/replay_throughput.py

# What one sampler tick costs (read, rules, act, record, publish) on the virtual treadmill
bench-tick: $(STAMP)
	$(BIN)/python bench/tick_cost.py --seconds $(SECONDS)

# 100 simulated companions publishing to one Mosquitto at 1 Hz (spec 9: p99 <= 50 ms, none
# lost), and the sampling loop's lateness with MQTT on and off. SECONDS=20 for a quick look.
bench-fleet: $(STAMP) $(MOSQUITTO_STAMP)
	$(BIN)/python bench/fleet.py --seconds $(SECONDS)

clean:
	rm -rf $(VENV) .node .pytest_cache build *.egg-info .pibox
