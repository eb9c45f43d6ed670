"""LocalStack for the tests: started from `.tools/localstack` (make setup) on a free 127.0.0.1 port;
`python -m tests.support.localstack` (make localstack) starts the same one on 127.0.0.1:4566.

Started as LocalStack runs without Docker (`python -m localstack.runtime.main`, its host mode):
hypercorn as the gateway server, because the default one binds every interface whatever
GATEWAY_LISTEN's host says; no DNS server of its own; only the services the template uses; DynamoDB
from LocalStack's moto (`PROVIDER_OVERRIDE_DYNAMODB=moto`, infra/localstack), because DynamoDB Local
is a download at start. Configuration names: https://docs.localstack.cloud/aws/capabilities/config/configuration/

One LocalStack serves the session; each test module isolates itself by its own account (LocalStack
namespaces every resource by the access key id when it is 12 digits,
https://docs.localstack.cloud/aws/capabilities/config/credentials) and its own stack name. It is
stopped by its process group: the runtime starts helper processes of its own. When it cannot
start, the tests that need it fail with its output: they never skip.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import ROOT

# What template.yaml's resources and localfaas's own calls need; nothing else is started.
SERVICES = ("dynamodb", "events", "s3", "ses", "sns", "sqs", "sts")
_START_TIMEOUT_S = 180.0
_STOP_TIMEOUT_S = 5.0  # its state is the session's alone: nothing to flush


class LocalStackNotStarted(RuntimeError):
    """LocalStack did not come up: the message says why, with the end of its output."""


def tool_python() -> Path:
    """The interpreter of LocalStack's tool environment: $LOCALSTACK_VENV (the Makefile's variable),
    relative to the repository, else .tools/localstack."""
    venv = Path(os.environ.get("LOCALSTACK_VENV") or ".tools/localstack")
    return (venv if venv.is_absolute() else ROOT / venv) / "bin" / "python"


def account_for(name: str) -> str:
    """A 12-digit account id of its own for `name` (a test module), never moto's default one."""
    digits = str(int(hashlib.sha256(name.encode()).hexdigest(), 16))[:11]
    return "9" + digits


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """The IPv4 and IPv6 addresses something listens on at `port`, from the kernel's socket tables."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                addresses.add(_address(address))
    return addresses


def _address(hex_address: str) -> str:
    # /proc/net/tcp prints each 32-bit word of the address in the host's (little-endian) order.
    raw = b"".join(bytes.fromhex(hex_address[i : i + 8])[::-1] for i in range(0, len(hex_address), 8))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


class LocalStackProcess:
    """One LocalStack runtime in its own process group, its state and output in `workdir`."""

    def __init__(self, workdir: Path, python: Path | None = None, *, port: int = 0) -> None:
        self.workdir = workdir
        self.python = python or tool_python()
        self.port = port  # 0: a free one
        self.process: subprocess.Popen | None = None
        self.output = workdir / "localstack.log"
        self.started_in_s = 0.0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalStackProcess:
        if not self.python.is_file():
            raise LocalStackNotStarted(
                f"LocalStack is not installed at {self.python.parent.parent}: run `make setup` "
                "(or point LOCALSTACK_VENV at its tool environment)"
            )
        self.port = self.port or _free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        tmp = self.workdir / "tmp"
        tmp.mkdir(exist_ok=True)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_"))},
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "GATEWAY_SERVER": "hypercorn",
            "SERVICES": ",".join(SERVICES),
            "DNS_ADDRESS": "0",
            "PROVIDER_OVERRIDE_DYNAMODB": "moto",
            # Host mode, every folder under the workdir: in a container LocalStack takes the machine's
            # /tmp/localstack and /var/lib/localstack, which another LocalStack clears when it stops.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(self.workdir / "filesystem"),
            "LOCALSTACK_VOLUME_DIR": str(self.workdir / "volume"),
            "TMPDIR": str(tmp),
            "DISABLE_EVENTS": "1",  # no analytics calls home
            "SKIP_SSL_CERT_DOWNLOAD": "1",
        }
        began = time.monotonic()
        with self.output.open("wb") as sink:
            self.process = subprocess.Popen(
                [str(self.python), "-m", "localstack.runtime.main"],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, to stop it with its helpers
            )
        try:
            self._wait_until_healthy()
            self._check_bind()
        except LocalStackNotStarted:
            self.stop()
            raise
        self.started_in_s = time.monotonic() - began
        return self

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LocalStackNotStarted(f"LocalStack exited with {self.process.returncode}\n{self.tail()}")
            if self._healthy():
                return
            time.sleep(0.2)
        raise LocalStackNotStarted(
            f"LocalStack was not healthy after {_START_TIMEOUT_S:.0f} s\n{self.tail()}"
        )

    def _healthy(self) -> bool:
        try:
            url = f"{self.endpoint_url}/_localstack/health"
            with urllib.request.urlopen(url, timeout=2) as response:
                services = json.load(response).get("services", {})
        except (OSError, ValueError):
            return False
        return all(services.get(name) in ("available", "running") for name in SERVICES)

    def _check_bind(self) -> None:
        addresses = listening_addresses(self.port)
        if addresses != {"127.0.0.1"}:
            raise LocalStackNotStarted(
                f"LocalStack listens on {sorted(addresses) or 'nothing'} at port {self.port}, not 127.0.0.1 alone"
            )

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        try:  # the whole group, even when the runtime itself has exited and left helpers behind
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            process.wait()


@contextmanager
def running_localstack(workdir: Path) -> Iterator[LocalStackProcess]:
    localstack = LocalStackProcess(workdir).start()
    try:
        yield localstack
    finally:
        localstack.stop()


@pytest.fixture(scope="session")
def localstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    """The session's LocalStack (a LocalStackProcess: `endpoint_url`, `port`), stopped at the end."""
    try:
        process = LocalStackProcess(tmp_path_factory.mktemp("localstack")).start()
    except LocalStackNotStarted as exc:
        pytest.fail(f"LocalStack cannot run here: {exc}", pytrace=False)
    try:
        yield process
    finally:
        process.stop()


def backend_on(kind: str, request: pytest.FixtureRequest, scope: str) -> Any:
    """A localfaas backend of `kind` for one test module's stack: a moto of its own (reset), or the
    session's LocalStack in an account of `scope`'s own (a module, or a module and its parameters)."""
    from localfaas.backend import LocalStackBackend, MotoBackend

    if kind == "moto":
        return MotoBackend(reset=True)
    endpoint = request.getfixturevalue("localstack").endpoint_url
    return LocalStackBackend(endpoint, account_id=account_for(scope))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.localstack",
        description="Start LocalStack as the tests start it, on 127.0.0.1, until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=4566, help="(default: %(default)s; 0: a free one)")
    parser.add_argument(
        "--workdir", default=".localfaas/localstack", help="its state and output (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        process = LocalStackProcess(Path(args.workdir).resolve(), port=args.port).start()
    except LocalStackNotStarted as e:
        print(f"localstack: error: {e}", file=sys.stderr)
        return 1
    print(f"LocalStack at {process.endpoint_url} (output in {process.output}); Ctrl-C stops it", flush=True)
    try:
        process.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        process.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
