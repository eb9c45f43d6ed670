"""Lambda runtime emulation: import a function's handler with its environment and call it.

Shared result type here; the runtimes themselves (in-process and worker-process) follow. Both give a
handler what the Lambda Python runtime gives it: the defined environment variables, a context object,
one cold start (Init) per execution environment then warm reuse, logs with START/END/REPORT lines,
and Lambda-shaped error objects. The function side lives in `localfaas.worker`.
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html

A worker runs on the function's declared Python where the machine has it (localfaas.python_runtimes);
the in-process runtime shares this interpreter among all functions and says so once.
Not emulated: runtimes other than Python (the invocation fails with Runtime.InvalidRuntime), memory
limits, concurrency limits and throttling (ReservedConcurrentExecutions is read, not enforced),
architectures, extensions and SnapStart; the in-process runtime cannot enforce the Timeout.

Past 400 lines (about 800): the Lambda environment both runtimes build, the in-process runtime's
sandbox (environment, modules, boto3 session, logging, process state) and the worker runtime; the
sandbox is the next part to move to a module of its own.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import math
import os
import queue
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from localfaas.context import LambdaContext
from localfaas.import_watch import modules_mark, watch_imports
from localfaas.process_environment import ProcessEnvironment
from localfaas.python_runtimes import (
    HOST_VERSION,
    interpreter_for,
    note_architecture,
    note_once,
    runtime_version,
)
from localfaas.worker import (
    LambdaLogHandler,
    LogRouter,
    error_from_exception,
    error_log_line,
    load_handler,
    run_handler,
)

if TYPE_CHECKING:
    from localfaas.template import FunctionSpec


@dataclass
class InvocationResult:
    function_name: str
    request_id: str
    payload: Any = None
    # Lambda-shaped error: {"errorMessage", "errorType", "requestId", "stackTrace"}; None on success.
    error: dict[str, Any] | None = None
    logs: str = ""
    duration_ms: float = 0.0
    init_duration_ms: float | None = None  # set on a cold start only

    @property
    def ok(self) -> bool:
        return self.error is None


class Runtime(Protocol):
    def invoke(self, function: Any, event: Any, *, request_id: str | None = None) -> InvocationResult:
        """Run `function` (a template.FunctionSpec) synchronously on `event`."""

    def close(self) -> None: ...


# ---- shared by both runtimes ------------------------------------------------------------------------

# The Init phase may take up to 10 s before the function's own timeout starts counting.
# https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-ib
INIT_TIMEOUT_S = 10.0
TIMEOUT_ERROR = "Sandbox.Timedout"
EXIT_ERROR = "Runtime.ExitError"
INVALID_RUNTIME = "Runtime.InvalidRuntime"
# Host variables a function must not inherit: credentials, profiles and Lambda's own reserved names.
_NOT_INHERITED = frozenset({"_HANDLER", "_X_AMZN_TRACE_ID", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ"})


# A function's own credentials (its execution role's, localfaas.execution_roles) over the shared ones.
Credentials = Callable[["FunctionSpec"], dict[str, str]]


def _with_credentials(
    extra_env: dict[str, str], credentials: Credentials | None, function: FunctionSpec
) -> dict[str, str]:
    return {**extra_env, **credentials(function)} if credentials is not None else extra_env


def _region(function: FunctionSpec) -> str:
    return function.arn.split(":")[3]


def _log_group(function: FunctionSpec) -> str:
    return function.logging_config.get("LogGroup") or f"/aws/lambda/{function.function_name}"


def new_log_stream_name() -> str:
    """One stream per execution environment, named like Lambda's: 2024/01/31/[$LATEST]<32 hex>."""
    return f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}"


