"""`localfaas test-event-pattern` answers like `aws events test-event-pattern`."""

from __future__ import annotations

import json

import pytest

from localfaas.cli import main

EVENT = {
    "id": "e1",
    "account": "123456789012",
    "source": "aws.ec2",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-east-1",
    "resources": [],
    "detail-type": "EC2 Instance State-change Notification",
    "detail": {"state": "terminated"},
}


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["test-event-pattern", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_matching_pattern_prints_result_true(capsys):
    code, out, _ = run(capsys, "--event-pattern", '{"source": ["aws.ec2"]}', "--event", json.dumps(EVENT))
    assert code == 0
    assert out == '{\n    "Result": true\n}\n'


def test_non_matching_pattern_prints_result_false(capsys):
    pattern = '{"detail": {"state": ["running"]}}'
    code, out, _ = run(capsys, "--event-pattern", pattern, "--event", json.dumps(EVENT))
    assert code == 0
    assert json.loads(out) == {"Result": False}


def test_file_parameters_are_read(tmp_path, capsys):
    (tmp_path / "pattern.json").write_text('{"detail": {"state": [{"prefix": "term"}]}}')
    (tmp_path / "event.json").write_text(json.dumps(EVENT))
    code, out, _ = run(
        capsys,
        "--event-pattern",
        f"file://{tmp_path}/pattern.json",
        "--event",
        f"file://{tmp_path}/event.json",
    )
    assert code == 0
    assert json.loads(out) == {"Result": True}


def test_invalid_pattern_exits_2_with_aws_error(capsys):
    code, out, err = run(capsys, "--event-pattern", '{"source": "aws.ec2"}', "--event", json.dumps(EVENT))
    assert code == 2
    assert out == ""
    assert (
        "An error occurred (InvalidEventPatternException) when calling the TestEventPattern operation: "
        'Event pattern is not valid. Reason: "source" must be an object or an array'
    ) in err


def test_event_without_required_fields_is_rejected(capsys):
    code, _, err = run(capsys, "--event-pattern", '{"source": ["x"]}', "--event", '{"source": "x"}')
    assert code == 2
    assert "ValidationException" in err
    assert "detail-type" in err


def test_event_without_resources_is_accepted_as_aws_does(capsys):
    event = {key: value for key, value in EVENT.items() if key != "resources"}
    code, out, err = run(capsys, "--event-pattern", '{"source": ["aws.ec2"]}', "--event", json.dumps(event))
    assert (code, err) == (0, "")
    assert json.loads(out) == {"Result": True}


@pytest.mark.parametrize("field", ["id", "account", "source", "time", "region", "detail-type"])
def test_each_field_aws_requires_is_still_required(capsys, field):
    event = {key: value for key, value in EVENT.items() if key != field}
    code, _, err = run(capsys, "--event-pattern", '{"source": ["aws.ec2"]}', "--event", json.dumps(event))
    assert code == 2
    assert f"Missing required fields: {field}" in err


def test_missing_file_is_a_parameter_error(tmp_path, capsys):
    code, _, err = run(capsys, "--event-pattern", f"file://{tmp_path}/nope.json", "--event", "{}")
    assert code == 2
    assert "Error parsing parameter '--event-pattern': Unable to load paramfile" in err


def test_both_parameters_are_required(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["test-event-pattern", "--event", "{}"])
    assert exited.value.code == 2
