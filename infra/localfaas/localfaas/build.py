"""`sam build` for Python functions and layers: each in a build folder of its own, dependencies cached.

Laid out as `sam build` lays it out: .aws-sam/build/<LogicalId>/ holds a function's code with the
packages of its CodeUri's requirements.txt beside it (the python pip workflow copies the source over
the installed packages, leaving out what its EXCLUDED_FILES names); a layer with `Metadata:
BuildMethod: python3.X` gets both under .aws-sam/build/<LogicalId>/python/, where Lambda's
/opt/python is on sys.path; `BuildMethod: makefile` runs `make build-<LogicalId>` with ARTIFACTS_DIR.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/using-sam-cli-build.html
(Introduction to building with AWS SAM)
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/building-layers.html
(Building Lambda layers in AWS SAM)
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/building-custom-runtimes.html
(Building a custom runtime / makefile builds)
Packages are installed for the function's declared Python (localfaas.python_runtimes), once per
(requirements.txt, Python version, installer) into a cache shared by every project of the user;
a build folder is assembled again only when its source or its packages changed, so a second start
installs and copies nothing. The installer is uv when there is one (the same packages as pip, in a
fraction of the time, from the same indexes: pip's own settings are handed to it), else pip.
Not emulated: `sam build --use-container`, other languages' workflows, BuildProperties, arm64 wheels
(packages are those of this machine's architecture), and the build folder's template.yaml.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

from localfaas.pip_settings import installer_command, installer_env
from localfaas.python_runtimes import host_sdk_requirement, interpreter_for, note_once, runtime_version
from localfaas.user_cache import cache_root

if TYPE_CHECKING:
    from localfaas.template import FunctionSpec, Stack

__all__ = ["BuildError", "BuildResult", "build_stack", "default_build_dir"]

BUILD_DIR = Path(".aws-sam") / "build"
MANIFEST = "requirements.txt"
# aws-lambda-builders' PythonPipWorkflow.EXCLUDED_FILES: what the python pip workflow does not copy.
EXCLUDED = (
    ".aws-sam", ".chalice", ".git", ".gitignore", "*.pyc", "__pycache__", "*.so", ".Python", "*.egg-info",
    "*.egg", "pip-log.txt", "pip-delete-this-directory.txt", "htmlcov", ".tox", ".nox", ".coverage",
    ".cache", ".pytest_cache", ".python-version", ".mypy_cache", ".dmypy.json", ".pyre", ".env", ".venv",
    "venv", "venv.bak", "env.bak", "ENV", "env", ".vscode", ".idea",
)  # fmt: skip
STATE_FILE = "localfaas-build.json"


class BuildError(Exception):
    """A build that cannot be done: the message says which resource and why, in one line."""


@dataclass
class BuildResult:
    """What a build made: each function's and layer's folder, and what it had to do for them."""

    build_dir: Path
    functions: dict[str, Path] = field(default_factory=dict)  # function logical id -> build folder
    layer_dirs: dict[str, list[Path]] = field(default_factory=dict)  # function logical id -> its layers'
    sdk_dirs: dict[str, Path] = field(default_factory=dict)  # function logical id -> the SDK, another Python
    installed: list[str] = field(default_factory=list)  # "LogicalId (python3.X)" whose packages installed
    assembled: list[str] = field(default_factory=list)  # logical ids whose build folder was made anew
    up_to_date: list[str] = field(default_factory=list)

    def apply(self, spec: FunctionSpec, *, shared_interpreter: bool) -> FunctionSpec:
        """`spec` running from its build. A worker runs from the build folders as Lambda runs from
        /var/task and /opt/python. The in-process runtime shares one interpreter, whose own libraries
        must win (a compiled module cannot load twice): it keeps importing the code from its sources
        and finds the built packages after its own."""
        if not any(spec.logical_id in built for built in (self.functions, self.layer_dirs, self.sdk_dirs)):
            return spec
        code_dir = self.functions.get(spec.logical_id, spec.code_dir)
        layer_dirs = tuple(self.layer_dirs.get(spec.logical_id, spec.layer_dirs))
        if shared_interpreter:
            extra = [d for d in (code_dir, *layer_dirs) if d not in (spec.code_dir, *spec.layer_dirs)]
            return replace(spec, package_dirs=tuple(extra))
        sdk = tuple(filter(None, [self.sdk_dirs.get(spec.logical_id)]))
        return replace(spec, code_dir=code_dir, layer_dirs=layer_dirs, package_dirs=sdk)

    def summary(self) -> str:
        return (
            f"built {len(self.assembled)} folder(s) in {self.build_dir}"
            f" ({len(self.installed)} with packages installed), {len(self.up_to_date)} up to date"
        )


def default_build_dir(template: Path) -> Path:
    """.aws-sam/build beside the template, where `sam build` run from the template's folder puts it."""
    return template.resolve().parent / BUILD_DIR


def cache_dir() -> Path:
    """Installed packages, shared by every project of this user (localfaas.user_cache)."""
    return cache_root()