def lambda_environment(
    function: FunctionSpec,
    extra_env: dict[str, str] | None = None,
    *,
    log_stream_name: str,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """The function's environment: the host's minus AWS settings, the function's Variables, then what
    Lambda defines (those names are reserved), then `extra_env` (endpoint, credentials).

    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
    """
    base = dict(os.environ) if base is None else base
    env = {k: v for k, v in base.items() if not k.startswith("AWS_") and k not in _NOT_INHERITED}
    env.update(function.environment)
    region = _region(function)
    env.update(
        AWS_LAMBDA_FUNCTION_NAME=function.function_name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(function.memory_size),
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_INITIALIZATION_TYPE="on-demand",
        AWS_LAMBDA_LOG_GROUP_NAME=_log_group(function),
        AWS_LAMBDA_LOG_STREAM_NAME=log_stream_name,
        AWS_REGION=region,
        AWS_DEFAULT_REGION=region,
        AWS_EXECUTION_ENV=f"AWS_Lambda_{function.runtime}",
        _HANDLER=function.handler,
        LAMBDA_TASK_ROOT=str(function.code_dir),
        TZ=":UTC",
    )
    if str(function.logging_config.get("LogFormat", "")).upper() == "JSON":
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        env["AWS_LAMBDA_LOG_LEVEL"] = function.logging_config.get("ApplicationLogLevel", "INFO")
    env.update(extra_env or {})
    return env


def _context_fields(function: FunctionSpec, env: dict[str, str]) -> dict[str, Any]:
    return {
        "function_name": function.function_name,
        "function_version": "$LATEST",
        "invoked_function_arn": function.arn,
        "memory_limit_in_mb": str(function.memory_size),
        "log_group_name": env["AWS_LAMBDA_LOG_GROUP_NAME"],
        "log_stream_name": env["AWS_LAMBDA_LOG_STREAM_NAME"],
    }


def _trace_header() -> str:
    # Sampled=0: nothing tries to send segments to an X-Ray daemon that is not there.
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def _report(
    request_id: str,
    function: FunctionSpec,
    duration_ms: float,
    init_ms: float | None,
    max_memory_mb: int | None = None,
) -> str:
    parts = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {math.ceil(duration_ms + (init_ms or 0))} ms",
        f"Memory Size: {function.memory_size} MB",
    ]
    if max_memory_mb is not None:
        parts.append(f"Max Memory Used: {max_memory_mb} MB")
    if init_ms is not None:
        parts.append(f"Init Duration: {init_ms:.2f} ms")
    return f"END RequestId: {request_id}\n" + "\t".join(parts) + "\t\n"


def timeout_error(request_id: str, seconds: float) -> dict[str, Any]:
    return {
        "errorType": TIMEOUT_ERROR,
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds",
    }


def exit_error(request_id: str, returncode: int) -> dict[str, Any]:
    """How Lambda reports a runtime process that died mid-invocation (Go's ProcessState wording)."""
    if returncode < 0:
        try:
            how = f"signal: {signal.strsignal(-returncode).lower()}"
        except (ValueError, AttributeError):
            how = f"signal: {-returncode}"
    else:
        how = f"exit status {returncode}"
    return {
        "errorType": EXIT_ERROR,
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {how}",
    }


def _unsupported_runtime(function: FunctionSpec, request_id: str) -> InvocationResult | None:
    if function.runtime.startswith("python3"):
        return None
    message = (
        f"localfaas runs Python functions; {function.logical_id} has Runtime {function.runtime or 'unset'}"
    )
    return InvocationResult(
        function.function_name, request_id, error={"errorType": INVALID_RUNTIME, "errorMessage": message}
    )


def _decode(payload: Any) -> Any:
    return json.loads(payload) if isinstance(payload, str) else payload


class _Logs:
    """The invocation's log text, also written to the real stderr when asked."""

    def __init__(self, forward_to: Any | None) -> None:
        self.parts: list[str] = []
        self.forward_to = forward_to

    def write(self, text: str) -> None:
        self.parts.append(text)
        if self.forward_to is not None:
            self.forward_to.write(text)
            self.forward_to.flush()

    def text(self) -> str:
        return "".join(self.parts)


# ---- in-process -------------------------------------------------------------------------------------

_PROCESS_LOCK = threading.RLock()
_ABSENT = object()
_sandbox_ids = itertools.count()
# Modules from the interpreter, its site-packages and localfaas itself are the runtime's, shared by all
# functions, even when a CodeUri folder (say the project root) happens to contain the virtualenv.
_SHARED_PREFIXES = tuple(
    {
        os.path.join(form, "")
        for path in (sys.prefix, sys.base_prefix, *sysconfig.get_paths().values(), os.path.dirname(__file__))
        for form in (os.path.abspath(path), os.path.realpath(path))
    }
)


