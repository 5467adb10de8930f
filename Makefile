# LibStaff: `make run` serves the app, `make test` runs every test. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test stop lint format bench soak migrate chromium wrk clean

# The virtualenv is (re)built when missing or older than pyproject.toml.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: $(STAMP) chromium
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	LIBSTAFF_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest

bench: $(STAMP) wrk
	$(BIN)/python -m pytest tests/bench -p no:randomly -s --reuse-db

# Load and faults through HTTP for SOAK_SECONDS (default 60), on its own PostgreSQL in
# .data/soak/; not run by CI (tests/soak/).
soak: $(STAMP)
	$(BIN)/python -m pytest tests/soak -p no:randomly -s

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m libstaff.embedded_db stop; fi

# Browser tests drive Debian's Chromium; Playwright's own browser download does not work offline.
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Browser tests need Chromium at $(CHROMIUM): install it (sudo apt-get install chromium)"; \
	    echo "or point CHROMIUM=/path/to/chromium at one."; exit 1; \
	  fi; \
	fi

# The page benchmarks load gunicorn with Debian's wrk (tests/bench/serving.py).
wrk:
	@if ! command -v wrk >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's wrk for the benchmarks..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else \
	    echo "The benchmarks need wrk: install it (sudo apt-get install wrk)"; exit 1; \
	  fi; \
	fi

clean: stop
	rm -rf $(VENV) .data
