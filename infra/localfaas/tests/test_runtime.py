"""Both runtimes give handlers what the Lambda Python runtime gives them; the worker also enforces
timeouts and survives crashes. Handlers are small files written into tmp_path."""

from __future__ import annotations

import os
import sys
import time

import pytest

from infra.localfaas.tests.sam_app import function_spec, write_files
from localfaas.runtime import InProcessRuntime, WorkerProcessRuntime

ENV_APP = """\
import os

import helpers

INIT_WHO = os.environ.get("WHO")
CALLS = 0


def handler(event, context):
    global CALLS
    CALLS += 1
    return {"who": os.environ.get("WHO"), "init_who": INIT_WHO, "helper": helpers.NAME,
            "calls": CALLS, "only_b": os.environ.get("ONLY_B")}
"""

INSPECT_APP = """\
import logging
import os
import sys

logger = logging.getLogger("app")


def handler(event, context):
    print("to stdout")
    print("to stderr", file=sys.stderr)
    logger.warning("a warning")
    logger.info("an info line the default WARNING level drops")
    return {
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "identity": context.identity.cognito_identity_id,
            "client_context": context.client_context,
        },
    }
"""

BEHAVIOUR_APP = """\
import decimal
import os
import signal
import sys
import time

CALLS = 0


def handler(event, context):
    global CALLS
    CALLS += 1
    action = event.get("action")
    if action == "raise":
        raise ValueError("no stock for sku-1")
    if action == "set":
        return {1, 2}
    if action == "decimal":
        return {"price": decimal.Decimal("9.50"), "count": decimal.Decimal("3")}
    if action == "bytes":
        return b"raw bytes"
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "exit":
        print("last words")
        os._exit(7)
    if action == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if action == "sys_exit":
        sys.exit(4)
    return {"calls": CALLS}
"""

POWERTOOLS_APP = """\
from aws_lambda_powertools import Logger

logger = Logger(service="shop")


@logger.inject_lambda_context
def handler(event, context):
    logger.info("handled")
    return "ok"
"""