def _discard(text: str) -> None:
    pass


# One pair for the whole process: a logger made during a function's import keeps writing to these.
_STDOUT = LogRouter(_discard)
_STDERR = LogRouter(_discard)


class _Sandbox:
    """One function's execution environment inside this process: its modules, env and log state."""

    def __init__(self, function: FunctionSpec, extra_env: dict[str, str] | None) -> None:
        self.function = function
        self.env = lambda_environment(function, extra_env, log_stream_name=new_log_stream_name())
        self.process_env = ProcessEnvironment(self.env)
        self.context_fields = _context_fields(function, self.env)
        self.import_dirs = [str(function.code_dir), *map(str, function.layer_dirs)]
        # Built packages go after the interpreter's own: see localfaas.build.BuildResult.apply.
        self.package_dirs = [str(d) for d in function.package_dirs]
        self.prefixes = tuple(os.path.join(d, "") for d in (*self.import_dirs, *self.package_dirs))
        self.module_prefix = f"_localfaas_{next(_sandbox_ids)}_{function.logical_id}_"
        self.modules: dict[str, Any] = {}
        self.handler: Callable[..., Any] | None = None
        self.log_handler = LambdaLogHandler(_STDOUT, self.env.get("AWS_LAMBDA_LOG_FORMAT", "Text"))
        self.root_handlers: list[logging.Handler] = []
        self.root_level = log_level_from_env_of(self.env)
        # Every name seen in sys.modules, with the module it held then, and those from this function's
        # folders: each call looks only at names it has not seen (a loaded module's files do not
        # change) and at its own, not at every module loaded in the process. A name seen holding a
        # module from elsewhere is assumed to keep doing so.
        self.seen: dict[str, Any] = {}
        self.owned: set[str] = set()
        # sys.modules as this sandbox last left it: while the mark is the same, nothing is new.
        self.mark: tuple[int, int] | None = None
        watch_imports()
        self.library_state: dict[tuple[str, str], Any] = {}
        # Its own boto3 default session, as each Lambda environment has: one session resolves its
        # credentials once, so functions sharing one would all sign with the first one's keys.
        self.boto3_session: Any = None

    def owned_names(self) -> list[str]:
        """The names in sys.modules now holding a module from this function's folders."""
        if modules_mark() != self.mark:
            for name in sys.modules.keys() - self.seen.keys():
                self.note(name, sys.modules[name])
        present = []
        for name in list(self.owned):
            module = sys.modules.get(name)
            if module is not None and module is not self.seen[name]:  # replaced under the same name
                self.seen[name] = module
                if not self.owns(module):
                    self.owned.discard(name)
                    continue
            if module is not None:
                present.append(name)
        return present

    def note(self, name: str, module: Any) -> None:
        self.seen[name] = module
        if self.owns(module):
            self.owned.add(name)

    def owns(self, module: Any) -> bool:
        """Whether the module was loaded from this function's code or layers (not the interpreter's)."""
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            return file.startswith(self.prefixes) and not file.startswith(_SHARED_PREFIXES)
        try:  # namespace packages have a __path__ and no __file__
            paths = [str(p) for p in getattr(module, "__path__", ())]
        except Exception:
            return False
        return any(p.startswith(self.prefixes) and not p.startswith(_SHARED_PREFIXES) for p in paths)


def log_level_from_env_of(env: dict[str, str]) -> int:
    level = env.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    return logging.getLevelName(level) if level in logging.getLevelNamesMapping() else logging.WARNING


# Libraries installed beside localfaas (not in a function's folders) are shared by every in-process
# function, but some keep per-execution-environment state in module globals: Powertools' "first
# invocation" flags, which Lambda starts afresh in each function's environment. Each sandbox keeps
# its own values of these, starting from the library's initial value.
_PER_ENVIRONMENT_GLOBALS = {
    ("aws_lambda_powertools.logging.logger", "is_cold_start"): True,
    ("aws_lambda_powertools.tracing.tracer", "is_cold_start"): True,
    ("aws_lambda_powertools.metrics.provider.cold_start", "is_cold_start"): True,
    ("aws_lambda_powertools.metrics.base", "is_cold_start"): True,
    # boto3.client() at a handler's module scope makes boto3's default session from os.environ once
    # per process: kept across sandboxes, a second stack's functions would sign with the first one's
    # credentials, and on LocalStack (which takes the access key as the account) write into it.
    ("boto3", "DEFAULT_SESSION"): None,
}