def build_stack(
    stack: Stack, build_dir: Path | None = None, *, say: Callable[[str], None] | None = None
) -> BuildResult:
    """Build every Python function and layer of `stack` into `build_dir` (default .aws-sam/build)."""
    build_dir = (build_dir or default_build_dir(stack.template_path)).resolve()
    result = BuildResult(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    with _locked(build_dir / f".{STATE_FILE}.lock"):
        state = _read_state(build_dir / STATE_FILE)
        builder = _Builder(build_dir, state, result, say or (lambda text: None))
        layers = {arn: builder.layer(*layer) for arn, layer in stack.layer_versions().items()}
        for spec in stack.functions.values():
            built = builder.function(spec, stack.resource(spec.logical_id).metadata.get("BuildMethod"))
            if built is not None:
                result.functions[spec.logical_id] = built
            sdk = builder.sdk(spec.runtime) if runtime_version(spec.runtime) else None
            if sdk is not None:
                result.sdk_dirs[spec.logical_id] = sdk
            arns = stack.resource(spec.logical_id).properties.get("Layers") or []
            if any(layers.get(arn) for arn in arns):
                result.layer_dirs[spec.logical_id] = [
                    d for arn in arns for d in (layers.get(arn) or _unbuilt(stack, arn, spec.runtime))
                ]
        (build_dir / STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True))
    return result


def _unbuilt(stack: Stack, arn: str, runtime: str) -> list[Path]:
    from localfaas.template import layer_import_dirs

    found = stack.layer_versions().get(arn)
    return layer_import_dirs(found[1], found[2], runtime) if found else []


class _Builder:
    def __init__(self, build_dir: Path, state: dict, result: BuildResult, say: Callable[[str], None]) -> None:
        self.build_dir, self.state, self.result, self.say = build_dir, state, result, say

    def function(self, spec: FunctionSpec, method: str | None) -> Path | None:
        if spec.packaged or not spec.code_dir.is_dir():
            return None  # a .zip, a file or InlineCode is a package already; sam build leaves it
        version = runtime_version(spec.runtime)
        if version is None:
            return None  # the runtime refuses it when invoked
        return self._artifact(spec.logical_id, spec.code_dir, method, spec.runtime, inner=None)

    def layer(self, logical_id: str, content: Path, method: str | None) -> list[Path] | None:
        """The layer's import folders once built; None for a layer without BuildMethod (used as it is)."""
        if method is None or not content.is_dir():
            return None
        if method == "makefile":
            artifact = self._artifact(logical_id, content, method, None, inner=None)
            return [p for p in (artifact / "python",) if p.is_dir()] or [artifact]
        if runtime_version(method) is None:
            raise BuildError(
                f"{logical_id}: BuildMethod {method} is not supported by localfaas ({_SUPPORTED})"
            )
        return [self._artifact(logical_id, content, method, method, inner="python") / "python"]

    def _artifact(
        self, logical_id: str, source: Path, method: str | None, runtime: str | None, inner: str | None
    ) -> Path:
        """Build `source` into build_dir/logical_id unless what it was built from is unchanged."""
        artifact = self.build_dir / logical_id
        if method == "makefile":
            key, deps, make = _digest(["makefile", _tree_fingerprint(source)]), None, True
        elif method is None or runtime_version(method) is not None:
            deps = self._dependencies(logical_id, source / MANIFEST, runtime or str(method))
            key, make = _digest(["pip", inner, str(deps), _tree_fingerprint(source)]), False
        else:
            raise BuildError(
                f"{logical_id}: BuildMethod {method} is not supported by localfaas ({_SUPPORTED})"
            )
        if self.state.get(logical_id) == key and artifact.is_dir():
            self.result.up_to_date.append(logical_id)
            return artifact
        staging = Path(tempfile.mkdtemp(prefix=f".{logical_id}.", dir=self.build_dir))
        try:
            if make:
                _make(logical_id, source, staging)
            else:
                target = staging / inner if inner else staging
                if deps is not None:
                    _copy_tree(deps, target, link=True)
                _copy_tree(source, target, excluded=EXCLUDED)
            shutil.rmtree(artifact, ignore_errors=True)
            staging.rename(artifact)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.state[logical_id] = key
        self.result.assembled.append(logical_id)
        return artifact

    def _dependencies(self, logical_id: str, manifest: Path, runtime: str) -> Path | None:
        """The folder of installed packages for this requirements.txt on this Python, installed once."""
        if not manifest.is_file():
            return None
        return self._installed(f"{logical_id}'s {manifest}", manifest.read_text(), runtime)

    def sdk(self, runtime: str) -> Path | None:
        """The AWS SDK for a function on another Python than the host's (Lambda's runtimes bundle boto3)."""
        interpreter = interpreter_for(runtime)
        requirement = host_sdk_requirement()
        if interpreter.is_host or requirement is None:
            return None
        # The host's boto3 may have dropped an old Python: then the newest release that supports it.
        # That it had is remembered, so that each start does not ask the index again.
        unavailable = cache_dir() / "packages" / f"{_digest([requirement, interpreter.version])}.unavailable"
        for wanted in (requirement, "boto3"):
            if wanted == requirement and unavailable.is_file():
                continue
            try:
                return self._installed(f"the AWS SDK ({wanted})", wanted + "\n", runtime)
            except BuildError as e:
                error = e
                if wanted == requirement and "No solution found" in str(e):
                    unavailable.write_text(str(e))
        note_once(f"no AWS SDK for Python {interpreter.version}: {error}")
        return None

    def _installed(self, what: str, requirements: str, runtime: str) -> Path:
        interpreter = interpreter_for(runtime)
        # Not keyed by installer: uv and pip resolve the same requirements from the same indexes.
        key = _digest([requirements, interpreter.version, os.uname().machine])
        folder = cache_dir() / "packages" / key
        if folder.is_dir():
            return folder
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder.parent))
        command, installer = installer_command(interpreter.executable)
        self.say(f"installing {what} for Python {interpreter.version} ({installer})")
        manifest = staging.with_suffix(".txt")
        manifest.write_text(requirements)
        try:
            done = subprocess.run(  # noqa: S603 - the installer with the function's own requirements
                [*command, "--target", str(staging), "-r", str(manifest)],
                capture_output=True,
                text=True,
                check=False,
                env=installer_env(),
            )
            if done.returncode != 0:
                raise BuildError(f"installing {what} failed ({installer}): {_gist(done)}")
            (staging / ".lock").unlink(missing_ok=True)  # uv's, not a package's
            try:
                staging.rename(folder)
            except OSError:  # another build (of another project) installed the same meanwhile
                if not folder.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            manifest.unlink(missing_ok=True)
        self.result.installed.append(f"{what} (python{interpreter.version})")
        return folder


