# Discover Weekly: the commands people type. `make run`, `make check` and `make test` set up everything they need.
#
#   make run [DATA=path] [WAREHOUSE=path] [WEEK=YYYY-Www]   run the weekly DAG through Airflow
#   make check                                               lint + the fast tests (not marked slow), ~1.5 min
#   make test [PYTEST_ARGS=...]                              the whole test suite (what CI runs), ~30 min
#   make query USER=<listener> [WEEK=YYYY-Www]               one listener's playlist
#   make world [SIZE=tiny]                                   (re)generate the sample world
#   make import FORMAT=f SRC=path DEST=path [FORCE=1]        a real export (spotify, lastfm1k, listenbrainz, movielens) -> DEST for DATA=
#   make report [WEEK=YYYY-Www]                              path of the week's HTML report (latest by default)
#   make evaluate                                            offline evaluation of the sample's last full week
#   make lastfm [LASTFM=path]                                ALS vs most-popular and item-kNN on the real Last.fm 2k data -> docs/lastfm.json
#   make eval-real [N=8] [VIA=jobs|airflow] [ML=path]        the pipeline by week on real MovieLens data vs 4 references -> docs/real-data.*
#   make eval-real CONF=conf/tuned.yaml [BEFORE=docs/real-data.json]  the same with a tuned overlay -> docs/real-data-tuned.json
#   make simulate [WEEKS=8] [SIZE=small|tiny|sample] [SEED=7] [ARMS=als,blend,bart] [SIM=folder] [SET="a.b=1 c.d=2"]
#                                                            the closed loop: the pipeline publishes, simulated listeners answer -> SIM/loop.html
#   make tune [DATA=path] [WEEK=YYYY-Www] [OUT=file]  choose ALS and blend settings on the weeks before WEEK -> <warehouse>/tuned/settings.yaml, read by later runs (or OUT: DW_CONF=OUT)
#   make bench [BENCH_ARGS=...]                              every benchmark -> docs/bench.json, docs/BENCHMARKS.md
#   make bench-audio [REAL_AUDIO=path]                       audio attributes on real annotated clips -> the same files
#   make analyze FILES="a.flac b.ogg"                        tempo, key, mode, loudness, meter of any files (JSON lines)
#   make airflow [AIRFLOW_PORT=8080]                         a real Airflow (API server, scheduler, DAG processor) on 127.0.0.1
#   make lint | make clean

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
REQ_HASH := $(shell cat requirements.txt constraints.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)

export DW_PROJECT_ROOT := $(CURDIR)
export DW_PYTHON := $(PY)
export PATH := $(VENV)/bin:$(PATH)
DW_AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW_HOME := $(DW_AIRFLOW_HOME)
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export AIRFLOW__LOGGING__LOGGING_LEVEL := WARNING
export AIRFLOW_CONN_SPARK_DEFAULT ?= {"conn_type": "spark", "host": "local[2]"}
export TF_CPP_MIN_LOG_LEVEL := 2

ifneq ($(strip $(DATA)),)
export DW_DATA := $(abspath $(DATA))
endif
ifneq ($(strip $(WAREHOUSE)),)
export DW_WAREHOUSE := $(abspath $(WAREHOUSE))
endif
# `USER` is also the login name in every shell: only a USER given on the command line is a listener.
LISTENER := $(if $(filter command line,$(origin USER)),$(USER),)

.PHONY: help setup java-check blas-check airflow-init world import run check test lint query report evaluate lastfm eval-real tune simulate airflow bench bench-audio analyze clean

help:
	@sed -n '/^$$/q;s/^# \{0,1\}//p' Makefile

# --- set-up -----------------------------------------------------------------------------

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -n "$(PYTHON_BOOT)" || { echo "error: Python 3.11 is needed (python3.11 or python3 on PATH)"; exit 1; }
	@$(PYTHON_BOOT) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || \
	  { echo "error: $(PYTHON_BOOT) is not Python 3.11"; exit 1; }
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	@echo ">> installing pinned requirements into .venv (once per change of requirements.txt, constraints.txt or pyproject.toml)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	@echo ">> installing this project in editable mode (jobs, schemas, bench, studies importable from anywhere)"
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@echo ">> compiling librosa's numba functions once, into their on-disk cache (jobs compiling them at the same time can corrupt it)"
	$(PY) -m jobs.audio.workers
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: $(STAMP) java-check blas-check

