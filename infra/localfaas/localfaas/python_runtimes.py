"""Lambda's Python runtimes on this machine: which interpreter runs a function's `Runtime: python3.X`.

Lambda runs each function on the runtime it declares, with the AWS SDK for Python (boto3 and
botocore) already installed; the architecture (x86_64 or arm64) is the function's too.
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html (Lambda runtimes)
https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html (Building Lambda functions with Python)

Here a runtime is the machine's `python3.X` when one answers (on PATH, or under pyenv's versions
folder: pyenv's shims answer only for the versions pyenv has been told to use), else the host's
Python, said once. A build installs the host's boto3 version for another Python (localfaas.build),
last on the import path, as /var/runtime is.
Not emulated: arm64 (functions run on the host's architecture; said once).
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["Interpreter", "host_sdk_requirement", "interpreter_for", "note_once", "runtime_version"]

_RUNTIME = re.compile(r"^python(3\.\d+)$")
HOST_VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"
_said: set[str] = set()


def note_once(text: str) -> None:
    """Say `text` on stderr, once per process: a fact about the whole run, not about one invocation."""
    if text not in _said:
        _said.add(text)
        print(f"localfaas: note: {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Interpreter:
    """The interpreter that runs a function, and whether it is the one the function declared."""

    executable: str
    version: str  # "3.12"
    declared: str  # the function's Runtime, "python3.12"

    @property
    def is_host(self) -> bool:
        return os.path.realpath(self.executable) == os.path.realpath(sys.executable)

    @property
    def matches(self) -> bool:
        return f"python{self.version}" == self.declared


def runtime_version(runtime: str) -> str | None:
    """ "3.12" for "python3.12"; None for a runtime that is not a Python 3 one."""
    match = _RUNTIME.match(runtime or "")
    return match.group(1) if match else None


def interpreter_for(runtime: str) -> Interpreter:
    """The interpreter for `runtime` ("python3.12"): the host's when the versions agree, else the
    machine's python3.12 when one runs, else the host's (with a note, once)."""
    version = runtime_version(runtime)
    if version is None or version == HOST_VERSION:
        return Interpreter(sys.executable, HOST_VERSION, runtime)
    found = _find(version)
    if found is not None:
        return Interpreter(found, version, runtime)
    note_once(
        f"Runtime {runtime} has no python{version} on this machine; its functions run on the host's "
        f"Python {HOST_VERSION}"
    )
    return Interpreter(sys.executable, HOST_VERSION, runtime)


@functools.cache
def _find(version: str) -> str | None:
    """The first candidate `pythonX.Y` that runs and says it is X.Y, as its real executable."""
    candidates = [shutil.which(f"python{version}")]
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates += sorted(
        glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", f"python{version}"))
    )
    for candidate in filter(None, candidates):
        try:
            answer = subprocess.run(  # noqa: S603 - a Python interpreter found on this machine
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        lines = answer.stdout.split()
        if answer.returncode == 0 and len(lines) == 2 and lines[0] == version:
            return lines[1]
    return None


def note_architecture(function_id: str, architectures: tuple[str, ...]) -> None:
    if "arm64" in architectures:
        note_once(
            f"{function_id} declares Architectures arm64; localfaas runs it on this machine's "
            f"{os.uname().machine} (arm64 is not emulated)"
        )


def host_sdk_requirement() -> str | None:
    """boto3 at the host's version: the SDK a build installs for another Python, as Lambda's runtimes
    bundle it; None when the host has no boto3."""
    from importlib import metadata

    try:
        return f"boto3=={metadata.version('boto3')}"
    except metadata.PackageNotFoundError:
        return None
