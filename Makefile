# Treadmill Companion. `make demo` and `make test` set everything up by themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-replay clean

# The venv, with the package (editable) and its test tools; redone when pyproject changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/treadmill-companion run --sim --config pi_service/config/demo.toml --host 127.0.0.1 --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The sampling loop at 200 Hz for 60 s under web load and a busy core, next to the naive
# baseline. SECONDS=10 for a quick look.
SECONDS ?= 60
bench: $(STAMP)
	$(BIN)/python bench/loop_latency.py --seconds $(SECONDS)

# replay throughput on a one-hour 100 Hz recording
bench-replay: $(STAMP)
	$(BIN)/python bench/replay_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
