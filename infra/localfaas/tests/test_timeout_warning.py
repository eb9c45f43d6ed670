"""The in-process runtime cannot stop a function at its Timeout; it says so once when a run, an up or
an invocation starts on it, and the worker runtime (which enforces it) says nothing."""

from __future__ import annotations

import json

import pytest

from infra.localfaas.tests.sam_app import write_app
from infra.localfaas.tests.test_run_interrupted import APP, TEMPLATE, record
from localfaas.cli import main
from localfaas.runtime import TIMEOUT_NOT_ENFORCED


@pytest.fixture
def scenario(tmp_path):
    write_app(tmp_path, TEMPLATE, {"src/app.py": APP})
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({"template": "template.yaml", "records": [record("orders", "o-1", 8)]}))
    return path


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if "Timeout" in line]


def test_run_on_the_in_process_runtime_warns_once(scenario, capsys):
    assert main(["run", "--scenario", str(scenario), "--runtime", "in-process"]) == 0

    assert warnings(capsys.readouterr().err) == [f"localfaas run: warning: {TIMEOUT_NOT_ENFORCED}"]


def test_the_worker_runtime_enforces_it_and_says_nothing(scenario, capsys):
    assert main(["run", "--scenario", str(scenario), "--runtime", "worker"]) == 0

    assert warnings(capsys.readouterr().err) == []


def test_invoke_on_the_in_process_runtime_warns_once(scenario, capsys, monkeypatch):
    monkeypatch.chdir(scenario.parent)

    code = main(["invoke", "Count", "--runtime", "in-process", "--endpoint-url", "http://127.0.0.1:9"])

    assert code == 0
    assert warnings(capsys.readouterr().err) == [f"localfaas invoke: warning: {TIMEOUT_NOT_ENFORCED}"]
