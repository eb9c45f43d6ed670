"""Every command line in README.md and infra/localfaas/README.md runs as written, so that the
READMEs cannot rot: the ```sh blocks are parsed, and each command is run in order with bash in a
scratch copy of the repository, with a `localfaas up` running in the background (what put-events
and invoke talk to), each server it starts (start-lambda, start-api) in the background while the
lines after it talk to it, and the business day's records in .localfaas/demo/log (what the replay
example reads; `make demo` writes them). A command that cannot run here is listed in NOT_RUN with the reason
and checked for syntax only: its parser takes the arguments, or its Makefile target exists.

Waits are bounded; nothing is timed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
READMES = ("README.md", "infra/localfaas/README.md")
WAIT_S = 180.0


def _parses(cli: str) -> Callable[[list[str]], None]:
    def check(argv: list[str]) -> None:
        if cli == "localfaas":
            from localfaas.cli import build_parser
        else:
            from storefront.cli import _parser as build_parser
        build_parser().parse_args(argv[1:])  # argparse exits on arguments it does not take

    return check


def _make_target(argv: list[str]) -> None:
    assert re.search(rf"^{re.escape(argv[1])}:", (ROOT / "Makefile").read_text(), re.M), argv


def _sam_help(argv: list[str]) -> None:
    sam = ROOT / ".tools" / "sam" / "bin" / "sam"
    if not sam.exists():  # make setup installs it; without it the other commands are still run
        assert argv[1] in ("build", "deploy"), argv
        return
    subprocess.run([str(sam), argv[1], "--help"], check=True, capture_output=True, timeout=120)


def _on_path(argv: list[str]) -> None:
    assert (ROOT / ".venv" / "bin" / argv[0]).exists() or shutil.which(argv[0]), argv


def _installable(argv: list[str]) -> None:
    assert (ROOT / argv[-1] / "pyproject.toml").is_file(), argv


# Normalised command (its words joined by one space, comments dropped) -> why it is not run here,
# and how its syntax is checked instead.
NOT_RUN: dict[str, tuple[str, Callable[[list[str]], None]]] = {
    "make demo": ("run by the fresh-clone check: the whole day, then its replays", _make_target),
    "make test": ("the whole suite, this test included", _make_target),
    "pip install -e infra/localfaas": ("changes the environment these tests run in", _installable),
    ".tools/sam/bin/sam build": ("make test runs it (minutes of dependency builds)", _sam_help),
    ".tools/sam/bin/sam deploy --guided": ("deploys to AWS, and asks questions", _sam_help),
    "localfaas up --backend localstack": ("needs a LocalStack you run", _parses("localfaas")),
    "make localstack": ("runs LocalStack until Ctrl-C (the integration suite starts its own)", _make_target),
    "localfaas run --scenario events/scenarios/business-day.json --backend localstack --stack-name day-2": (
        "the business day on LocalStack (test_business_day_on_localstack runs it twice)",
        _parses("localfaas"),
    ),
    "localfaas up --log kafka --bootstrap-servers HOST:9092": (
        "HOST is a placeholder for your broker",
        _parses("localfaas"),
    ),
    "localfaas up --log kafka --bootstrap-servers 127.0.0.1:9092 --api-port 3000 --parameter-overrides "
    "KafkaBootstrapServers=127.0.0.1:9092 KafkaClientAuthentication=NONE": (
        "needs a broker on 127.0.0.1:9092 (test_front_door_on_localfaas runs this flow on Tansu)",
        _parses("localfaas"),
    ),
    "curl -s -X POST http://127.0.0.1:3000/accounts -H content-type: application/json -d "
    '{"email": "grace@example.com", "fullName": "Grace Hopper", "password": "correct horse battery staple"}': (
        "talks to the front door of the Kafka `up` above",
        _on_path,
    ),
    "curl -s -X POST http://127.0.0.1:3000/inventory-counts -H content-type: application/json -d "
    '{"sku": "MUG-BLUE-350", "warehouseId": "WH-LEEDS", "onHand": 4, "reorderPoint": 10, '
    '"reorderQuantity": 50, "countedAt": "2026-11-26T09:15:00Z"}': (
        "talks to the front door of the Kafka `up` above",
        _on_path,
    ),
    'curl -s -X POST http://127.0.0.1:3000/accounts -H content-type: application/json -d {"email": "nope"}': (
        "talks to the front door of the Kafka `up` above",
        _on_path,
    ),
    "moto_server -p 5000 &": ("starts a moto server and leaves it running", _on_path),
    "localfaas run --scenario events/scenarios/business-day.json --state-dir .localfaas/day "
    "--moto-endpoint http://127.0.0.1:5000": (
        "the business day a second time, on that server (test_kill_and_resume resumes a killed run)",
        _parses("localfaas"),
    ),
    "localfaas run --scenario events/scenarios/business-day.json --faults throttle=0.2,seed=7": (
        "the business day again, throttled (test_throttling covers throttling)",
        _parses("localfaas"),
    ),
    "localfaas run --scenario events/scenarios/business-day.json --faults crash=0.05,kill-after=200,seed=7": (
        "the business day again, killed and resumed (test_kill_and_resume covers it)",
        _parses("localfaas"),
    ),
    "storefront replay --db postgresql+psycopg://postgres@127.0.0.1/test --verify --skip-bad --source kafka "
    "--bootstrap-servers broker:9092": (
        "needs the live read model in PostgreSQL and a Kafka broker at broker:9092",
        _parses("storefront"),
    ),
}
# Run in the background from the start (put-events and invoke, earlier in the README, talk to it).
BACKGROUND = "localfaas up"
# Servers the README starts and then talks to from "another terminal": each runs in the background,
# from its line until the next server starts or the test ends, once its port answers.
SERVERS = {
    "localfaas start-lambda": 3001,
    "localfaas start-api -t infra/localfaas/examples/hello-api/template.yaml": 3000,
}


def sh_commands(readme: str) -> list[tuple[str, str]]:
    """("README:line", command) for every command of every ```sh block, in order; a command runs on
    over backslash-continued lines and over lines inside an open quote."""
    text = (ROOT / readme).read_text()
    found = []
    for block in re.finditer(r"^```sh\n(.*?)^```", text, re.S | re.M):
        first_line = text[: block.start()].count("\n") + 2
        pending, start = "", 0
        for number, line in enumerate(block.group(1).splitlines(), first_line):
            if not pending and not line.strip():
                continue
            start = start if pending else number
            pending += line + "\n"
            if line.endswith("\\") or not _complete(pending):
                continue
            if words(pending):  # not a line of comment only
                found.append((f"{readme}:{start}", pending.strip()))
            pending = ""
    return found


def _complete(command: str) -> bool:
    try:
        shlex.split(command, comments=True)
    except ValueError:  # "No closing quotation": the command goes on on the next line
        return False
    return True


def normalised(command: str) -> str:
    return " ".join(words(command))


def words(command: str) -> list[str]:
    """The command's arguments as the shell splits them (continuation lines joined, comments dropped)."""
    return shlex.split(command.replace("\\\n", " "), comments=True)


# -- the scratch copy and what runs beside the commands -------------------------------------------


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("fresh-clone")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    for tool in (".venv", ".tools"):
        if (ROOT / tool).exists():
            (copy / tool).symlink_to((ROOT / tool).resolve())
    _write_demo_log(copy / ".localfaas" / "demo" / "log")
    return copy


def _write_demo_log(directory: Path) -> None:
    """The business day's records, as `make demo` leaves them in its log (the functions' work is not
    needed to replay: the records are the source of truth)."""
    from localfaas.embedded_log import EmbeddedLog
    from localfaas.scenario import load_scenario

    day = load_scenario(ROOT / "events" / "scenarios" / "business-day.json")
    log = EmbeddedLog(directory)
    try:
        for topic, partitions in day.topics.items():
            log.create_topic(topic, partitions)
        for record in day.records:
            log.produce(
                record.topic,
                record.value,
                key=record.key,
                headers=record.headers,
                timestamp_ms=record.timestamp_ms,
                partition=record.partition,
            )
    finally:
        log.close()


def _env() -> dict[str, str]:
    path = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"
    # A configured AWS CLI, as the README's `aws lambda invoke --endpoint-url` line assumes one.
    aws = {
        "AWS_ACCESS_KEY_ID": "localfaas",
        "AWS_SECRET_ACCESS_KEY": "localfaas",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return {**os.environ, **aws, "PATH": path, "PYTHONUNBUFFERED": "1"}


def _start_server(command: str, port: int, scratch: Path) -> subprocess.Popen:
    log = open(scratch / f"server-{port}.err", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=scratch,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    process.log = log  # type: ignore[attr-defined]
    wait_for(lambda: _answers(port), f"{command} on port {port}", process)
    return process


def _stop_server(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.log.close()  # type: ignore[attr-defined]
    return Path(process.log.name).read_text()  # type: ignore[attr-defined]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def up(scratch) -> Iterator[subprocess.Popen]:
    """`localfaas up`, as the README writes it, its output in files (its functions log a lot)."""
    out, err = (open(scratch / f"up.{name}", "w") for name in ("out", "err"))  # noqa: SIM115
    process = subprocess.Popen(
        ["bash", "-c", BACKGROUND], cwd=scratch, env=_env(), stdout=out, stderr=err, start_new_session=True
    )
    try:
        wait_for(lambda: (scratch / ".localfaas" / "endpoints.json").exists(), "up's endpoints file", process)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        out.close()
        err.close()


def wait_for(condition: Callable[[], object], what: str, process: subprocess.Popen | None = None) -> object:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"localfaas up exited ({process.returncode}) while waiting for {what}")
        time.sleep(0.2)
    pytest.fail(f"no {what} within {WAIT_S} s")


def _backend(scratch: Path, service: str):
    endpoints = json.loads((scratch / ".localfaas" / "endpoints.json").read_text())
    return boto3.client(
        service,
        endpoint_url=endpoints["backend"],
        region_name=endpoints["region"],
        aws_access_key_id="localfaas",
        aws_secret_access_key="localfaas",
    )


def _emails_sent(scratch: Path) -> int:
    return int(_backend(scratch, "ses").get_send_quota()["SentLast24Hours"])


def _read_model_rows(scratch: Path) -> int:
    from sqlalchemy import create_engine

    from storefront.read_model import SqlReadModel

    database = scratch / ".localfaas" / "read-model.db"
    if not database.exists():
        return 0
    model = SqlReadModel(create_engine(f"sqlite:///{database}"))
    return sum(model.row_counts().values()) if model.has_schema() else 0


# -- the test ---------------------------------------------------------------------------------------


def test_the_readmes_list_only_commands_this_test_knows():
    commands = {normalised(c) for readme in READMES for _, c in sh_commands(readme)}
    assert set(NOT_RUN) <= commands, "NOT_RUN names a command the READMEs no longer have"
    assert BACKGROUND in commands


def test_every_readme_command_runs_as_written(scratch, up):
    ran, server, servers_said = [], None, []
    for where, command in [c for readme in READMES for c in sh_commands(readme)]:
        line = normalised(command)
        if line in NOT_RUN:
            NOT_RUN[line][1](words(command))
            continue
        if line == BACKGROUND:
            continue  # running since the start
        if line in SERVERS:
            if server is not None:
                servers_said.append(_stop_server(server))
            server = _start_server(command, SERVERS[line], scratch)
            ran.append(where)
            continue
        emails_before = _emails_sent(scratch) if line.startswith("localfaas put-events") else None
        done = subprocess.run(
            ["bash", "-c", command], cwd=scratch, env=_env(), capture_output=True, text=True, timeout=WAIT_S
        )
        assert done.returncode == 0, f"{where}: {command}\nexit {done.returncode}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr, f"{where}: {command}\n{done.stderr[-3000:]}"
        if line.startswith("localfaas produce"):
            # ProjectSql (with the app's env.json: no --env-vars) projects the record into the state folder.
            wait_for(lambda: _read_model_rows(scratch), "the produced record in .localfaas/read-model.db", up)
        if emails_before is not None:
            wait_for(lambda: _emails_sent(scratch) > emails_before, "the put event's email", up)  # noqa: B023
        ran.append(where)

    if server is not None:
        servers_said.append(_stop_server(server))
    assert not [said for said in servers_said if "Traceback" in said], servers_said
    up.send_signal(signal.SIGINT)
    up.wait(timeout=WAIT_S)
    report = (scratch / "up.err").read_text()
    assert up.returncode == 0 and "Traceback" not in report
    assert re.search(r"SQS messages waiting: FailedRecordsQueue +0\n", report), report[-3000:]
    assert re.search(r"SQS messages waiting: FailedEventsQueue +0\n", report), report[-3000:]
    assert len(ran) >= 9