@contextmanager
def _sandbox_library_state(sandbox: _Sandbox) -> Iterator[None]:
    """While active, shared libraries' per-environment globals hold the sandbox's own values."""
    host: dict[tuple[str, str], Any] = {}
    for (module_name, name), initial in _PER_ENVIRONMENT_GLOBALS.items():
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, name):
            host[(module_name, name)] = getattr(module, name)
            setattr(module, name, sandbox.library_state.get((module_name, name), initial))
    try:
        yield
    finally:
        for (module_name, name), initial in _PER_ENVIRONMENT_GLOBALS.items():
            module = sys.modules.get(module_name)
            if module is None or not hasattr(module, name):
                continue
            sandbox.library_state[(module_name, name)] = getattr(module, name)
            setattr(module, name, host.get((module_name, name), initial))


_data_loader: Any = None


def _new_default_session() -> Any:
    """A boto3 session like `boto3.setup_default_session()`'s, but reading the service models through
    one loader shared by all sandboxes, so each function does not parse them again."""
    global _data_loader
    import boto3
    import botocore.loaders
    import botocore.session

    core = botocore.session.get_session()
    if _data_loader is None:
        _data_loader = botocore.loaders.create_loader()
    core.register_component("data_loader", _data_loader)
    session = boto3.session.Session(botocore_session=core)
    paths = _data_loader.search_paths  # boto3 appends its own models' folder on every session
    paths[:] = list(dict.fromkeys(paths))
    return session


@contextmanager
def _sandbox_boto3_session(sandbox: _Sandbox) -> Iterator[None]:
    """While active, `boto3.client(...)` uses the sandbox's own default session (made on first use)."""
    import boto3

    host = boto3.DEFAULT_SESSION
    if sandbox.boto3_session is None:
        sandbox.boto3_session = _new_default_session()
    boto3.DEFAULT_SESSION = sandbox.boto3_session
    try:
        yield
    finally:
        sandbox.boto3_session = boto3.DEFAULT_SESSION
        boto3.DEFAULT_SESSION = host


@contextmanager
def _sandbox_modules(sandbox: _Sandbox) -> Iterator[None]:
    """While active, `import x` finds the sandbox's own copy of every module under its folders.

    Lambda gives each function its own interpreter; here the other functions' (and the host's) copies
    of modules from these folders are set aside, and put back afterwards.
    """
    saved: dict[str, Any] = {}
    for name in sandbox.owned_names():
        if sandbox.modules.get(name) is not sys.modules[name]:
            saved[name] = sys.modules.pop(name)
    for name, module in sandbox.modules.items():
        saved.setdefault(name, sys.modules.get(name, _ABSENT))
        sys.modules[name] = module
    entered = modules_mark()
    try:
        yield
    finally:
        if modules_mark() != entered:  # something was imported during the call: find what
            seen, own = sandbox.seen, sandbox.modules
            fresh = [(n, m) for n, m in sys.modules.items() if n not in own and seen.get(n, _ABSENT) is not m]
            for name, module in fresh:
                if name.startswith(sandbox.module_prefix) or sandbox.owns(module):
                    sandbox.modules[name] = module
                else:
                    sandbox.seen[name] = module
        for name in sandbox.modules:
            sandbox.modules[name] = sys.modules.pop(name, sandbox.modules[name])
        sys.modules.update({k: v for k, v in saved.items() if v is not _ABSENT})
        sandbox.mark = modules_mark()