# Spark's ALS calls a native BLAS when the system has one (libblas.so.3 and liblapack.so.3), else its Java
# fallback (18% slower on the 1M-event fit, docs/measurements.md). A system package, so only said here.
blas-check:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libblas\.so\.3' || ! ldconfig -p 2>/dev/null | grep -q 'liblapack\.so\.3'; then \
	  echo "note: no native BLAS for Spark (libblas.so.3, liblapack.so.3): ALS uses Java's; on Debian/Ubuntu 'apt-get install libopenblas0-pthread' gives it one (optional)"; fi

java-check:
	@command -v java >/dev/null || { echo "error: Java 17 or newer is needed by Spark; install a JDK (e.g. apt-get install openjdk-17-jre-headless)"; exit 1; }
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	  if [ -z "$$v" ] || [ "$$v" -lt 17 ]; then echo "error: Spark 4 needs Java 17 or newer; found '$$(java -version 2>&1 | head -1)'"; exit 1; fi

# Migrated once per installed Airflow and metadata database (SQLite in AIRFLOW_HOME unless
# AIRFLOW__DATABASE__SQL_ALCHEMY_CONN names another one, e.g. PostgreSQL).
# SQLite: the database file itself is the target (deleting it means "migrate again").
DB_URL := $(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)
DB_STAMP := $(if $(DB_URL),$(AIRFLOW_HOME)/.migrated-$(shell printf '%s' '$(DB_URL)' | sha256sum | cut -c1-12),$(AIRFLOW_HOME)/airflow.db)
$(DB_STAMP): $(STAMP)
	@mkdir -p $(AIRFLOW_HOME)
	@echo ">> preparing the Airflow metadata database ($(if $(DB_URL),$(firstword $(subst :, ,$(DB_URL))),SQLite in $(AIRFLOW_HOME)))"
	airflow db migrate >/dev/null
	@touch $@

airflow-init: $(DB_STAMP)

# --- the pipeline -----------------------------------------------------------------------

world: setup
	$(PY) -m jobs.tools.world $(if $(filter tiny,$(SIZE)),--tiny,)

# A real listening-data export -> the input contract in DEST (see "Importing real listening
# data" in docs/your-data.md); then `make run DATA=DEST WEEK=...` as the import's summary says.
import: setup
	@test -n "$(FORMAT)" && test -n "$(SRC)" && test -n "$(DEST)" || \
	  { echo "usage: make import FORMAT=spotify|lastfm1k|listenbrainz|movielens SRC=path DEST=path [FORCE=1]"; exit 2; }
	@$(PY) -m jobs.importers "$(FORMAT)" "$(SRC)" "$(DEST)" $(if $(FORCE),--force,)

# The sample world is generated only for the default data folder: DATA=path is the user's own
# data and is read, never written (jobs.tools.world also refuses to replace data it did not write).
run: setup airflow-init
ifeq ($(strip $(DATA)),)
	@$(PY) -m jobs.tools.world --if-missing
else
	@test -d "$(DW_DATA)/raw/plays" && test -d "$(DW_DATA)/catalog" || \
	  { echo "error: DATA=$(DATA) must hold raw/plays/ and catalog/ (see docs/your-data.md, 'Input contract')"; exit 1; }
