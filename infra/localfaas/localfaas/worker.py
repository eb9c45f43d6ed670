"""The function's side of the Lambda Python runtime: import the handler, call it, shape errors and logs.

Used in two ways: `InProcessRuntime` calls these functions directly, and `WorkerProcessRuntime` runs
this module as a child process (one per function) that speaks JSON lines on its stdin/stdout:

    parent -> worker  {"type": "init", "handler", "code_dir", "import_dirs", "module_prefix"}
                      {"type": "invoke", "request_id", "event", "timeout_ms", "context": {...}}
    worker -> parent  {"type": "log", "data"}  as the function writes (so a crash loses nothing)
                      {"type": "init_done", "init_duration_ms"} | {"type": "init_error", "error", ...}
                      {"type": "result", "payload" | "payload_base64", "error", "duration_ms", ...}

Handler loading, error objects and response marshalling follow the Python runtime interface client
(awslambdaric): "Runtime.ImportModuleError", "Runtime.HandlerNotFound", "Runtime.MarshalError", and
{"errorMessage", "errorType", "requestId", "stackTrace"} for an exception the handler raised.
https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html
Standard library only, so a worker starts fast.
"""

from __future__ import annotations

import base64
import decimal
import importlib
import importlib.util
import io
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localfaas.context import LambdaContext

MALFORMED_HANDLER = "Runtime.MalformedHandlerName"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
BUILT_IN_CONFLICT = "Runtime.BuiltInModuleConflict"
MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"

_THIS_FILE = os.path.abspath(__file__)
_request_id = ""  # the invocation in flight, for the log line prefix


