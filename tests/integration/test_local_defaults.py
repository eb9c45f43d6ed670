"""The app's local defaults (env.json beside template.yaml): plain `localfaas run` and `up`, with no
--env-vars, give ProjectSql a read model in the state folder instead of the cloud's secret."""

from __future__ import annotations

import json
from pathlib import Path

from localfaas.cli import main

ROOT = Path(__file__).resolve().parents[2]
BUSINESS_DAY = ROOT / "events" / "scenarios" / "business-day.json"


def test_run_without_env_vars_projects_the_business_day_s_first_records(tmp_path, capsys):
    day = json.loads(BUSINESS_DAY.read_text())
    first = [r for r in day["records"] if r["topic"] == "customer-accounts"][:3]
    scenario = tmp_path / "first-records.json"
    scenario.write_text(
        json.dumps(
            {
                "name": "first records",
                "template": str(ROOT / "template.yaml"),
                "topics": day["topics"],
                "records": first,  # no "environment": the app's env.json is all ProjectSql gets
            }
        )
    )

    code = main(["run", "--scenario", str(scenario), "--json", str(tmp_path / "report.json")])
    capsys.readouterr()

    report = json.loads((tmp_path / "report.json").read_text())
    mapping = report["esm"]["ProjectSqlCustomerAccounts"]
    assert (mapping["delivered"], mapping["retried"], mapping["to_destination"]) == (3, 0, 0)
    assert report["functions"]["ProjectSql"]["errors"] == 0
    assert report["sqs"]["FailedRecordsQueue"]["messages"] == 0
    assert (code, report["lost"]["total"]) == (0, 0)


def test_the_app_s_local_defaults_keep_the_read_model_in_the_state_folder():
    variables = json.loads((ROOT / "env.json").read_text())

    assert variables["ProjectSql"]["DATABASE_URL"] == "sqlite:///${LOCALFAAS_STATE_DIR}/read-model.db"
