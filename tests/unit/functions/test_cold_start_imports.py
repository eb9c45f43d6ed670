"""What a handler's cold start loads: not the libraries it has no use for (BENCHMARKS.md, cold start).

Each handler is imported in a fresh interpreter, as Lambda's runtime imports it (its CodeUri folder
first on sys.path, the layer after it, both before site-packages), with the environment template.yaml
gives it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.stack import REGION, storefront_stack

STACK = storefront_stack()
# Functions an event source mapping invokes with batches (Kafka, SQS, streams): Powertools' batch utility.
BATCH_FUNCTIONS = {
    STACK.function(m.properties["FunctionName"]).logical_id for m in STACK.event_source_mappings
}
_PROBE = """
import importlib, json, sys
sys.path[:0] = sys.argv[2:]  # code, then layers, before site-packages, as in Lambda
importlib.import_module(sys.argv[1])
from storefront.events import event_classes
print(json.dumps({
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in {"aws_lambda_powertools", "sqlalchemy", "jsonpath_ng"}),
    "built": sorted(c.__name__ for c in event_classes() if c.__pydantic_complete__),
}))
"""


def imported(logical_id: str, tmp_path) -> dict:
    function = STACK.function(logical_id)
    env = {
        **os.environ,
        **function.environment,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if "DATABASE_URL" in env:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'read-model.sqlite3'}"
    module = function.handler.rsplit(".", 1)[0]
    command = [sys.executable, "-c", _PROBE, module, str(function.code_dir), *map(str, function.layer_dirs)]
    done = subprocess.run(command, env=env, cwd=function.code_dir, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("logical_id", sorted(STACK.functions))
def test_a_cold_start_builds_no_event_model_nor_loads_what_the_handler_has_no_use_for(logical_id, tmp_path):
    loaded = imported(logical_id, tmp_path)
    assert loaded["built"] == []  # each model is built on its first use
    assert "sqlalchemy.orm" not in loaded["modules"]  # the read model is SQLAlchemy Core
    assert not any(m.startswith("jsonpath_ng") or ".data_masking" in m for m in loaded["modules"])
    # Powertools builds its parser models for type hints when pydantic is loaded before its batch
    # utility (aws_lambda_powertools/utilities/batch/types.py): the handlers import the batch first.
    assert not any(m.startswith("aws_lambda_powertools.utilities.parser") for m in loaded["modules"])
    if logical_id not in BATCH_FUNCTIONS:  # e.g. the EventBridge handlers: no batch to process
        assert "aws_lambda_powertools.utilities.batch" not in loaded["modules"]