endif
	@exec 9>"$(AIRFLOW_HOME)/.run.lock"; \
	  flock -n 9 || { echo "error: another 'make run' is using $(AIRFLOW_HOME) (see $(AIRFLOW_HOME)/last_run.log); wait for it, or give this one its own DW_AIRFLOW_HOME=<folder>"; exit 1; }; \
	  week="$(WEEK)"; \
	  if [ -z "$$week" ]; then week=$$($(PY) -m jobs.runtime.runinfo publish-week); fi; \
	  date=$$($(PY) -m jobs.runtime.runinfo logical-date "$$week"); \
	  mkdir -p $(AIRFLOW_HOME)/runs; log=$(AIRFLOW_HOME)/runs/$$week-$$(date -u +%Y%m%dT%H%M%SZ).log; \
	  ln -sfn "$$log" $(AIRFLOW_HOME)/last_run.log; \
	  echo ">> running DAG discover_weekly for $$week through Airflow (logical date $$date, $$($(PY) -m jobs.runtime.runinfo parallelism))"; \
	  start=$$(date +%s); \
	  AIRFLOW__LOGGING__LOGGING_LEVEL=INFO $(PY) -m jobs.runtime.dagrun discover_weekly "$$date" "{\"week\": \"$$week\"}" "$$log" || \
	    { $(PY) -m jobs.runtime.runinfo failed "$$log" || tail -n 60 "$$log"; echo "error: the DAG run failed; full log: $$log"; exit 1; }; \
	  echo ">> DAG run finished in $$(( $$(date +%s) - start )) s (log: $$log)"; \
	  $(PY) -m jobs.runtime.runinfo summary "$$week" || { echo "error: see the DAG run's log: $$log"; exit 1; }; \
	  run_id=$$($(PY) -m jobs.runtime.runinfo run-id "$$log") && \
	    airflow tasks states-for-dag-run discover_weekly "$$run_id" -o json 2>/dev/null | $(PY) -m jobs.runtime.runinfo states || \
	    echo "  (Airflow task states not available: airflow tasks states-for-dag-run discover_weekly <run id>)"; \
	  $(PY) -m jobs.tools.query --week "$$week" $(if $(LISTENER),--user $(LISTENER),)

# The feedback loop on a simulated sample world (jobs/tools/simulate.py, docs/loop.md): each week the
# pipeline's jobs publish, listeners split at random into the ARMS answer their playlists, and the
# answers are the next week's input. Resumes after a kill; SIM defaults to data/sim-<size>-<seed>.
WEEKS ?= 8
SEED ?= 7
ARMS ?= als,blend,bart
simulate: setup
	@$(PY) -m jobs.tools.simulate --weeks $(WEEKS) --size $(if $(SIZE),$(SIZE),small) --seed $(SEED) --arms $(ARMS) \
	  $(if $(SIM),--out $(SIM),) $(if $(filter airflow,$(VIA)),--via airflow,) $(foreach s,$(SET),--set $(s))

query: setup
	@$(PY) -m jobs.tools.query $(if $(LISTENER),--user $(LISTENER),) $(if $(WEEK),--week $(WEEK),)

report: setup
	@$(PY) -m jobs.report --path-only $(if $(WEEK),--week $(WEEK),)

# Build the week before the sample's publish week through the DAG (data before it only),
# then score its playlists against that week's first-time plays (ingested by `make run`).
evaluate: setup airflow-init
	@week=$$($(PY) -m jobs.runtime.runinfo publish-week); prev=$$($(PY) -m jobs.runtime.runinfo previous-week "$$week"); \
	  $(PY) -m jobs.report --path-only --week "$$week" >/dev/null 2>&1 || $(MAKE) --no-print-directory run; \
	  date=$$($(PY) -m jobs.runtime.runinfo logical-date "$$prev"); log=$(AIRFLOW_HOME)/last_eval_run.log; \
	  echo ">> running DAG discover_weekly for $$prev (logical date $$date)"; \
	  AIRFLOW__LOGGING__LOGGING_LEVEL=INFO $(PY) -m jobs.runtime.dagrun discover_weekly "$$date" "{\"week\": \"$$prev\"}" "$$log" || \
	    { $(PY) -m jobs.runtime.runinfo failed "$$log" || tail -n 40 "$$log"; echo "error: the DAG run for $$prev failed; full log: $$log"; exit 1; }; \
	  $(PY) -m jobs.evaluate --week "$$prev" --out docs/evaluation.json; \
	  $(PY) -m studies.measurements; \
	  echo ">> results also in docs/evaluation.json and docs/measurements.md"; \
	  $(PY) -m jobs.report --week "$$week"

# Markers (pyproject.toml): slow, spark, airflow, tf; e.g. make test PYTEST_ARGS='-m "spark and not slow"'.
# TEST_WORKERS processes (pytest-xdist), each taking whole test files (--dist loadfile), the longest
# first (tests/conftest.py LONG_FILES; --no-loadscope-reorder keeps that order); the tiny world and
# its computed week are made once and shared (tests/conftest.py, once_per_run).
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest --durations=25 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# While you work: lint, then every test not marked slow (no DAG run, no world generation), in
# CHECK_WORKERS processes (pytest-xdist; 2 here: 90 s against 125 s in one, as much of it waits on
# timers and subprocesses).
CHECK_WORKERS ?= 2
check: setup lint
	$(PY) -m pytest -m "not slow" -n $(CHECK_WORKERS) $(PYTEST_ARGS)

