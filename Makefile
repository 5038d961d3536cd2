# GEN_REC: `make run` starts the whole site on this machine, `make admin` creates a staff account for it,
# `make test` runs the test suite.
PYTHON ?= python3
VENV ?= $(or $(GENREC_VENV),.venv)
BIN := $(VENV)/bin
RUN_ARGS ?=
PYTEST_ARGS ?=
BENCH_RESULTS ?= bench/results

.PHONY: run admin test install-dev chromium lint format migrations-check bench

run:
	$(PYTHON) scripts/run.py $(RUN_ARGS)

# Django's createsuperuser with the quick start's database and its secret in var/secret_key (made if missing).
admin:
	$(PYTHON) scripts/run.py --admin

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt

# The browser test drives Debian's chromium; without it (no apt, not root) that test skips and says why.
chromium:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "chromium: $$(command -v chromium)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else \
		echo "chromium is not installed and cannot be installed here: the browser test will skip"; \
	fi

# The integration tests talk to Redis at REDIS_URL (default 127.0.0.1:6379): if none answers, an embedded one runs
# for the duration of the suite.
test: install-dev chromium
	$(BIN)/python scripts/with_redis.py $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Settings refuse to load without a secret unless DEBUG is on; these commands need none.
migrations-check: install-dev
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

# Benchmarks, not tests, with modest defaults: each prints a table and writes its JSON to $(BENCH_RESULTS)
# (bench/README.md says what the figures mean). The platform ones start their own Redis, daphne and workers.
bench: install-dev
	mkdir -p $(BENCH_RESULTS)
	$(BIN)/python bench/pipeline.py --repeats 2 --json $(BENCH_RESULTS)/pipeline.json
	$(BIN)/python bench/scaling.py --json $(BENCH_RESULTS)/scaling.json
	$(BIN)/python bench/scaling.py --storage s3 --json $(BENCH_RESULTS)/scaling-s3.json
	$(BIN)/python bench/media_read.py --json $(BENCH_RESULTS)/media-read.json
	$(BIN)/python bench/latency.py --json $(BENCH_RESULTS)/latency.json
	$(BIN)/python bench/load.py --json $(BENCH_RESULTS)/load.json
	$(BIN)/python bench/load.py --videos 2 --video-frames 6000 --users 4 --images 8 --photo-every 1 --photo-delay 3 \
		--json $(BENCH_RESULTS)/load-photos.json