class FaultError(Exception):
    """A runtime fault (not the handler's own exception), reported with a Runtime.* error type."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def make_error(message: str, error_type: str, stack_trace: list[str], request_id: str) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack_trace,
    }


def error_from_exception(exc: BaseException, request_id: str) -> dict[str, Any]:
    if isinstance(exc, FaultError):
        return make_error(exc.message, exc.error_type, exc.trace, request_id)
    frames = traceback.extract_tb(exc.__traceback__)
    # The runtime's own frames come first; the trace starts at the function's code.
    while frames and os.path.abspath(frames[0].filename) == _THIS_FILE:
        frames.pop(0)
    return make_error(str(exc), type(exc).__name__, traceback.format_list(frames), request_id)


def error_log_line(error: dict[str, Any]) -> str:
    """How the runtime writes an unhandled error to the function's log."""
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    if error["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(line.rstrip("\n") for line in error["stackTrace"])
    return "\n".join(lines) + "\n"


# ---- handler loading --------------------------------------------------------------------------------


def load_handler(handler: str, code_dir: str, module_prefix: str | None = None) -> Callable[..., Any]:
    """Resolve "mod.func" or "pkg/mod.func" against code_dir, as the runtime does at init.

    With `module_prefix`, a top-level handler module is loaded from its file under the name
    f"{module_prefix}{mod}", so that the `app` modules of several functions can live in one process.
    """
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultError(MALFORMED_HANDLER, f"Bad handler '{handler}': {e}") from None
    if module_name.split(".")[0].split("/")[0] in sys.builtin_module_names:
        raise FaultError(BUILT_IN_CONFLICT, f"Cannot use built-in module {module_name} as a handler module")
    try:
        module = _import(module_name, code_dir, module_prefix)
    except ImportError as e:
        raise FaultError(IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {e}") from None
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise FaultError(SYNTAX_ERROR, f"Syntax error in module '{module_name}': {e}", trace) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise FaultError(
            HANDLER_NOT_FOUND, f"Handler '{function_name}' missing on module '{module_name}'"
        ) from None


_ABSENT = object()


def _import(module_name: str, code_dir: str, module_prefix: str | None) -> Any:
    dotted = module_name.replace("/", ".")
    source = Path(code_dir, f"{dotted}.py")
    if module_prefix is None or "." in dotted or not source.is_file():
        # Packages keep their real names so that their relative imports work.
        return importlib.import_module(dotted)
    # Kept in sys.modules under a name of its own (other functions' handler modules share its name),
    # but named as in Lambda while it runs: code that keys on __module__ (Powertools idempotency
    # keys do) sees "app" on every cold start, not a name that changes with each one.
    unique = f"{module_prefix}{dotted}"
    spec = importlib.util.spec_from_file_location(dotted, source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    previous = sys.modules.get(dotted, _ABSENT)
    sys.modules[dotted] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(unique, None)
        raise
    finally:
        if previous is _ABSENT:
            sys.modules.pop(dotted, None)
        else:
            sys.modules[dotted] = previous
    return module


# ---- invocation -------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    # The runtime's encoder writes Decimal as a number (DynamoDB hands out Decimals).
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def marshal(response: Any) -> str | bytes:
    """A handler's return value as Lambda sends it: bytes as they are, anything else as JSON."""
    if isinstance(response, bytes):
        return response
    try:
        return json.dumps(response, default=_json_default)
    except (TypeError, ValueError) as e:
        raise FaultError(MARSHAL_ERROR, f"Unable to marshal response: {e}") from None


def run_handler(handler: Callable[..., Any], event_json: str, context: LambdaContext) -> tuple[Any, Any]:
    """Call the handler once: (marshalled payload, None) or (None, error object)."""
    global _request_id
    _request_id = context.aws_request_id
    try:
        try:
            event = json.loads(event_json)
        except ValueError as e:
            raise FaultError(UNMARSHAL_ERROR, f"Unable to unmarshal input: {e}") from None
        return marshal(handler(event, context)), None
    except Exception as e:
        error = error_from_exception(e, context.aws_request_id)
        sys.stdout.write(error_log_line(error))
        return None, error


# ---- logs -------------------------------------------------------------------------------------------


class LogRouter(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr; what the function writes goes to the current sink.

    Loggers built at import time keep a reference to the stream they saw, so the stream object must
    stay the same from call to call while where it writes changes.
    """

    def __init__(self, sink: Callable[[str], None]) -> None:
        self.sink = sink

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            self.sink(text)
        return len(text)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def isatty(self) -> bool:
        return False


class LambdaLogHandler(logging.Handler):
    """The handler the runtime puts on the root logger: text lines or, with LogFormat JSON, JSON lines.

    https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html
    """

    def __init__(self, stream: Any, log_format: str = "Text") -> None:
        super().__init__()
        self.stream = stream
        self.json = log_format.upper() == "JSON"
        formatter = logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
        formatter.converter = time.gmtime
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.aws_request_id = _request_id
            self.stream.write(self._json(record) if self.json else self.format(record))
        except Exception:
            self.handleError(record)

    def _json(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": _request_id,
        }
        if record.exc_info and record.exc_info[1] is not None:
            error = error_from_exception(record.exc_info[1], _request_id)
            entry.update(
                errorType=error["errorType"],
                errorMessage=error["errorMessage"],
                stackTrace=error["stackTrace"],
            )
        return json.dumps(entry) + "\n"


def log_level_from_env() -> int | None:
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    return logging.getLevelName(level) if level in logging._nameToLevel else None


def context_from_message(message: dict[str, Any], deadline_epoch_ms: int) -> LambdaContext:
    ctx = message["context"]
    return LambdaContext(
        aws_request_id=message["request_id"],
        function_name=ctx["function_name"],
        function_version=ctx["function_version"],
        invoked_function_arn=ctx["invoked_function_arn"],
        memory_limit_in_mb=ctx["memory_limit_in_mb"],
        log_group_name=ctx["log_group_name"],
        log_stream_name=ctx["log_stream_name"],
        deadline_epoch_ms=deadline_epoch_ms,
        client_context=ctx.get("client_context"),
        identity=ctx.get("identity"),
    )


# ---- worker process ---------------------------------------------------------------------------------


class _Channel:
    """JSON lines to the parent over a private copy of the original stdout."""

    def __init__(self, out: Any) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        with self._lock:
            self._out.write(data)
            self._out.flush()


def _take_std_streams() -> tuple[Any, Any]:
    """Keep fds 0 and 1 for the protocol; point the function's fd 0 at /dev/null and fd 1 at stderr."""
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)  # C-level writes to stdout cannot reach the protocol pipe
    return proto_in, proto_out


def _max_memory_mb() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _invoke(channel: _Channel, handler: Callable[..., Any], message: dict[str, Any]) -> None:
    start = time.monotonic()
    deadline = int(time.time() * 1000) + int(message["timeout_ms"])
    os.environ["_X_AMZN_TRACE_ID"] = message.get("trace_id", "")
    payload, error = run_handler(handler, message["event"], context_from_message(message, deadline))
    result: dict[str, Any] = {
        "type": "result",
        "error": error,
        "duration_ms": (time.monotonic() - start) * 1000,
    }
    if isinstance(payload, bytes):
        result["payload_base64"] = base64.b64encode(payload).decode()
    else:
        result["payload"] = payload
    result["max_memory_mb"] = _max_memory_mb()
    channel.send(result)


def _init(channel: _Channel, init: dict[str, Any]) -> Callable[..., Any] | None:
    start = time.monotonic()
    try:
        handler = load_handler(init["handler"], init["code_dir"], init.get("module_prefix"))
    except Exception as e:
        # Init failures carry no request id, as the runtime reports them before any invocation.
        error = error_from_exception(e, "")
        sys.stdout.write(error_log_line(error))
        channel.send(
            {"type": "init_error", "error": error, "init_duration_ms": (time.monotonic() - start) * 1000}
        )
        return None
    channel.send({"type": "init_done", "init_duration_ms": (time.monotonic() - start) * 1000})
    return handler


def main() -> None:
    # Ctrl-C in the terminal reaches the whole process group; the parent decides what stops (it closes
    # this worker's stdin), as Lambda's environment is never interrupted by the caller's terminal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    proto_in, proto_out = _take_std_streams()
    channel = _Channel(proto_out)

    def log(text: str) -> None:
        channel.send({"type": "log", "data": text})

    sys.stdout = LogRouter(log)
    sys.stderr = LogRouter(log)
    init = json.loads(proto_in.readline() or "null")
    if not init:
        return
    # LAMBDA_TASK_ROOT first, then the layers, then the runtime's own packages.
    sys.path[:] = [*init["import_dirs"], *(p for p in sys.path if p not in ("", os.getcwd()))]
    root = logging.getLogger()
    root.addHandler(LambdaLogHandler(sys.stdout, os.environ.get("AWS_LAMBDA_LOG_FORMAT", "Text")))
    level = log_level_from_env()
    if level is not None:
        root.setLevel(level)
    handler = None
    for line in proto_in:
        message = json.loads(line)
        if handler is None:
            handler = _init(channel, init)
            if handler is None:
                return  # Lambda resets an environment whose init failed
        _invoke(channel, handler, message)


if __name__ == "__main__":
    main()