# A real Airflow on this machine: API server + UI, scheduler (LocalExecutor) and DAG processor,
# all on 127.0.0.1, with the project's DAGs and the metadata database of $(AIRFLOW_HOME)
# (SQLite unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN says otherwise). Local mode: every visitor is
# an admin (no password). Ctrl-C stops all of it (bin/airflow-local).
AIRFLOW_PORT ?= 8080
airflow: setup airflow-init
	@echo ">> Airflow UI and REST API: http://127.0.0.1:$(AIRFLOW_PORT)/  (local mode: no login needed, every visitor is admin)"
	@echo ">> a new discover_weekly DAG is created paused (dag.paused_on_creation, default true): no Monday run until 'airflow dags unpause discover_weekly' or the UI's toggle"
	@echo ">> trigger a week: curl -X POST http://127.0.0.1:$(AIRFLOW_PORT)/api/v2/dags/discover_weekly/dagRuns -H 'Content-Type: application/json' -d '{\"logical_date\": null, \"conf\": {\"week\": \"2026-W47\"}}'"
	@bin/airflow-local $(AIRFLOW_PORT)

# Benchmarks (45 min on 2 cores).
bench: setup airflow-init
	$(PY) -m bench.run $(BENCH_ARGS)

# Audio attributes on ../shared/data/real-audio (held-out CV figures, librosa beside them, ~10 min on 2 cores).
REAL_AUDIO ?= $(abspath $(CURDIR)/../shared/data/real-audio)
bench-audio: setup
	$(PY) -m bench.run --only real_audio --real-audio $(REAL_AUDIO)

analyze: setup
	@test -n "$(FILES)" || { echo 'usage: make analyze FILES="a.flac b.ogg"'; exit 2; }
	@$(PY) -m jobs.audio_features --analyze $(FILES)

LASTFM ?= $(abspath $(CURDIR)/../shared/data/lastfm-2k)
lastfm: setup
	$(PY) -m studies.lastfm_als --data $(LASTFM) --out docs/lastfm.json --md docs/real-data.md

# The last N weeks of real MovieLens data, each built by the weekly jobs from older plays only and
# scored on its first-time plays beside four references, with 95% intervals (about 12 min for N=8
# on 2 cores). VIA=airflow runs each week as `airflow dags test` (ingest every week).
ML ?= $(abspath $(CURDIR)/../shared/data/ml-100k-odd)
N ?= 8
VIA ?= jobs
# CONF=file (e.g. make tune's overlay) runs the jobs with it: section rolling-eval-tuned, docs/real-data-tuned.json;
# BEFORE=docs/real-data.json also pairs them with that earlier run's pipeline (same weeks; runs that kept their rows).
CONF ?=
BEFORE ?=
eval-real: setup
	$(PY) -m studies.rolling_eval --data $(ML) --weeks $(N) --via $(VIA) --md docs/real-data.md $(if $(BEFORE),--before $(BEFORE),) \
	  $(if $(CONF),--conf $(CONF) --out docs/real-data-tuned.json --section rolling-eval-tuned,--out docs/real-data.json)

# Time-based tuning on the user's data: ingest the plays before WEEK (the first week to publish with
# the result; default the data's publish week), then choose als.rank/reg_param/alpha/window_weeks/
# decay_half_life_days and merge.w_popularity/min_plays on the 6 weeks before WEEK (jobs/tools/tune.py),
# and write them into the warehouse (tuned/settings.yaml), where every later run reads them under the
# configuration file (and says so in its summary); OUT=file writes them there instead (DW_CONF=file).
# The discover_weekly_tune DAG does the same monthly.
OUT ?=
tune: setup
	@week="$(WEEK)"; if [ -z "$$week" ]; then week=$$($(PY) -m jobs.runtime.runinfo publish-week); fi; \
	  echo ">> ingesting the plays before $$week"; \
	  $(PY) -m jobs.ingest --week "$$week" 2>&1 | tail -n 1; \
	  $(PY) -m jobs.tools.tune --week "$$week" $(if $(OUT),--out $(OUT),)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf build .airflow data/warehouse data/checkpoints data/cache .pytest_cache
