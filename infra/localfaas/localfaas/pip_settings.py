"""The command that installs a function's requirements.txt: uv when there is one, else pip, both
reading packages from the indexes pip is configured with on this machine.

`sam build`'s python pip workflow installs with pip; uv installs the same packages (`uv pip install
--target`) many times faster, from a cache of its own, so a fresh build costs seconds. uv does not read
pip's configuration files, so pip's own settings (`pip config list`: its files and PIP_* variables)
are handed to it as flags: index-url, extra-index-url, find-links, no-index, trusted-host,
constraint, and cert (as SSL_CERT_FILE).
https://pip.pypa.io/en/stable/topics/configuration/ (pip: Configuration)
https://docs.astral.sh/uv/pip/compatibility/ (uv: Compatibility with pip)
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["installer_command", "installer_env", "pip_settings", "uv_executable"]

_LISTS = ("extra-index-url", "find-links", "trusted-host", "constraint")


def uv_executable() -> str | None:
    """LOCALFAAS_UV, else uv on PATH, beside this Python, or in a .tools/uv of the working folder or
    one above it (where the project's Makefile installs it)."""
    named = os.environ.get("LOCALFAAS_UV")
    if named:
        return named if os.access(named, os.X_OK) else None
    found = shutil.which("uv") or shutil.which("uv", path=os.path.dirname(sys.executable))
    if found:
        return found
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / ".tools" / "uv" / "bin" / "uv"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


@functools.cache
def pip_settings() -> dict[str, list[str]]:
    """pip's effective settings by name (the last word of its key); its environment variables win
    over its files, as in pip."""
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        listed = ""
    from_files: dict[str, list[str]] = {}
    from_env: dict[str, list[str]] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        value = value.strip().strip("'\"")
        (from_env if key.startswith(":env:") else from_files)[name] = value.split()
    return {**from_files, **from_env}


def installer_command(python: str) -> tuple[list[str], str]:
    """The install command for `python` (without --target and -r) and a name for the installer."""
    uv = uv_executable()
    if uv is None:
        return [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"], "pip"
    # pip takes the best version over all its indexes; uv's default stops at the first index that
    # has the name, so pip's behaviour is asked for (uv's pip-compatibility page names this flag).
    command = [uv, "pip", "install", "--python", python, "--quiet", "--index-strategy", "unsafe-best-match"]
    settings = pip_settings()
    for name in ("index-url", *_LISTS):
        flag = "--allow-insecure-host" if name == "trusted-host" else f"--{name}"
        for value in settings.get(name, []) if name in _LISTS else settings.get(name, [])[:1]:
            command += [flag, value]
    if settings.get("no-index", [""])[0].lower() in ("1", "true", "yes", "on"):
        command.append("--no-index")
    return command, "uv"


def installer_env() -> dict[str, str]:
    """The installer's environment: pip's certificate bundle for uv too, no Python downloads (an
    interpreter that is not on the machine is not fetched), and none of the caller's PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    cert = pip_settings().get("cert") if uv_executable() else None
    if cert and "SSL_CERT_FILE" not in env:
        env["SSL_CERT_FILE"] = cert[0]
    return env
