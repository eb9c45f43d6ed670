"""`storefront`'s command line answers a user's mistake, or a service that is not there, in one line:
a database URL without its driver, a SQLite file that does not exist, a Kafka broker that does not
answer, a reader that stops reading (`storefront difference ... | head`)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from sqlalchemy import create_engine

from storefront.cli import main
from storefront.read_model import SqlReadModel


@pytest.fixture
def read_models(tmp_path) -> tuple[str, str]:
    urls = []
    for name in ("midday", "evening"):
        url = f"sqlite:///{tmp_path / name}.db"
        SqlReadModel(create_engine(url)).create_schema()
        urls.append(url)
    return urls[0], urls[1]


def test_difference_into_a_closed_pipe_ends_quietly(read_models):
    child = subprocess.Popen(
        [sys.executable, "-m", "storefront.cli", "difference", *read_models],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    child.stdout.close()  # the reader is gone before anything is written, as `| head` after its lines

    stderr = child.stderr.read()
    child.wait(timeout=60)

    assert (child.returncode, stderr) == (1, "")


def test_difference_on_a_missing_sqlite_file_neither_fails_with_a_traceback_nor_creates_it(
    read_models, tmp_path, capsys
):
    missing = tmp_path / "typo.db"

    code = main(["difference", f"sqlite:///{missing}", read_models[1]])

    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"storefront difference: sqlite:///{missing}: no such SQLite file"
    ]
    assert not missing.exists()


def test_difference_on_a_database_without_a_read_model_says_so(read_models, tmp_path, capsys):
    empty = tmp_path / "empty.db"
    create_engine(f"sqlite:///{empty}").connect().close()

    code = main(["difference", read_models[0], f"sqlite:///{empty}"])

    assert code == 2
    assert capsys.readouterr().err.strip() == f"storefront difference: sqlite:///{empty} holds no read model"


def test_a_url_whose_driver_is_not_installed_is_one_line(read_models, capsys):
    code = main(["difference", "mysql://reader:secret@db.example/storefront", read_models[1]])

    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "storefront difference: mysql://reader:***@db.example/storefront needs the Python driver 'MySQLdb', "
        "which is not installed (the read model runs on sqlite:/// and postgresql+pg8000://)"
    ]


def test_replay_into_an_unknown_kind_of_database_is_one_line(tmp_path, capsys):
    (tmp_path / "archive").mkdir()

    code = main(
        [
            "replay",
            "--db",
            "nosuchdb://x/y",
            "--until",
            "now",
            "--source",
            "archive",
            "--archive-dir",
            str(tmp_path / "archive"),
        ]
    )

    assert code == 2
    assert (
        capsys.readouterr().err.strip()
        == "storefront replay: nosuchdb://x/y: SQLAlchemy knows no such database"
    )


def test_replay_from_an_unreachable_kafka_is_one_line_and_writes_nothing(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
    database = tmp_path / "replayed.db"

    # A child process: librdkafka writes to file descriptor 2 itself, which capsys would not see.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "storefront.cli",
            "replay",
            "--db",
            f"sqlite:///{database}",
            "--until",
            "now",
            "--source",
            "kafka",
            "--bootstrap-servers",
            closed,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"storefront replay: Kafka is not reachable at {closed} (Connect to ipv4#{closed} failed: Connection refused)"
    ]
    assert not database.exists()
