# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv when missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AIRFLOW_HOME ?= $(CURDIR)/data/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: demo test bench bench-scale bench-extraction airflow install lint clean browser

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/scrutineer demo

# Debian's chromium for the digest rendering tests; installed when missing and we may (root + apt).
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium not installed and cannot install it here: browser tests will skip"; fi; }

test: $(STAMP) browser lint
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# SCRUTINEER_BENCH_ONLY=realcrawl: collect on the real pages `bench-extraction` downloads (skipped without them).
bench: $(STAMP)
	EXTRACTION_BENCH=$(EXTRACTION_BENCH) $(BIN)/python -m bench

# The dedup scale run at the issue's full 200,000 articles (about 10 minutes on an idle machine).
bench-scale: $(STAMP)
	SCRUTINEER_BENCH_SCALE=200000 $(BIN)/python -m bench

# One machine: scheduler, dag-processor, api-server and triggerer on SQLite (docs/production.md has
# the PostgreSQL + Celery shape). The crawl pool bounds concurrent crawls (dags/README.md).
# Issue 3's public extraction benchmark, kept out of this repository: real news pages with reference
# texts from newspaper4k's source distribution on PyPI, unpacked under EXTRACTION_BENCH (default
# ../extraction-bench), then scored against plain trafilatura.extract on the same pages.
EXTRACTION_BENCH ?= $(abspath $(CURDIR)/../extraction-bench)
bench-extraction: $(STAMP)
	test -d $(EXTRACTION_BENCH)/newspaper4k-0.9.6 || { mkdir -p $(EXTRACTION_BENCH) && \
	  $(BIN)/pip download --quiet --no-deps --no-binary :all: -d $(EXTRACTION_BENCH) newspaper4k==0.9.6 && \
	  tar -xzf $(EXTRACTION_BENCH)/newspaper4k-0.9.6.tar.gz -C $(EXTRACTION_BENCH); }
	$(BIN)/python -m bench.extraction_eval $(EXTRACTION_BENCH)/newspaper4k-0.9.6/tests/data
	$(BIN)/python -m bench.headline_eval $(EXTRACTION_BENCH)/newspaper4k-0.9.6/tests/data | tail -3
	@# trafilatura's own hand-annotated set, when assembled there (README: Measured)
	test ! -f $(EXTRACTION_BENCH)/trafilatura-eval/evaldata.py || \
	  $(BIN)/python -m bench.extraction_eval $(EXTRACTION_BENCH)/trafilatura-eval

# `airflow standalone` starts its scheduler, dag-processor and api-server as `airflow …` from PATH:
# the venv's bin goes first, or on a fresh clone each dies with FileNotFoundError: 'airflow'.
# Sign in as `admin` with the password standalone prints and keeps in
# $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated; the DAGs start paused (unpause them in
# the UI or with `airflow dags unpause scrutineer_collect` and so on).
airflow: export PATH := $(abspath $(BIN)):$(PATH)
airflow: $(STAMP)
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate
	$(BIN)/airflow pools set scrutineer_crawl 4 "concurrent scrutineer crawls"
	$(BIN)/airflow standalone

# ruff, the import layers (pyproject [tool.importlinter]) and mypy (pyproject [tool.mypy]); any finding fails.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data