@contextmanager
def _sandbox_process_state(sandbox: _Sandbox, sink: Callable[[str], None]) -> Iterator[None]:
    """os.environ, sys.path, cwd, std streams and the root logger as the function should see them.

    Each piece is switched only where it differs from the host's: a level set on the root logger
    clears every logger's cache (logging.Manager._clear_cache), so it is set only when it changes.
    """
    saved_path, saved_cwd = list(sys.path), os.getcwd()
    saved_out, saved_err = sys.stdout, sys.stderr
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    with sandbox.process_env.installed():
        try:
            sys.path[:0] = sandbox.import_dirs
            sys.path.extend(sandbox.package_dirs)
            code_dir = str(sandbox.function.code_dir)
            if code_dir != saved_cwd and os.path.isdir(code_dir):  # a missing one fails at import
                os.chdir(code_dir)
            _STDOUT.sink = _STDERR.sink = sink
            sys.stdout, sys.stderr = _STDOUT, _STDERR
            root.handlers = [sandbox.log_handler, *sandbox.root_handlers]
            if root.level != sandbox.root_level:
                root.setLevel(sandbox.root_level)
            yield
        finally:
            sandbox.root_handlers = [h for h in root.handlers if h is not sandbox.log_handler]
            sandbox.root_level = root.level
            root.handlers = saved_handlers
            if root.level != saved_level:
                root.setLevel(saved_level)
            sys.stdout, sys.stderr = saved_out, saved_err
            _STDOUT.sink, _STDERR.sink = saved_out.write, saved_err.write
            if os.getcwd() != saved_cwd:
                os.chdir(saved_cwd)
            sys.path[:] = saved_path


# Said once when a stack or an invocation starts on the in-process runtime, since nothing at run time
# would show it: a function past its Timeout neither stops nor fails as it would on Lambda.
TIMEOUT_NOT_ENFORCED = (
    "the in-process runtime does not enforce the functions' Timeout (a Python thread cannot be stopped): "
    "a function running past it is neither stopped nor failed; --runtime worker enforces it"
)


def _note_shared_interpreter(function: FunctionSpec) -> None:
    version = runtime_version(function.runtime)
    if version is not None and version != HOST_VERSION:
        note_once(
            f"the in-process runtime runs every function on this Python {HOST_VERSION}, {function.logical_id}'s "
            f"Runtime {function.runtime} included (--runtime worker runs each on its own Python)"
        )
    note_architecture(function.logical_id, function.architectures)


class InProcessRuntime:
    """Runs handlers inside this Python process: fast, for tests and single-process runs.

    Each function gets its own execution environment emulated in-process: its handler module under a
    unique name, its own copies of the modules in its code and layer folders, os.environ set to its
    environment during import and each call, its log output captured. Invocations are serialised
    process-wide, since os.environ, cwd and sys.path are shared by all threads.
    Not emulated: the Timeout (a Python thread cannot be stopped; use WorkerProcessRuntime), memory
    limits, and isolation from a handler that calls os._exit or corrupts the interpreter.
    """

    def __init__(
        self,
        extra_env: dict[str, str] | None = None,
        *,
        forward_logs: bool = False,
        credentials: Credentials | None = None,
    ) -> None:
        self.extra_env = dict(extra_env or {})
        self.forward_logs = forward_logs
        self.credentials = credentials
        self._sandboxes: dict[str, _Sandbox] = {}

    def invoke(
        self, function: FunctionSpec, event: Any, *, request_id: str | None = None
    ) -> InvocationResult:
        request_id = request_id or str(uuid.uuid4())
        event_json = json.dumps(event)  # Lambda takes JSON: the handler gets its own parsed copy
        unsupported = _unsupported_runtime(function, request_id)
        if unsupported is not None:
            return unsupported
        _note_shared_interpreter(function)
        with _PROCESS_LOCK:
            sandbox = self._sandbox(function)
            logs = _Logs(sys.stderr if self.forward_logs else None)
            logs.write(f"START RequestId: {request_id} Version: $LATEST\n")
            result = self._run(sandbox, event_json, request_id, logs)
            logs.write(_report(request_id, function, result.duration_ms, result.init_duration_ms))
            result.logs = logs.text()
            return result

    def close(self) -> None:
        self._sandboxes.clear()

    def __enter__(self) -> InProcessRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sandbox(self, function: FunctionSpec) -> _Sandbox:
        sandbox = self._sandboxes.get(function.logical_id)
        if sandbox is None or sandbox.function != function:
            env = _with_credentials(self.extra_env, self.credentials, function)
            sandbox = self._sandboxes[function.logical_id] = _Sandbox(function, env)
        return sandbox

    def _run(self, sandbox: _Sandbox, event_json: str, request_id: str, logs: _Logs) -> InvocationResult:
        result = InvocationResult(sandbox.function.function_name, request_id)
        with (
            _sandbox_modules(sandbox),
            _sandbox_process_state(sandbox, logs.write),
            _sandbox_library_state(sandbox),
            _sandbox_boto3_session(sandbox),
        ):
            try:
                if sandbox.handler is None:
                    result.init_duration_ms, result.error = self._init(sandbox)
                    if result.error is not None:
                        return result
                sandbox.process_env.put("_X_AMZN_TRACE_ID", _trace_header())
                deadline = int(time.time() * 1000) + sandbox.function.timeout * 1000
                context = LambdaContext(
                    aws_request_id=request_id, deadline_epoch_ms=deadline, **sandbox.context_fields
                )
                start = time.monotonic()
                try:
                    payload, result.error = run_handler(sandbox.handler, event_json, context)
                finally:
                    result.duration_ms = (time.monotonic() - start) * 1000
                result.payload = _decode(payload)
            except SystemExit as e:
                # The runtime process would exit here; the environment is gone.
                self._sandboxes.pop(sandbox.function.logical_id, None)
                result.error = exit_error(request_id, e.code if isinstance(e.code, int) else 1)
                logs.write(f"RequestId: {request_id} {result.error['errorMessage'].split(' ', 2)[2]}\n")
        return result

    def _init(self, sandbox: _Sandbox) -> tuple[float, dict[str, Any] | None]:
        start = time.monotonic()
        try:
            sandbox.handler = load_handler(
                sandbox.function.handler, str(sandbox.function.code_dir), sandbox.module_prefix
            )
            return (time.monotonic() - start) * 1000, None
        except Exception as e:
            # A failed Init resets the environment: the next invocation starts cold again.
            self._sandboxes.pop(sandbox.function.logical_id, None)
            error = error_from_exception(e, "")
            sys.stdout.write(error_log_line(error))
            return (time.monotonic() - start) * 1000, error


