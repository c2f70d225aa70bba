# The kiosk's commands. Everything installs itself into .venv/ on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test bench soak mutation lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup_system.sh
	bash scripts/setup_system.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	# The mfrc522 package is only a test peer; its RPi.GPIO/spidev deps do not run off a Pi.
	$(BIN)/python -m pip install -q --no-deps 'mfrc522>=0.0.7'
	touch $(STAMP)

run: setup
	$(BIN)/python -m kiosk_tools.launch

test: setup
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: setup
	$(BIN)/python -m bench

# The chaos soak (not part of `make test`; minutes): hub workers, the broker, kiosks'
# routes and power, Dongcheng's SIP2 system killed at random from a seeded schedule, then
# the end judged. `make soak MINUTES=10 SEED=7`; a failure prints its seed to replay.
MINUTES ?= 5
SEED ?= 2012
soak: setup
	$(BIN)/python -m bench.chaos --minutes $(MINUTES) --seed $(SEED)

# Mutation testing of the rooms that must be strongest (not part of `make test`; minutes):
# `make mutation ROOMS="core journal"` for some. Survivors: test-artifacts/mutation/ROOM/.
mutation: setup
	$(BIN)/python scripts/mutation.py $(ROOMS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) var .pytest_cache bench/results.json
