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

# The suite runs as three pytest processes beside each other, on CI's 2 cores: the LocalStack part
# (about 4 minutes, most of it LocalStack's own process answering), the whole-stack part (the fault
# suite, the integration tests on localfaas and the benchmark's smoke tests: business days, Kafka on
# Tansu) and the rest (unit, contract and localfaas's own tests). They share nothing but the user's
# caches, which are written atomically, and bind free ports only. The first two's output is kept and
# printed once the rest is done.
TEST_LOG := .localfaas/pytest-localstack.log
STACK_TEST_LOG := .localfaas/pytest-whole-stack.log
WHOLE_STACK_TESTS := tests/faults tests/integration tests/bench
test: setup lint template-checks build
	@mkdir -p $(dir $(TEST_LOG))
	@$(BIN)/pytest -m localstack > $(TEST_LOG) 2>&1 & localstack=$$!; \
	$(BIN)/pytest -m "not localstack" $(WHOLE_STACK_TESTS) > $(STACK_TEST_LOG) 2>&1 & whole_stack=$$!; \
	$(BIN)/pytest -m "not localstack" $(addprefix --ignore=,$(WHOLE_STACK_TESTS)); rest=$$?; \
	wait $$whole_stack; on_whole_stack=$$?; wait $$localstack; on_localstack=$$?; \
	echo; echo "== the whole-stack part (pytest -m 'not localstack' $(WHOLE_STACK_TESTS)) =="; cat $(STACK_TEST_LOG); \
	echo; echo "== the LocalStack part (pytest -m localstack) =="; cat $(TEST_LOG); \
	test $$rest -eq 0 && test $$on_whole_stack -eq 0 && test $$on_localstack -eq 0

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
