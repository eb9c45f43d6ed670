# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON      ?= python3.11
VENV        := .venv
BIN         := $(VENV)/bin
SAM_VENV    := .tools/sam
SAM         := $(SAM_VENV)/bin/sam
SAM_VERSION := 1.170.0
CHECKOV_VENV    := .tools/checkov
CHECKOV         := $(CHECKOV_VENV)/bin/checkov
CHECKOV_VERSION := 3.3.30
UV_VENV     := .tools/uv
UV          := $(UV_VENV)/bin/uv
UV_VERSION  := 0.13.8
# LocalStack needs Python 3.12 or later: the first interpreter of these that runs (pyenv's shims
# exist for every installed version but run only the selected ones, hence the trial run).
export LOCALSTACK_VENV ?= .tools/localstack
LOCALSTACK      := $(LOCALSTACK_VENV)/bin/localstack-supervisor
ifndef LOCALSTACK_PYTHON
LOCALSTACK_PYTHON := $(firstword $(foreach p,python3.13 $(wildcard $(HOME)/.pyenv/versions/3.13.*/bin/python3) \
    python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12.*/bin/python3),$(shell $(p) -c '' >/dev/null 2>&1 && echo $(p))))
endif
REGION      ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= $(REGION)

.PHONY: setup lint template-checks build test unit demo bench bench-quick localstack clean

$(BIN)/.installed: pyproject.toml infra/localfaas/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]" -e infra/localfaas
	@touch $@

# aws-sam-cli pins boto3 and click, so it lives in its own tool environment.
$(SAM):
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --disable-pip-version-check aws-sam-cli==$(SAM_VERSION)

# checkov pins boto3, botocore and packaging below the project's: a tool environment of its own too.
# tests/contract/test_checkov.py runs it on the SAM-expanded template.
$(CHECKOV):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check checkov==$(CHECKOV_VERSION)

# localfaas builds functions as `sam build` does (installing each requirements.txt); it finds uv here and
# installs with it, the same packages as pip from pip's own indexes in a fraction of the time.
$(UV):
	@test -x $(UV_VENV)/bin/python || $(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)


# LocalStack (for the integration suite's second backend) pins a boto3 and a moto of its own: its own
# environment, from a frozen constraints file, with the provider that serves DynamoDB from its moto
# (DynamoDB Local is a download at start, which cannot happen here). tests/support/localstack.py starts it.
$(LOCALSTACK): infra/localstack/constraints.txt infra/localstack/pyproject.toml \
    infra/localstack/localstack_moto_dynamodb/__init__.py
	@test -n "$(LOCALSTACK_PYTHON)" || { echo "LocalStack needs python3.13 or python3.12; none found" >&2; exit 1; }
	@test -x $(LOCALSTACK_VENV)/bin/python || $(LOCALSTACK_PYTHON) -m venv $(LOCALSTACK_VENV)
	$(LOCALSTACK_VENV)/bin/pip install -q --disable-pip-version-check -c infra/localstack/constraints.txt \
	    "localstack-core[runtime]" cbor2 pyopenssl service-identity
	@# Its version does not change with its code: reinstalled whenever it is newer than the install.
	$(LOCALSTACK_VENV)/bin/pip install -q --disable-pip-version-check --no-deps --force-reinstall ./infra/localstack
	@touch $@

setup: $(BIN)/.installed $(SAM) $(CHECKOV) $(UV) $(LOCALSTACK)

# LocalStack as the tests start it, on 127.0.0.1:4566 until Ctrl-C, where `--backend localstack` looks.
localstack: $(BIN)/.installed $(LOCALSTACK)
	$(BIN)/python -m tests.support.localstack --port 4566

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

template-checks: $(BIN)/.installed $(SAM)
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml --region $(REGION)

build: $(SAM)
	$(SAM) build --template template.yaml --build-dir .aws-sam/build

# The LocalStack part of the suite (about 6 minutes, most of it LocalStack's own process answering)
# runs beside the rest, which is one Python process on one core: on CI's 2 cores the two together
# take about as long as the longer one. Its output is kept and printed once the rest is done.
TEST_LOG := .localfaas/pytest-localstack.log
test: setup lint template-checks build
	@mkdir -p $(dir $(TEST_LOG))
	@$(BIN)/pytest -m localstack > $(TEST_LOG) 2>&1 & localstack=$$!; \
	$(BIN)/pytest -m "not localstack"; rest=$$?; \
	wait $$localstack; on_localstack=$$?; \
	echo; echo "== the LocalStack part (pytest -m localstack) =="; cat $(TEST_LOG); \
	test $$rest -eq 0 && test $$on_localstack -eq 0

unit: $(BIN)/.installed $(CHECKOV)
	$(BIN)/pytest tests/unit tests/contract

# The main job: a simulated business day through the whole template on localfaas (embedded log,
# moto), then event sourcing: rebuild the read model from the log as of midday, show how midday
# differs from the end of the day, and verify that a replay to now equals the live read model.
DEMO := .localfaas/demo
MIDDAY := 2026-11-25T12:00:00Z
demo: $(BIN)/.installed
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	@# A function runs in its own code folder (as in Lambda), so the read model gets an absolute path.
	printf '{"ProjectSql": {"DATABASE_URL": "sqlite:///%s/read-model.db"}}\n' "$(CURDIR)/$(DEMO)" > $(DEMO)/env.json
	$(BIN)/localfaas run --scenario events/scenarios/business-day.json \
	    --log-dir $(DEMO)/log --env-vars $(DEMO)/env.json --json $(DEMO)/report.json
	@echo; echo "== Replaying the log to $(MIDDAY) =="
	$(BIN)/storefront replay --source embedded --log-dir $(DEMO)/log --until $(MIDDAY) \
	    --db sqlite:///$(DEMO)/midday.db --skip-bad --no-progress
	@echo; echo "== Midday against the end of the day =="
	$(BIN)/storefront difference sqlite:///$(DEMO)/midday.db sqlite:///$(DEMO)/read-model.db
	@echo; echo "== A replay to now against the live read model =="
	$(BIN)/storefront replay --source embedded --log-dir $(DEMO)/log --verify --skip-bad --no-progress \
	    --db sqlite:///$(DEMO)/read-model.db

bench: $(BIN)/.installed
	$(BIN)/python -m tests.bench

bench-quick: $(BIN)/.installed
	$(BIN)/python -m tests.bench --quick

clean:
	rm -rf $(VENV) .tools .aws-sam .localfaas
