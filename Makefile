# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON      ?= python3.11
VENV        := .venv
BIN         := $(VENV)/bin
SAM_VENV    := .tools/sam
SAM         := $(SAM_VENV)/bin/sam
SAM_VERSION := 1.170.0
REGION      ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= $(REGION)

.PHONY: setup lint template-checks build test unit demo bench bench-quick clean

$(BIN)/.installed: pyproject.toml infra/localfaas/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]" -e infra/localfaas
	@touch $@

# aws-sam-cli pins boto3 and click, so it lives in its own tool environment.
$(SAM):
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --disable-pip-version-check aws-sam-cli==$(SAM_VERSION)

setup: $(BIN)/.installed $(SAM)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

template-checks: $(BIN)/.installed $(SAM)
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml --region $(REGION)

build: $(SAM)
	$(SAM) build --template template.yaml --build-dir .aws-sam/build

test: setup lint template-checks build
	$(BIN)/pytest

unit: $(BIN)/.installed
	$(BIN)/pytest tests/unit tests/contract

demo: $(BIN)/.installed
	$(BIN)/localfaas run --scenario events/scenarios/business-day.json

bench: $(BIN)/.installed
	$(BIN)/python -m tests.bench

bench-quick: $(BIN)/.installed
	$(BIN)/python -m tests.bench --quick

clean:
	rm -rf $(VENV) .tools .aws-sam .localfaas
