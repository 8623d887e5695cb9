# The two commands a newcomer needs: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TOOLS_STAMP := $(TOOLS)/.installed
SAM := $(TOOLS)/bin/sam
CFN_LINT := $(TOOLS)/bin/cfn-lint

# SAM CLI and cfn-lint pin their own boto3/pydantic: they live apart from the app's venv, and so does
# the local stack's SAM transform (local/sam_translate.py runs there). uv compiles the lock.
TOOLS_PINS := aws-sam-cli==1.170.0 cfn-lint==1.58.0 uv==0.13.9
# Every package of the dev install at one version, with its hashes: compiled from pyproject.toml by `make lock`.
LOCK := requirements-dev.lock

.PHONY: install tools lock run test test-fast bench lint build validate deploy clean event

# The lock's packages, hashes checked; then the project itself, whose dependencies they are.
install: $(STAMP)
$(STAMP): pyproject.toml $(LOCK) layers/timkit/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

tools: $(TOOLS_STAMP)
$(TOOLS_STAMP): Makefile
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet $(TOOLS_PINS)
	touch $@

# After changing a dependency in pyproject.toml (tests/unit/test_packaging.py says when the lock drifted).
# Universal: one lock for every platform and Python from 3.11 on.
lock: tools
	$(TOOLS)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
		--quiet -o $(LOCK)

run: install tools
	$(PY) -m local

# The contract tests run in a pytest process of their own: with the property tests collected in the
# same process, schemathesis (4.32.5) at times cannot generate the merger document's recursive
# schema (a merger's messages hold mergers) and fails the run without a request sent.
test: install tools
	PATH="$(abspath $(TOOLS))/bin:$$PATH" $(PY) -m pytest --ignore=tests/contract $(PYTEST_ARGS)
	PATH="$(abspath $(TOOLS))/bin:$$PATH" $(PY) -m pytest tests/contract $(PYTEST_ARGS)

test-fast: install tools
	$(PY) -m pytest -m 'not infra' $(PYTEST_ARGS)

bench: install tools
	$(PY) bench/run.py

lint: install tools
	$(VENV)/bin/ruff check .
	$(CFN_LINT) template.yaml
	$(SAM) validate --lint --region us-east-1

validate: tools
	$(CFN_LINT) template.yaml
	$(SAM) validate --lint --region us-east-1

build: tools
	$(SAM) build

deploy: build
	$(SAM) deploy --guided

# A sample event (events/$(FN)/$(EVENT).json) on stdout, for `sam local invoke <Function> -e -` or
# `sam remote invoke <Function> --event-file -`, or saved with `> file`. A callback's is signed now, with
# $$TIM_CALLBACK_TOKEN and $$TIM_SDKAPPID (default: the local stack's demo values), as Tencent signs it.
FN ?= tim_callback
EVENT ?= c2c_before_send
event:
	@test -f events/$(FN)/$(EVENT).json || { echo "no events/$(FN)/$(EVENT).json; there are:" $$(cd events && ls */*.json) >&2; exit 2; }
	@test -x $(VENV)/bin/timctl || $(MAKE) --no-print-directory install >&2
	@if [ "$(FN)" = tim_callback ]; then $(VENV)/bin/timctl callback sign --event events/$(FN)/$(EVENT).json; \
	else cat events/$(FN)/$(EVENT).json; fi

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache .cache
