"""`localfaas run` with kill-after=N: the run is a child process, SIGKILLed right after invocation N,
started again without the kill on the same moto server, log and state folder, and the exit status and
report are the resumed child's."""

from __future__ import annotations

import json

from infra.localfaas.tests.test_run import DAY, write_scenario, write_shop
from localfaas.backend import MotoBackend
from localfaas.cli import main


def run(tmp_path, *flags):
    report = tmp_path / f"report{len(list(tmp_path.glob('report*.json')))}.json"
    status = main(["run", "--scenario", str(tmp_path / "scenario.json"), "--json", str(report), *flags])
    return status, json.loads(report.read_text()) if report.exists() else None


def test_a_killed_run_is_resumed_once_and_finishes_with_the_resumed_runs_status(tmp_path, capfd):
    write_shop(tmp_path)
    write_scenario(tmp_path, DAY)
    status, report = run(tmp_path, "--faults", "kill-after=2,seed=1")
    err = capfd.readouterr().err
    assert err.count("localfaas run: killed after invocation 2; resuming") == 1
    assert err.count("localfaas run: shop-day: 5 records") == 2  # the killed run and the resumed one
    assert report is not None  # the resumed run wrote its report
    assert status == (0 if report["lost"]["total"] == 0 and all(c["ok"] for c in report["checks"]) else 1)


def test_on_the_callers_moto_server_the_resumed_run_has_every_record_processed_there(tmp_path, capfd):
    write_shop(tmp_path)
    write_scenario(tmp_path, DAY)
    with MotoBackend() as moto:
        status, _ = run(tmp_path, "--faults", "kill-after=1,seed=1", "--moto-endpoint", moto.endpoint_url)
        items = moto.client("dynamodb").scan(TableName="localfaas-Records")["Items"]
    assert "killed after invocation 1; resuming" in capfd.readouterr().err
    stored = {item["id"]["S"] for item in items}
    # The log is durable: every record, processed before the kill or after it, has its effect.
    assert {"o-1", "o-2", "o-3", "payment#p-1"} <= stored
    assert status in (0, 1)


def test_a_plan_whose_kill_never_comes_runs_once(tmp_path, capfd):
    write_shop(tmp_path)
    write_scenario(tmp_path, DAY)
    status, report = run(tmp_path, "--faults", "kill-after=1000")
    assert "killed after" not in capfd.readouterr().err
    assert status == 0 and report["lost"]["total"] == 0


def test_kill_after_needs_the_moto_backend(tmp_path, capsys):
    write_shop(tmp_path)
    write_scenario(tmp_path, DAY)
    assert (
        main(
            [
                "run",
                "--scenario",
                str(tmp_path / "scenario.json"),
                "--backend",
                "aws",
                "--faults",
                "kill-after=3",
            ]
        )
        == 2
    )
    assert capsys.readouterr().err == (
        "localfaas run: error: kill-after needs the moto backend (its server outlives the killed run)\n"
    )


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, capfd):
    write_shop(tmp_path)
    write_scenario(tmp_path, DAY)
    _, uninterrupted = run(tmp_path)
    _, resumed_report = run(tmp_path, "--faults", "kill-after=2,seed=1")
    for section in ("records", "dynamodb", "sqs", "lost"):
        assert resumed_report[section] == uninterrupted[section], section
    assert resumed_report["functions"].keys() == uninterrupted["functions"].keys()
