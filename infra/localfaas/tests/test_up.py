"""`localfaas up` in a subprocess, fed from "another terminal": `localfaas produce` into its log directory
and `localfaas put-events` through the endpoints file it writes. Waits are bounded; nothing is timed."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from infra.localfaas.tests.test_run import write_shop

WAIT_S = 60.0


def localfaas(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "localfaas.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )


def wait_for(condition, what: str, process: subprocess.Popen):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process.poll() is not None:
            pytest.fail(
                f"localfaas up exited ({process.returncode}) while waiting for {what}: {process.stderr.read()}"
            )
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"no {what} within {WAIT_S} s; localfaas up said: {process.communicate()[1]}")


@pytest.fixture
def up(tmp_path):
    write_shop(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "localfaas.cli", "up", "--runtime", "in-process"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def endpoints(directory: Path) -> dict | None:
    path = directory / ".localfaas" / "endpoints.json"
    return json.loads(path.read_text()) if path.exists() else None


def stored_ids(backend_url: str) -> set[str]:
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=backend_url,
        region_name="us-east-1",
        aws_access_key_id="localfaas",
        aws_secret_access_key="localfaas",
    )
    tables = dynamodb.list_tables()["TableNames"]
    items = dynamodb.scan(TableName=tables[0])["Items"] if tables else []
    return {item["id"]["S"] for item in items}


def test_up_runs_until_interrupted_and_takes_records_and_events_from_another_terminal(tmp_path, up):
    found = wait_for(lambda: endpoints(tmp_path), "endpoints file", up)
    assert found["events"].startswith("http://127.0.0.1:")
    assert Path(found["logDir"]) == (tmp_path / ".localfaas" / "log").resolve()
    assert stat.S_IMODE((tmp_path / ".localfaas").stat().st_mode) == 0o700  # the caller's data only

    produced = localfaas("produce", "orders", "--key", "shop", "--value", '{"orderId": "o-1"}', cwd=tmp_path)
    assert produced.returncode == 0, produced.stderr
    entries = [
        {
            "EventBusName": "shop",
            "Source": "shop.orders",
            "DetailType": "OrderTaken",
            "Detail": {"orderId": "o-2"},
        }
    ]
    (tmp_path / "entries.json").write_text(json.dumps(entries))
    put = localfaas("put-events", "--entries", "file://entries.json", cwd=tmp_path)
    assert put.returncode == 0, put.stderr
    assert json.loads(put.stdout)["FailedEntryCount"] == 0

    # o-1 through the Kafka mapping (whose function announces it); o-2 straight onto the bus.
    wanted = {"o-1", "notified#o-1", "notified#o-2"}
    wait_for(lambda: wanted <= stored_ids(found["backend"]), "effects of the record and the event", up)

    up.send_signal(signal.SIGINT)
    _, stderr = up.communicate(timeout=WAIT_S)
    assert up.returncode == 0, stderr
    assert "NOTHING LOST" in stderr
    # The report is up's, and counts the record another terminal produced (up produced none itself).
    heading = stderr.index("localfaas up: template.yaml\n")
    assert (
        "; 1 records read from the log, 2 events put, stopped after" in stderr[heading:]
    )  # o-2, o-1 announced
    assert not (tmp_path / ".localfaas" / "endpoints.json").exists()


def test_put_events_without_a_running_stack_says_how_to_start_one(tmp_path):
    result = localfaas("put-events", "--entries", "[]", cwd=tmp_path)
    assert result.returncode == 2
    assert "start `localfaas up` first" in result.stderr
