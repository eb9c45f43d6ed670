"""A Kafka broker that is not there is said in one line, within seconds, by every command that needs
one (`produce --bootstrap-servers`, `up --log kafka`): librdkafka's own retries and log lines stay out
of sight. No broker runs here: a port just closed, a name that cannot resolve, a socket that never
answers stand in for an unreachable cluster."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from localfaas.kafka_log import KafkaLog, KafkaUnreachable


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


def test_a_closed_port_is_unreachable_with_librdkafkas_reason(closed_port):
    # A minute's allowance: a refused connection is reported as soon as librdkafka says every
    # broker is down, not when the allowance runs out.
    with pytest.raises(KafkaUnreachable) as raised:
        KafkaLog(closed_port, connect_timeout_s=60)

    assert str(raised.value) == (
        f"Kafka is not reachable at {closed_port} (Connect to ipv4#{closed_port} failed: Connection refused)"
    )


def test_a_name_that_does_not_resolve_is_unreachable():
    with pytest.raises(
        KafkaUnreachable, match=r"^Kafka is not reachable at no-broker\.invalid:9092 \(.*resolve"
    ):
        KafkaLog("no-broker.invalid:9092")


def test_a_broker_that_never_answers_is_given_up_after_the_allowance():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, says nothing
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(KafkaUnreachable) as raised:
            KafkaLog(address, connect_timeout_s=0.5)

    assert str(raised.value) == f"Kafka is not reachable at {address} (no answer within 0.5 s)"


def _localfaas(*args: str, cwd) -> subprocess.CompletedProcess:
    # A child process: librdkafka writes to file descriptor 2 itself, which capsys would not see.
    return subprocess.run(
        [sys.executable, "-m", "localfaas.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_produce_to_an_unreachable_broker_is_one_line_and_exit_2(closed_port, tmp_path):
    done = _localfaas(
        "produce", "payments", "--value", "{}", "--bootstrap-servers", closed_port, cwd=tmp_path
    )

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        f"localfaas produce: error: Kafka is not reachable at {closed_port} "
        f"(Connect to ipv4#{closed_port} failed: Connection refused)"
    ]


def test_up_on_an_unreachable_broker_is_one_line_and_exit_2(closed_port, tmp_path):
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: python3.11, CodeUri: src/, Handler: app.handler}\n"
    )

    done = _localfaas("up", "--log", "kafka", "--bootstrap-servers", closed_port, cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"localfaas up: error: Kafka is not reachable at {closed_port} "
        f"(Connect to ipv4#{closed_port} failed: Connection refused)"
    ]
    assert not (tmp_path / ".localfaas" / "endpoints.json").exists()