@pytest.fixture(params=["in-process", "worker"])
def runtime(request):
    make = InProcessRuntime if request.param == "in-process" else WorkerProcessRuntime
    with make({"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}) as runtime:
        yield runtime


@pytest.fixture
def worker():
    with WorkerProcessRuntime() as runtime:
        yield runtime


def app(tmp_path, source, name="Fn", **overrides):
    code_dir = tmp_path / name.lower()
    write_files(code_dir, {"app.py": source})
    return function_spec(code_dir, name, **overrides)


# -- environment and warm reuse -----------------------------------------------------------------------


def test_each_function_sees_only_its_own_environment_and_modules(runtime, tmp_path):
    write_files(tmp_path / "a", {"app.py": ENV_APP, "helpers.py": "NAME = 'a'\n"})
    write_files(tmp_path / "b", {"app.py": ENV_APP, "helpers.py": "NAME = 'b'\n"})
    a = function_spec(tmp_path / "a", "A", environment={"WHO": "a"})
    b = function_spec(tmp_path / "b", "B", environment={"WHO": "b", "ONLY_B": "yes"})

    first_a, first_b, again_a = (runtime.invoke(fn, {}).payload for fn in (a, b, a))

    assert first_a == {"who": "a", "init_who": "a", "helper": "a", "calls": 1, "only_b": None}
    assert first_b == {"who": "b", "init_who": "b", "helper": "b", "calls": 1, "only_b": "yes"}
    assert again_a == {"who": "a", "init_who": "a", "helper": "a", "calls": 2, "only_b": None}


SIGNING_APP = """\
import boto3

SQS = boto3.client("sqs")  # at module scope, as handlers make their clients: boto3's default session


def handler(event, context):
    return SQS._request_signer._credentials.access_key
"""


def test_a_second_stacks_functions_sign_with_their_own_credentials_not_the_first_ones(tmp_path):
    # On LocalStack the access key is the account: a default session kept from the first stack
    # would put the second stack's writes into the first stack's account.
    fn = app(tmp_path, SIGNING_APP)
    signed = []
    for account in ("111111111111", "222222222222"):
        with InProcessRuntime({"AWS_ACCESS_KEY_ID": account, "AWS_SECRET_ACCESS_KEY": "x"}) as runtime:
            signed.append(runtime.invoke(fn, {}).payload)

    assert signed == ["111111111111", "222222222222"]


ZONE_APP = """\
import os
import subprocess
import time

if "ZONE" in os.environ:  # a function choosing its time zone at Init, as Lambda code does
    os.environ["TZ"] = os.environ["ZONE"]
    time.tzset()


def handler(event, context):
    os.environ["CALLS"] = str(int(os.environ.get("CALLS", "0")) + 1)  # stays for the next call
    child = subprocess.run(["sh", "-c", "echo $WHO"], capture_output=True, text=True).stdout.strip()
    return {"who": os.environ["WHO"], "child_who": child, "tz": os.environ["TZ"],
            "offset": time.timezone, "calls": os.environ["CALLS"], "other": os.environ.get("ONLY_B")}
"""


def test_alternating_warm_calls_each_see_their_own_variables_and_time_zone(runtime, tmp_path):
    east = app(tmp_path, ZONE_APP, name="East", environment={"WHO": "east", "ZONE": "EST5"})
    tokyo = app(tmp_path, ZONE_APP, name="Tokyo", environment={"WHO": "tokyo", "ONLY_B": "b"})
    host_env, host_offset = dict(os.environ), time.timezone

    payloads, host_between = [], []
    for fn in (east, tokyo, east, tokyo, east):
        payloads.append(runtime.invoke(fn, {}).payload)
        host_between.append((dict(os.environ) == host_env, time.timezone == host_offset))

    east_calls = [p for p in payloads if p["who"] == "east"]
    tokyo_calls = [p for p in payloads if p["who"] == "tokyo"]
    assert [(p["child_who"], p["tz"], p["offset"], p["other"]) for p in east_calls] == [
        ("east", "EST5", 5 * 3600, None)
    ] * 3
    assert [(p["child_who"], p["tz"], p["offset"], p["other"]) for p in tokyo_calls] == [
        ("tokyo", ":UTC", 0, "b")
    ] * 2
    assert [p["calls"] for p in east_calls] == ["1", "2", "3"]
    assert [p["calls"] for p in tokyo_calls] == ["1", "2"]
    assert host_between == [(True, True)] * 5


LOUD_APP = """\
import logging

logging.getLogger().setLevel(logging.INFO)  # this function's own logging configuration


def handler(event, context):
    logging.getLogger("shared").info("loud info")
    return "ok"
"""

QUIET_APP = """\
import logging


def handler(event, context):
    logging.getLogger("shared").info("quiet info")
    return "ok"
"""


def test_each_function_keeps_its_own_root_logger_level_across_alternating_calls(tmp_path):
    import logging

    loud, quiet = app(tmp_path, LOUD_APP, name="Loud"), app(tmp_path, QUIET_APP, name="Quiet")
    shared, root_level = logging.getLogger("shared"), logging.getLogger().level

    with InProcessRuntime() as runtime:
        logs, host_sees_info = [], []
        for fn in (loud, quiet, loud, quiet):
            logs.append(runtime.invoke(fn, {}).logs)
            host_sees_info.append(shared.isEnabledFor(logging.INFO))  # logging's cache, cleared

    assert ["loud info" in text for text in logs[::2]] == [True, True]
    assert ["quiet info" in text for text in logs[1::2]] == [False, False]
    assert host_sees_info == [shared.getEffectiveLevel() <= logging.INFO] * 4
    assert logging.getLogger().level == root_level


LATE_HELPER_APP = """\
def handler(event, context):
    import late  # each function's own, first imported on a warm call

    return late.NAME
"""


def test_modules_first_imported_on_warm_calls_stay_each_functions_own(tmp_path):
    for name in ("one", "two"):
        write_files(tmp_path / name, {"app.py": LATE_HELPER_APP, "late.py": f"NAME = {name!r}\n"})
    one, two = function_spec(tmp_path / "one", "One"), function_spec(tmp_path / "two", "Two")

    with InProcessRuntime() as runtime:
        names = [runtime.invoke(fn, {}).payload for fn in (one, two, one, two, one)]
        assert "late" not in sys.modules

    assert names == ["one", "two", "one", "two", "one"]


def test_cold_start_happens_once_then_the_environment_is_reused(runtime, tmp_path):
    fn = app(tmp_path, BEHAVIOUR_APP)

    first, second, third = (runtime.invoke(fn, {}) for _ in range(3))

    assert first.init_duration_ms is not None
    assert second.init_duration_ms is None and third.init_duration_ms is None
    assert [r.payload for r in (first, second, third)] == [{"calls": 1}, {"calls": 2}, {"calls": 3}]


def test_lambda_defined_variables_are_set(runtime, tmp_path):
    fn = app(tmp_path, INSPECT_APP, memory_size=256, environment={"TABLE": "orders"})

    env = runtime.invoke(fn, {}).payload["env"]

    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "localfaas-Fn"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/localfaas-Fn"
    assert "[$LATEST]" in env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"] == str(fn.code_dir)
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["TZ"] == ":UTC"
    assert env["TABLE"] == "orders"


def test_extra_env_reaches_the_function_and_host_credentials_do_not(runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret")
    fn = app(tmp_path, INSPECT_APP)

    env = runtime.invoke(fn, {}).payload["env"]

    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert "AWS_PROFILE" not in env and "AWS_SECRET_ACCESS_KEY" not in env


def test_code_dir_is_the_working_directory_and_first_on_the_import_path(runtime, tmp_path):
    fn = app(tmp_path, INSPECT_APP)

    payload = runtime.invoke(fn, {}).payload

    assert payload["cwd"] == payload["path0"] == str(fn.code_dir)


def test_layer_dirs_are_importable(runtime, tmp_path):
    write_files(tmp_path / "layer", {"shop_core/__init__.py": "ANSWER = 42\n"})
    source = "import shop_core\n\ndef handler(event, context):\n    return shop_core.ANSWER\n"
    fn = app(tmp_path, source, layer_dirs=(tmp_path / "layer",))

    assert runtime.invoke(fn, {}).payload == 42


def test_context_describes_the_invocation_and_the_function(runtime, tmp_path):
    fn = app(tmp_path, INSPECT_APP, timeout=30)

    result = runtime.invoke(fn, {}, request_id="req-1")
    context = result.payload["context"]

    assert context["aws_request_id"] == result.request_id == "req-1"
    assert context["function_name"] == "localfaas-Fn"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == fn.arn
    assert context["memory_limit_in_mb"] == "128"  # a string, as the Python runtime gives it
    assert context["log_group_name"] == "/aws/lambda/localfaas-Fn"
    assert context["log_stream_name"] == result.payload["env"]["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert 0 < context["remaining"] <= 30_000
    assert context["identity"] is None and context["client_context"] is None


def test_logs_hold_output_and_root_logger_lines_between_start_and_report(runtime, tmp_path):
    fn = app(tmp_path, INSPECT_APP)

    logs = runtime.invoke(fn, {}, request_id="req-9").logs

    assert logs.startswith("START RequestId: req-9 Version: $LATEST\n")
    assert "to stdout\n" in logs and "to stderr\n" in logs
    assert "[WARNING]\t" in logs and "Z\treq-9\ta warning\n" in logs
    assert "an info line" not in logs
    assert "END RequestId: req-9\nREPORT RequestId: req-9\tDuration: " in logs


def test_powertools_logger_reads_the_context(runtime, tmp_path):
    fn = app(tmp_path, POWERTOOLS_APP)

    first = runtime.invoke(fn, {}, request_id="req-cold")
    second = runtime.invoke(fn, {}, request_id="req-warm")

    assert first.payload == "ok"
    assert '"function_request_id":"req-cold"' in first.logs
    assert '"function_name":"localfaas-Fn"' in first.logs
    assert '"cold_start":true' in first.logs and '"cold_start":false' in second.logs


# -- errors -------------------------------------------------------------------------------------------


def test_a_raised_exception_becomes_the_runtime_error_object(runtime, tmp_path):
    fn = app(tmp_path, BEHAVIOUR_APP)

    result = runtime.invoke(fn, {"action": "raise"}, request_id="req-2")

    assert not result.ok and result.payload is None
    assert set(result.error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert result.error["errorType"] == "ValueError"
    assert result.error["errorMessage"] == "no stock for sku-1"
    assert result.error["requestId"] == "req-2"
    assert "app.py" in result.error["stackTrace"][0] and "in handler" in result.error["stackTrace"][0]
    assert not any("localfaas" in line for line in result.error["stackTrace"])
    assert "[ERROR] ValueError: no stock for sku-1\nTraceback (most recent call last):" in result.logs


def test_the_environment_stays_warm_after_the_handler_raises(runtime, tmp_path):
    fn = app(tmp_path, BEHAVIOUR_APP)

    runtime.invoke(fn, {"action": "raise"})
    after = runtime.invoke(fn, {})

    assert after.payload == {"calls": 2} and after.init_duration_ms is None


def test_a_return_value_that_is_not_json_is_a_marshal_error(runtime, tmp_path):
    fn = app(tmp_path, BEHAVIOUR_APP)

    error = runtime.invoke(fn, {"action": "set"}).error

    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"].startswith("Unable to marshal response: Object of type set is not JSON")


def test_decimals_are_returned_as_numbers(runtime, tmp_path):
    fn = app(tmp_path, BEHAVIOUR_APP)

    assert runtime.invoke(fn, {"action": "decimal"}).payload == {"price": 9.5, "count": 3}


def test_bytes_are_returned_as_they_are(runtime, tmp_path):
    fn = app(tmp_path, BEHAVIOUR_APP)

    assert runtime.invoke(fn, {"action": "bytes"}).payload == b"raw bytes"


def test_an_import_failure_is_reported_and_init_is_retried_next_time(runtime, tmp_path):
    fn = app(tmp_path, "import not_a_module_xyz\n\ndef handler(event, context):\n    return 1\n")

    failed = runtime.invoke(fn, {})
    write_files(fn.code_dir, {"app.py": "def handler(event, context):\n    return 'fixed'\n"})
    retried = runtime.invoke(fn, {})

    assert failed.error["errorType"] == "Runtime.ImportModuleError"
    assert failed.error["errorMessage"] == "Unable to import module 'app': No module named 'not_a_module_xyz'"
    assert retried.payload == "fixed" and retried.init_duration_ms is not None


def test_a_missing_handler_function_is_reported(runtime, tmp_path):
    fn = app(tmp_path, BEHAVIOUR_APP, handler="app.nope")

    error = runtime.invoke(fn, {}).error

    assert error["errorType"] == "Runtime.HandlerNotFound"
    assert error["errorMessage"] == "Handler 'nope' missing on module 'app'"


def test_a_missing_code_folder_fails_at_import(runtime, tmp_path):
    fn = function_spec(tmp_path / "absent")

    error = runtime.invoke(fn, {}).error

    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'app': No module named 'app'"


def test_a_handler_in_a_sub_folder_is_found(runtime, tmp_path):
    write_files(
        tmp_path / "code", {"orders/__init__.py": "", "orders/main.py": "def run(e, c):\n    return 'sub'\n"}
    )
    fn = function_spec(tmp_path / "code", handler="orders/main.run")

    assert runtime.invoke(fn, {}).payload == "sub"


def test_sys_exit_ends_the_environment_with_an_exit_error(runtime, tmp_path):
    fn = app(tmp_path, BEHAVIOUR_APP)

    exited = runtime.invoke(fn, {"action": "sys_exit"}, request_id="req-3")
    after = runtime.invoke(fn, {})

    assert exited.error == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: req-3 Error: Runtime exited with error: exit status 4",
    }
    assert after.payload == {"calls": 1} and after.init_duration_ms is not None


def test_a_non_python_runtime_is_refused(runtime, tmp_path):
    fn = app(tmp_path, BEHAVIOUR_APP, runtime="nodejs20.x")

    assert runtime.invoke(fn, {}).error["errorType"] == "Runtime.InvalidRuntime"


# -- in-process only ----------------------------------------------------------------------------------


def test_in_process_invocation_leaves_the_host_process_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setenv("HOST_ONLY", "1")
    env, cwd, path = dict(os.environ), os.getcwd(), list(sys.path)
    write_files(tmp_path / "fn", {"helpers.py": "NAME = 'fn'\n"})
    fn = app(tmp_path, ENV_APP, environment={"WHO": "fn"})

    with InProcessRuntime() as runtime:
        assert runtime.invoke(fn, {}).payload["who"] == "fn"

    assert (dict(os.environ), os.getcwd(), list(sys.path)) == (env, cwd, path)
    assert not any(name.endswith("_Fn_app") or name == "helpers" for name in sys.modules)


LATE_IMPORT_APP = """\
def handler(event, context):
    import late  # first imported on a warm call, not at Init

    late.CALLS += 1
    return {"name": late.NAME, "calls": late.CALLS}
"""


def test_the_hosts_copy_of_a_function_module_is_set_aside_on_every_call(tmp_path, monkeypatch):
    write_files(tmp_path / "fn", {"helpers.py": "NAME = 'fn'\n"})
    fn = app(tmp_path, ENV_APP, environment={"WHO": "fn"})
    monkeypatch.syspath_prepend(str(fn.code_dir))
    monkeypatch.delitem(sys.modules, "helpers", raising=False)
    import helpers as host_copy

    host_copy.NAME = "host"
    with InProcessRuntime() as runtime:
        payloads = [runtime.invoke(fn, {}).payload for _ in range(3)]
        assert sys.modules["helpers"] is host_copy

    assert [(p["helper"], p["calls"]) for p in payloads] == [("fn", 1), ("fn", 2), ("fn", 3)]


def test_a_module_first_imported_on_a_warm_call_stays_the_functions(tmp_path):
    write_files(tmp_path / "fn", {"late.py": "NAME = 'late'\nCALLS = 0\n"})
    fn = app(tmp_path, LATE_IMPORT_APP)

    with InProcessRuntime() as runtime:
        payloads = [runtime.invoke(fn, {}).payload for _ in range(3)]
        assert "late" not in sys.modules

    assert [p["calls"] for p in payloads] == [1, 2, 3]


def test_in_process_logs_can_be_forwarded_to_stderr(tmp_path, capsys):
    fn = app(tmp_path, INSPECT_APP)

    with InProcessRuntime(forward_logs=True) as runtime:
        runtime.invoke(fn, {})

    assert "to stdout" in capsys.readouterr().err


# -- worker only --------------------------------------------------------------------------------------


def test_worker_kills_a_function_that_runs_past_its_timeout(worker, tmp_path):
    fn = app(tmp_path, BEHAVIOUR_APP, timeout=1)

    timed_out = worker.invoke(fn, {"action": "sleep", "seconds": 60}, request_id="req-4")
    after = worker.invoke(fn, {})

    assert timed_out.error["errorType"] == "Sandbox.Timedout"
    assert timed_out.error["errorMessage"].startswith("RequestId: req-4 Error: Task timed out after 1.")
    assert "Task timed out after" in timed_out.logs
    assert after.payload == {"calls": 1} and after.init_duration_ms is not None


def test_worker_adds_the_time_a_function_waited_on_localfaas_to_its_deadline(tmp_path):
    # A stack started on the function's first call (localfaas.on_demand) is not the function's time:
    # here 2 s of it, reported once the call is under way, carry a 1 s function past 1.5 s of work.
    fn = app(tmp_path, BEHAVIOUR_APP, timeout=1)
    asked = []

    def waited_on_localfaas():  # asked as each call begins, then at its deadline
        asked.append(1)
        return 0.0 if len(asked) <= 2 else 2.0

    with WorkerProcessRuntime(not_counted=waited_on_localfaas) as runtime:
        runtime.invoke(fn, {})  # the cold start, under its own init timeout
        slow = runtime.invoke(fn, {"action": "sleep", "seconds": 1.5})

    assert slow.error is None, slow.error
    assert len(asked) >= 3


def test_worker_reports_a_crash_and_starts_fresh(worker, tmp_path):
    fn = app(tmp_path, BEHAVIOUR_APP)

    worker.invoke(fn, {})
    crashed = worker.invoke(fn, {"action": "exit"}, request_id="req-5")
    after = worker.invoke(fn, {})

    assert crashed.error == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: req-5 Error: Runtime exited with error: exit status 7",
    }
    assert "last words" in crashed.logs
    assert after.payload == {"calls": 1} and after.init_duration_ms is not None


def test_worker_reports_a_segfault_by_signal(worker, tmp_path):
    fn = app(tmp_path, BEHAVIOUR_APP)

    error = worker.invoke(fn, {"action": "segfault"}, request_id="req-6").error

    assert (
        error["errorMessage"]
        == "RequestId: req-6 Error: Runtime exited with error: signal: segmentation fault"
    )


def test_a_crash_in_one_worker_leaves_the_others_warm(worker, tmp_path):
    crashy, steady = app(tmp_path, BEHAVIOUR_APP, "Crashy"), app(tmp_path, BEHAVIOUR_APP, "Steady")

    worker.invoke(steady, {})
    worker.invoke(crashy, {"action": "exit"})
    after = worker.invoke(steady, {})

    assert after.payload == {"calls": 2} and after.init_duration_ms is None


def test_worker_reports_max_memory_used(worker, tmp_path):
    fn = app(tmp_path, BEHAVIOUR_APP)

    assert "\tMax Memory Used: " in worker.invoke(fn, {}).logs


def test_in_process_handler_module_has_its_lambda_name_on_every_cold_start(tmp_path):
    # Powertools idempotency keys on f"{fn.__module__}.{fn.__qualname__}": a name that changed with
    # each cold start would make every redelivery after a restart look new.
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return handler.__module__\n")
    spec = function_spec(code)
    names = []
    for _ in range(2):
        with InProcessRuntime() as runtime:
            names.append(runtime.invoke(spec, {}).payload)
    assert names == ["app", "app"]


def test_each_in_process_function_has_its_own_powertools_cold_start(tmp_path):
    # Powertools keeps "first invocation" in module globals, shared by every function in the process.
    from aws_lambda_powertools.logging import logger as powertools_logger

    powertools_logger.is_cold_start = False  # as after any earlier invocation in this process
    with InProcessRuntime() as runtime:
        one = runtime.invoke(app(tmp_path / "one", POWERTOOLS_APP), {})
        two = runtime.invoke(app(tmp_path / "two", POWERTOOLS_APP, name="Two"), {})
        again = runtime.invoke(app(tmp_path / "one", POWERTOOLS_APP), {})
    assert '"cold_start":true' in one.logs
    assert '"cold_start":true' in two.logs
    assert '"cold_start":false' in again.logs
    assert powertools_logger.is_cold_start is False  # the host's own value is put back