# ---- worker processes -------------------------------------------------------------------------------

_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
# Runs the worker even where localfaas is not installed; appended so it never shadows function code.
_BOOT = "import sys; sys.path.append(sys.argv[1]); from localfaas.worker import main; main()"


class _Worker:
    """One long-lived child process: the function's execution environment."""

    def __init__(self, function: FunctionSpec, extra_env: dict[str, str] | None) -> None:
        self.function = function
        env = lambda_environment(function, extra_env, log_stream_name=new_log_stream_name())
        self.context_fields = _context_fields(function, env)
        self.initialized = False
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        interpreter = interpreter_for(function.runtime)
        note_architecture(function.logical_id, function.architectures)
        import_dirs = [
            str(function.code_dir),
            *map(str, function.layer_dirs),
            *map(str, function.package_dirs),
        ]
        if not interpreter.is_host:
            # Another Python: none of this one's paths (a build gives it its own AWS SDK).
            env = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        self.process = subprocess.Popen(  # noqa: S603 - the function's Python and our own module
            [interpreter.executable, "-c", _BOOT, _PACKAGE_PARENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=function.code_dir if function.code_dir.is_dir() else None,
        )
        threading.Thread(
            target=self._read, name=f"localfaas-worker-{function.logical_id}", daemon=True
        ).start()
        self.send(
            {
                "type": "init",
                "handler": function.handler,
                "code_dir": str(function.code_dir),
                "import_dirs": import_dirs,
            }
        )

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.messages.put(json.loads(line))
        self.messages.put(None)

    def send(self, message: dict[str, Any]) -> bool:
        try:
            assert self.process.stdin is not None
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def kill(self) -> int:
        self.process.kill()
        return self.process.wait()

    def exit_status(self) -> int:
        """The status of a process whose output has ended; it may still be finalising."""
        try:
            return self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return self.kill()

    def close(self) -> None:
        try:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()


class WorkerProcessRuntime:
    """Runs each function in its own long-lived child process, as Lambda runs an execution environment.

    The function's environment is the process's own; the Timeout is enforced by killing the process
    ("Sandbox.Timedout"), a process that dies mid-call is reported as "Runtime.ExitError", and either
    way the next invocation starts a fresh, cold process. One environment per function, so
    invocations of one function run one at a time (different functions run in parallel).
    `not_counted`, when given, says how many seconds in all the functions have waited on localfaas
    itself (a stack started on their first call, localfaas.on_demand); they are added to the deadline.
    """

    def __init__(
        self,
        extra_env: dict[str, str] | None = None,
        *,
        forward_logs: bool = False,
        credentials: Credentials | None = None,
        not_counted: Callable[[], float] | None = None,
    ) -> None:
        self.extra_env = dict(extra_env or {})
        self.forward_logs = forward_logs
        self.credentials = credentials
        self.not_counted = not_counted
        self._workers: dict[str, _Worker] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def invoke(
        self, function: FunctionSpec, event: Any, *, request_id: str | None = None
    ) -> InvocationResult:
        request_id = request_id or str(uuid.uuid4())
        event_json = json.dumps(event)
        unsupported = _unsupported_runtime(function, request_id)
        if unsupported is not None:
            return unsupported
        with self._lock(function.logical_id):
            logs = _Logs(sys.stderr if self.forward_logs else None)
            logs.write(f"START RequestId: {request_id} Version: $LATEST\n")
            worker = self._worker(function)
            message = {
                "type": "invoke",
                "request_id": request_id,
                "event": event_json,
                "timeout_ms": function.timeout * 1000,
                "trace_id": _trace_header(),
                "context": worker.context_fields,
            }
            result = InvocationResult(function.function_name, request_id)
            max_memory = self._await(worker, message, result, logs)
            logs.write(_report(request_id, function, result.duration_ms, result.init_duration_ms, max_memory))
            result.logs = logs.text()
            return result

    def close(self) -> None:
        with self._guard:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.close()

    def __enter__(self) -> WorkerProcessRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lock(self, logical_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(logical_id, threading.Lock())

    def _worker(self, function: FunctionSpec) -> _Worker:
        worker = self._workers.get(function.logical_id)
        if worker is not None and worker.function != function:
            worker.close()
            worker = None
        if worker is None:
            env = _with_credentials(self.extra_env, self.credentials, function)
            worker = self._workers[function.logical_id] = _Worker(function, env)
        return worker

    def _drop(self, worker: _Worker, *, ended: bool = False) -> int:
        self._workers.pop(worker.function.logical_id, None)
        return worker.exit_status() if ended else worker.kill()

    def _await(
        self, worker: _Worker, message: dict[str, Any], result: InvocationResult, logs: _Logs
    ) -> int | None:
        """Send one invocation and follow it to its end; returns the worker's max memory in MB."""
        started = time.monotonic()
        handler_started = started if worker.initialized else None
        deadline = started + worker.function.timeout + (0 if worker.initialized else INIT_TIMEOUT_S)
        granted = self.not_counted() if self.not_counted else 0.0
        worker.send(message)  # a dead worker shows up below as end of output
        while True:
            try:
                reply = worker.messages.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                waited = self.not_counted() - granted if self.not_counted else 0.0
                if waited > 0:  # time the function spent waiting on localfaas is not its own
                    granted, deadline = granted + waited, deadline + waited
                    continue
                self._drop(worker)
                elapsed = time.monotonic() - (handler_started or started)
                result.duration_ms = elapsed * 1000
                result.error = timeout_error(result.request_id, elapsed)
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
                logs.write(f"{stamp}Z {result.request_id} Task timed out after {elapsed:.2f} seconds\n")
                return None
            if reply is None:
                result.error = exit_error(result.request_id, self._drop(worker, ended=True))
                result.duration_ms = (time.monotonic() - (handler_started or started)) * 1000
                logs.write(f"{result.error['errorMessage']}\n{EXIT_ERROR}\n")
                return None
            kind = reply["type"]
            if kind == "log":
                logs.write(reply["data"])
            elif kind == "init_done":
                worker.initialized = True
                result.init_duration_ms = reply["init_duration_ms"]
                handler_started = time.monotonic()
                deadline = handler_started + worker.function.timeout
            elif kind == "init_error":
                self._drop(worker)
                result.init_duration_ms, result.error = reply["init_duration_ms"], reply["error"]
                return None
            elif kind == "result":
                result.duration_ms, result.error = reply["duration_ms"], reply["error"]
                if "payload_base64" in reply:
                    result.payload = base64.b64decode(reply["payload_base64"])
                else:
                    result.payload = _decode(reply["payload"])
                return reply.get("max_memory_mb")