_SUPPORTED = "python3.X and makefile are"


def _make(logical_id: str, source: Path, artifacts: Path) -> None:
    """SAM's makefile build: `make build-<LogicalId>` from a scratch copy of the source."""
    make = shutil.which("make")
    if make is None:
        raise BuildError(f"{logical_id}: BuildMethod makefile needs make, which is not on PATH")
    if not (source / "Makefile").is_file():
        raise BuildError(f"{logical_id}: BuildMethod makefile needs a Makefile in {source}")
    with tempfile.TemporaryDirectory(prefix="localfaas-make-") as scratch:
        _copy_tree(source, Path(scratch), excluded=(".aws-sam",))
        done = subprocess.run(  # noqa: S603 - the template's own Makefile, as sam build runs it
            [make, "--makefile", str(Path(scratch) / "Makefile"), f"build-{logical_id}"],
            cwd=scratch,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "ARTIFACTS_DIR": str(artifacts)},
        )
    if done.returncode != 0:
        raise BuildError(f"{logical_id}: make build-{logical_id} failed: {_gist(done)}")


def _gist(done: subprocess.CompletedProcess[str]) -> str:
    """The line of a failed command's output that says what went wrong."""
    lines = [line.strip() for line in (done.stderr or done.stdout or "").splitlines() if line.strip()]
    # uv starts an error with "error:" or a multiplication sign, pip with "ERROR:", make with "make:".
    errors = [line for line in lines if line.lower().startswith(("error", "\u00d7", "make:"))]
    return (errors or lines or [f"exit status {done.returncode}"])[0]


def _excluded(name: str, excluded: tuple[str, ...]) -> bool:
    return any(fnmatch(name, pattern) for pattern in excluded)


def _walk(root: Path, excluded: tuple[str, ...]) -> Iterator[tuple[str, list[str], list[str]]]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _excluded(d, excluded))
        yield folder, dirs, sorted(f for f in files if not _excluded(f, excluded))


def _tree_fingerprint(root: Path) -> str:
    """What a build of `root` depends on: every file's path, size and modification time."""
    digest = hashlib.sha256()
    for folder, _, files in _walk(root, EXCLUDED):
        for name in files:
            path = os.path.join(folder, name)
            stat = os.stat(path)
            digest.update(f"{os.path.relpath(path, root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _copy_tree(source: Path, target: Path, *, excluded: tuple[str, ...] = (), link: bool = False) -> None:
    """Copy `source` into `target`, over what is there. With `link`, files are hard links where the
    disk allows (installed packages, thousands of files, that nothing writes to); never the sources,
    which a tool writing into the build folder in place would otherwise change."""
    for folder, _, files in _walk(source, excluded):
        destination = target / os.path.relpath(folder, source)
        destination.mkdir(parents=True, exist_ok=True)
        for name in files:
            src, dst = os.path.join(folder, name), destination / name
            if dst.exists() or dst.is_symlink():
                dst.unlink()
            if link:
                try:
                    os.link(src, dst)
                    continue
                except OSError:  # another file system
                    pass
            shutil.copy2(src, dst)


def _digest(parts: list[str | None]) -> str:
    return hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()[:24]


def _read_state(path: Path) -> dict:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One build of a folder at a time, across processes (two `localfaas` started together)."""
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
