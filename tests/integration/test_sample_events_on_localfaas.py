"""Every sample event in events/ runs through its function on localfaas, as `sam local invoke -e`
would run it with Docker: valid records succeed, and exactly the malformed ones are reported. On
both backends: moto, and LocalStack (tests/support/localstack.py) in an account of the module's own."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from localfaas.local_stack import LocalStack
from storefront.events import MalformedEvent, parse_event
from storefront.front_door import BadRequest, account_requested, inventory_updated, request_body
from storefront.fulfilment_centre import assembly_request
from tests.support.localstack import backend_on
from tests.support.stack import EVENTS, ROOT, TEMPLATE, storefront_stack

pytestmark = [pytest.mark.slow, pytest.mark.kafka]


def samples() -> list[tuple[str, Path]]:
    """(function logical id, sample file) for every function's folder of sample events."""
    folders = {spec.code_dir.name: logical_id for logical_id, spec in storefront_stack().functions.items()}
    return [
        (folders[path.parent.name], path)
        for path in sorted(EVENTS.glob("*/*.json"))
        if path.parent.name in folders
    ]


def malformed_offsets(sample: dict) -> set[int]:
    offsets = set()
    for records in sample["records"].values():
        for record in records:
            try:
                parse_event(base64.b64decode(record["value"]))
            except (MalformedEvent, KeyError):
                offsets.add(record["offset"])
    return offsets


def malformed_messages(sample: dict) -> set[str]:
    ids = set()
    for record in sample["Records"]:
        try:
            message_content(record["body"])
        except MalformedEvent:
            ids.add(record["messageId"])
    return ids


def message_content(body: str):
    """An EventBridge event's storefront event (AuditLog's queue), else an assembly request (FulfilOrder's)."""
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict) and "detail-type" in envelope:
        return parse_event(envelope["detail"])
    return assembly_request(body)


def front_door_status(sample: dict) -> int:
    """What API Gateway should answer the sample: 202 for a request the front door takes, else 400."""
    body = request_body(sample["body"], is_base64_encoded=sample["isBase64Encoded"])
    make = {"POST /accounts": lambda b: account_requested(b, now=datetime.now(UTC), salt=bytes(16))}
    try:
        make.get(sample["routeKey"], inventory_updated)(body)
    except BadRequest:
        return 400
    return 202


@pytest.fixture(scope="module", params=["moto", pytest.param("localstack", marks=pytest.mark.localstack)])
def stack(request, tmp_path_factory, tansu_bootstrap):
    database = tmp_path_factory.mktemp("read-model") / "read-model.db"
    backend = backend_on(request.param, request, __name__)
    # The front door produces to a real broker (Tansu) without IAM, as `localfaas up --log kafka` runs it.
    kafka = {"KAFKA_BOOTSTRAP_SERVERS": tansu_bootstrap, "KAFKA_AUTHENTICATION": "NONE"}
    environment = {
        "ProjectSql": {"DATABASE_URL": f"sqlite:///{database}"},
        "RequestAccount": kafka,
        "PostInventoryCount": kafka,
    }
    options = {"backend": backend, "account_id": backend.account_id, "stack_name": "samples"}
    # The session's broker is shared: the front door's samples go to topics of this module's own, not
    # to the ones other modules' days read from the beginning.
    run = uuid.uuid4().hex[:8]
    topics = {"CustomerAccountsTopic": f"customer-accounts-{run}", "InventoryTopic": f"inventory-{run}"}
    with backend, LocalStack(TEMPLATE, environment=environment, parameters=topics, **options) as local:
        yield local


@pytest.mark.parametrize(("function", "path"), samples(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_sample_event_runs_through_its_function(stack, function, path):
    sample = json.loads(path.read_text())

    result = stack.invoke(function, sample)

    assert result.ok, f"{function} raised on {path.name}: {result.error}"
    if sample.get("eventSource") == "aws:kafka":
        failed = {f["itemIdentifier"]["offset"] for f in result.payload["batchItemFailures"]}
        assert failed == malformed_offsets(sample)
    elif "Records" in sample:  # SQS: failures are named by messageId
        failed = {f["itemIdentifier"] for f in result.payload["batchItemFailures"]}
        assert failed == malformed_messages(sample)
    elif sample.get("version") == "2.0":  # an HTTP API request
        assert result.payload["statusCode"] == front_door_status(sample), result.payload


def test_localfaas_invoke_command_keeps_the_sam_local_invoke_contract():
    sample = EVENTS / "create_account" / "account-requested.json"
    command = [sys.executable, "-m", "localfaas.cli", "invoke", "CreateAccount", "-e", str(sample)]
    # No backend behind it: the one record fails, so Powertools fails the whole invocation, and
    # the Lambda-shaped error (not the logs) reaches stdout with a non-zero exit, as with SAM.
    done = subprocess.run(
        [*command, "--endpoint-url", "http://127.0.0.1:9", "--runtime", "in-process"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    error = json.loads(done.stdout)
    assert error["errorType"] == "BatchProcessingError"
    assert {"errorMessage", "requestId", "stackTrace"} <= set(error)
    assert "START RequestId" in done.stderr
