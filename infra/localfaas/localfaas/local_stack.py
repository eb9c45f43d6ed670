"""A SAM template running as a live local stack: everything `localfaas run` and `localfaas up` need.

`LocalStack` wires, for one template: a backend (moto on 127.0.0.1 by default) with the template's
data resources provisioned on it; a log (the embedded log, or a Kafka broker) with the topics the
mappings read; a runtime that invokes the functions with the backend's environment; one Kafka event
source mapping poller per AWS::Lambda::EventSourceMapping; one EventBridge bus per bus the template
names (and "default"), with its rules and archives; Lambda's asynchronous invocation, through which
the buses invoke functions; and an EventBridge endpoint (localfaas.events_api) that the functions'
PutEvents calls reach, so an event a function announces is routed by localfaas's rules.

Time is virtual by default: `run_until_idle()` polls every mapping and runs the buses' and the
asynchronous invoker's scheduled work with the clock jumping to the next due task, so retry backoffs
of minutes cost nothing. With `real_time=True` the same work runs at wall-clock time, pollers honour
their batching windows, and `serve_forever()` runs until told to stop (`localfaas up`).

    with LocalStack("template.yaml") as stack:
        stack.produce("orders", {"orderId": "o-1"}, key="o-1")
        stack.put_events([{"Source": "shop", "DetailType": "Hello", "Detail": "{}"}])
        stack.run_until_idle()
        print(stack.report().render())
        stack.client("dynamodb").scan(TableName=stack.physical_name("OrdersTable"))

With the in-process runtime on a moto backend (in this process), functions' SDK calls are served by
moto directly, without HTTP (moto's `mock_aws`, which shares the server's state): it halves the time
of a run, and `direct_moto=False` turns it off. EventBridge calls still go to the events endpoint.

With a fault plan (`faults`, localfaas.faults), a share of the functions' AWS calls is throttled
and a share of invocations fails after the handler ran; the report says what was injected.

In virtual time, a function's PutEvents is served on the endpoint's thread while the thread that
invoked the function waits for it, so the scheduler is never used by two threads at once.

Durable where AWS is (localfaas.durable): the entries PutEvents accepted and the asynchronous
invocations queued are kept in `state_dir` until settled, and resumed when a stack starts on a state
folder a killed one left (a fresh temporary folder starts empty). The log and the mappings' committed
offsets are durable already. The report is computed from that durable state (records per topic from
the log's offsets, events and invocations from the store, the mappings' counts as last saved), so a
run killed and resumed reports the totals of one that was not; `run_scenario` does not feed again
what the killed run fed (localfaas.feeding).

This module is long (about 1,300 lines) because it is where every part meets: each piece of wiring is
short, and one stack's lifecycle reads in one place. It has outgrown that: the other event sources
already plug in through localfaas.event_sources; feeding (produce, scenarios) and the report's
assembly are the next parts to move out.
The other event sources (SQS, SNS, streams, schedules) are built by their own modules through
localfaas.event_sources and polled with the Kafka mappings; one that no module runs is named at start.
Not emulated: bus-to-bus targets, S3 on-failure destinations of asynchronous invocations.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from botocore.exceptions import ClientError, ParamValidationError

from localfaas.async_invoke import AsyncInvokeConfig, AsyncInvoker, AsyncOutcome
from localfaas.backend import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, Backend, MotoBackend, make_backend
from localfaas.bus import (
    DEFAULT_BUS,
    DeliveryFailed,
    EventBus,
    JsonLinesArchiveStore,
    MemoryArchiveStore,
    Outcome,
    Target,
    archives_from_resources,
    bus_name,
    rules_from_resources,
    validate_put_events_request,
)
from localfaas.call_meter import CallMeter
from localfaas.destinations import Destinations
from localfaas.durable import DurableStore, offsets_from_json, offsets_to_json
from localfaas.esm import (
    EventSourceMappingConfig,
    KafkaEventSourceMapping,
    PollReport,
    is_kafka_event_source_mapping,
)
from localfaas.event_sources import EventSource, StackServices, build_sources
from localfaas.events_api import ENDPOINT_VARIABLE, EventsApi
from localfaas.faults import Dice, FaultPlan, FaultyRuntime
from localfaas.feeding import ScenarioFeeding, end_offsets, records_since
from localfaas.lambda_api import ENDPOINT_VARIABLE as LAMBDA_ENDPOINT_VARIABLE
from localfaas.lambda_api import lambda_api_for
from localfaas.log import Log, LogRecord, payload_bytes
from localfaas.outbound import Outbound
from localfaas.parked import parked
from localfaas.provision import ProvisionReport, provision
from localfaas.report import (
    FunctionStats,
    Report,
    async_summary,
    aws_calls_summary,
    bus_summary,
    mapping_summary,
    resource_summary,
)
from localfaas.role_enforcement import ENFORCE_ROLES_DEFAULT, RoleEnforcer, enforcer_for
from localfaas.runtime import (
    TIMEOUT_NOT_ENFORCED,
    InProcessRuntime,
    InvocationResult,
    Runtime,
    WorkerProcessRuntime,
)
from localfaas.scenario import span_end
from localfaas.scheduler import RealTimeScheduler, VirtualScheduler
from localfaas.skipped import SkippedTrigger, skipped_triggers, skipped_work
from localfaas.template import FunctionNotFound, FunctionSpec, Stack, load_stack

if TYPE_CHECKING:
    from localfaas.scenario import Scenario, ScenarioMessage, ScenarioRecord

__all__ = ["LocalStack", "StackError"]

log = logging.getLogger(__name__)


def _say(text: str) -> None:
    # What a build does that takes time (installing packages) is said as it starts.
    print(f"localfaas: {text}", file=sys.stderr, flush=True)


# EventBridge's documented DLQ error codes ("Using dead-letter queues to process undelivered events").
_NO_RESOURCE, _CLIENT_ERROR, _INVALID = "NO_RESOURCE", "SDK_CLIENT_ERROR", "INVALID_PARAMETER"
_NOT_FOUND_CODES = (
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NotFound",
    "NotFoundException",
)
# What Lambda sends an EventBridge destination ("Capturing records of Lambda asynchronous invocations").
_RESULT_DETAIL_TYPE = "Lambda Function Invocation Result - {}"


class StackError(RuntimeError):
    """The stack cannot be built as asked (an unknown runtime, a Kafka log without a broker, ...)."""


class LocalStack:
    """One loaded template, running locally. Use as a context manager (or call start() and close()).

    `runtime`: "in-process" (default), "worker", or a Runtime. `log`: "embedded" (in `log_dir`; by
    default `state_dir`/log when you give a state_dir, else a fresh temporary directory), "kafka" (at `bootstrap_servers`), or a Log. `backend`:
    "moto" (a fresh moto server, emptied on start), "localstack", "aws", or a Backend (left as it
    is). `topics` {name: partitions} are created before the pollers start; a mapping's topic that
    is not in it gets one partition. `environment` overrides function variables as SAM's env-vars
    file does ({"Parameters": {VAR: value}} for all, {LogicalId or FunctionName: {...}} for one; only
    variables the template declares), with ${LOCALFAAS_STATE_DIR} replaced by `state_dir` (a fresh
    temporary directory by default, removed on close; one you give is kept, and a stack started on it
    again resumes what a killed one left there). `function_logs`, when given, receives every
    invocation's logs. `durable=False` keeps what PutEvents and asynchronous Invoke accepted in
    memory only, as localfaas did before it was durable: for measuring the cost, nothing else.
    `enforce_roles=True` refuses a function's AWS call its execution role does not allow, with the
    service's AccessDenied (localfaas.role_enforcement; moto backends only).
    """

    def __init__(
        self,
        template: str | Path,
        *,
        parameters: Mapping[str, Any] | None = None,
        runtime: str | Runtime = "in-process",
        log: str | Log = "embedded",
        log_dir: str | Path | None = None,
        bootstrap_servers: str | None = None,
        backend: str | Backend = "moto",
        topics: Mapping[str, int] | None = None,
        real_time: bool = False,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        stack_name: str = "localfaas",
        events_port: int = 0,
        lambda_port: int = 0,  # issue 12: Lambda's Invoke API (localfaas.lambda_api)
        archive_dir: str | Path | None = None,
        environment: Mapping[str, Mapping[str, Any]] | None = None,
        direct_moto: bool = True,
        state_dir: str | Path | None = None,
        function_logs: TextIO | None = None,
        faults: FaultPlan | None = None,
        durable: bool = True,
        build: bool = False,
        build_dir: str | Path | None = None,
        enforce_roles: bool = ENFORCE_ROLES_DEFAULT,  # issue 14: localfaas.role_enforcement
    ) -> None:
        self.template_path = Path(template)
        # issue 12: `sam build` first (localfaas.build), into build_dir (default .aws-sam/build).
        self._build, self._build_dir = build, Path(build_dir) if build_dir is not None else None
        self._build_result: Any = None
        self.parameters = dict(parameters or {})
        self.region, self.account_id, self.stack_name = region, account_id, stack_name
        self.real_time = real_time
        self._runtime_choice, self._log_choice, self._backend_choice = runtime, log, backend
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self._bootstrap_servers = bootstrap_servers
        self._topics = dict(topics or {})
        self._events_port = events_port
        self._lambda_port = lambda_port
        self._archive_dir = archive_dir
        self._function_logs = function_logs
        self._environment = {k: dict(v) for k, v in (environment or {}).items()}
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._direct_moto = direct_moto
        # A fault plan (localfaas.faults): throttled calls, failed invocations, a kill. Seeded here.
        self.faults = faults.seeded() if faults is not None and faults.active else None
        self.fault_dice = Dice(self.faults.seed) if self.faults is not None else None
        self._throttler: Any = None
        self.enforce_roles = enforce_roles
        self.enforcer: RoleEnforcer | None = None
        self.meter: CallMeter | None = None  # issue 15: the functions' AWS calls (localfaas.call_meter)
        self._durable = durable
        self._owned: list[Callable[[], None]] = []  # what close() undoes, last first
        self._lock = threading.Lock()  # counters, touched by pollers, the scheduler and the endpoint
        self._stats: dict[str, FunctionStats] = {}
        self._produced_topics: set[str] = set()
        self._start_offsets: dict[str, dict[tuple[str, int], int]] = {}
        self.store: DurableStore
        self.run_number = 0  # 1 on a fresh state folder, one more on each restart on it
        self.resumed: dict[str, int] = {"events": 0, "invocations": 0}
        self._started_at = 0.0
        self.template: Stack
        self.backend: Backend
        self.log: Log
        self.runtime: Runtime
        self.scheduler: VirtualScheduler | RealTimeScheduler
        self.async_invoker: AsyncInvoker
        self.buses: dict[str, EventBus] = {}
        self.mappings: list[KafkaEventSourceMapping] = []
        self.sources: list[EventSource] = []  # the other event sources (localfaas.event_sources)
        # The end of the run's span in virtual time: schedules fire their moments up to it (run_scenario).
        self.span_end: float | None = None
        self.skipped: list[SkippedTrigger] = []  # triggers nothing here runs (localfaas.skipped)
        self.events_api: EventsApi
        self.provisioned: ProvisionReport
        self.warnings: list[str] = []
        self._functions: dict[str, FunctionSpec] = {}
        self._queue_urls: dict[str, str] = {}
        self._started = False

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> LocalStack:
        """Start the backend, load and provision the template, open the log, start the endpoint,
        the runtime, the buses and the pollers. On failure, whatever was started is stopped."""
        if self._started:
            return self
        self._started_at = time.monotonic()
        try:
            self._start_throttling()
            self._start_role_enforcement()
            self._start_call_meter()
            self._start_backend()
            self.template = load_stack(
                self.template_path,
                self.parameters,
                region=self.region,
                account_id=self.account_id,
                stack_name=self.stack_name,
                endpoint_url=self.backend.endpoint_url,
            )
            self.warnings.extend(self.template.warnings)
            if self.enforcer is not None:
                self.warnings.extend(self.enforcer.load_stack(self.template))
            if self.meter is not None:
                self.meter.load_stack(self.template)
            self._make_state_dir()
            env_vars = self._env_vars()
            self._functions = {
                spec.function_name: self._built(spec).with_env_vars(env_vars)
                for spec in self._build_functions().values()
            }
            self.provisioned = provision(self.template.resources, self.template.physical_names, self.backend)
            self.warnings.extend(
                f"{kind}: not provisioned, localfaas knows nothing of it"
                for kind in self.provisioned.unsupported
            )
            self._open_store()
            self._start_outbound()
            self._open_log()
            self._take_log_baseline()
            self._start_scheduler()
            self._start_async_invoker()
            self._start_buses()
            self.events_api = EventsApi(
                self.put_events,
                proxy_url=self.backend.endpoint_url,
                port=self._events_port,
                guard=self._events_guard(),
                put_service_events=lambda entries: self.put_events(entries, as_service=True),
            )
            self.events_api.start()
            self._owned.append(self.events_api.stop)
            # issue 12: functions reach Lambda's Invoke API through function_env; it answers only
            # once the runtime below exists, and nothing invokes before start() returns.
            self.lambda_api = lambda_api_for(self, port=self._lambda_port).start()
            self._owned.append(self.lambda_api.stop)
            self._start_runtime()
            self._create_topics()
            self._start_mappings()
            self._start_sources()
            self._resume()
        except BaseException:
            self.close()
            raise
        self._started = True
        return self

    def _build_functions(self) -> dict[str, FunctionSpec]:
        self._build_result = None
        if self._build:
            from localfaas.build import BuildError, build_stack

            try:
                self._build_result = build_stack(self.template, self._build_dir, say=_say)
            except BuildError as e:
                raise StackError(f"build: {e}") from None
        return self.template.functions

    def _built(self, spec: FunctionSpec) -> FunctionSpec:
        if self._build_result is None:
            return spec
        choice = self._runtime_choice
        shared = choice == "in-process" or isinstance(choice, InProcessRuntime)
        return self._build_result.apply(spec, shared_interpreter=shared)

    def close(self) -> None:
        """Stop what start() started, last first; a Backend or Log passed in is left running."""
        while self._owned:
            undo = self._owned.pop()
            try:
                undo()
            except Exception:
                log.exception("while stopping the local stack")
        self._started = False

    def _start_backend(self) -> None:
        if isinstance(self._backend_choice, str):
            options: dict[str, Any] = {"region": self.region, "account_id": self.account_id}
            if self._backend_choice == "moto":
                options["reset"] = True  # moto's state is per process: start from nothing
                if self._throttler is not None:
                    options["middleware"] = self._throttler.wsgi
            self.backend = make_backend(self._backend_choice, **options)  # type: ignore[arg-type]
            self.backend.start()
            self._owned.append(self.backend.stop)
        else:
            self.backend = self._backend_choice
            if self.backend.endpoint_url is None and self.backend.kind != "aws":
                self.backend.start()

    def _make_state_dir(self) -> None:
        if self.state_dir is None:
            directory = Path(tempfile.mkdtemp(prefix="localfaas-state-"))
            self._owned.append(lambda: shutil.rmtree(directory, ignore_errors=True))
            self.state_dir = directory
        else:  # a kept state folder keeps the archives and the embedded log a restart resumes from
            self._archive_dir = self._archive_dir or self.state_dir / "archives"
            self._log_dir = self._log_dir or self.state_dir / "log"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o700)  # events, payloads and read models hold customers' data

    def _open_store(self) -> None:
        assert self.state_dir is not None
        self.store = DurableStore(self.state_dir if self._durable else None)
        self._owned.append(self.store.close)
        self.run_number = self.store.begin_run()
        self._produced_topics = set(self.store.get("produced-topics", []))
        for name, saved in self.store.get("function-stats", {}).items():
            self._stats[name] = FunctionStats.resumed(saved)
        if self.meter is not None:  # the calls a killed run made are the day's calls too
            self.meter.resume(self.store.get("aws-calls", {}))

    def _seed(self, name: str) -> int | str:
        """A seed per generator of ids: reproducible runs, but no two generators, and no two runs on
        one state folder, drawing the same ids (the store keys events and invocations by id). The
        default bus of a first run keeps seed 0, the ids it has always drawn."""
        if self.run_number == 1:
            return 0 if name == f"bus/{DEFAULT_BUS}" else name
        return f"{name}/run-{self.run_number}"

    def _start_outbound(self) -> None:
        """Emails and publishes are counted from here (or from the state folder's first run on)."""
        topics = [r.physical_name for r in self.template.resources_of_type("AWS::SNS::Topic")]
        self.outbound = Outbound(self.backend.client, topics, tap=self.backend.kind != "aws")
        self.store.put("outbound-baseline", self.outbound.start(self.store.get("outbound-baseline")))

    def _take_log_baseline(self) -> None:
        """Where every partition ended when this state folder was first used: records counted as
        produced are those after it (and, in topics created later, all of them)."""
        if self.store.get("log-baseline") is None:
            self.store.put("log-baseline", offsets_to_json(end_offsets(self.log, self.log.topics())))
        self._baseline = offsets_from_json(self.store.get("log-baseline"))

    def _resume(self) -> None:
        """Deliver again what a killed stack on this state folder had accepted and not settled."""
        self.resumed = {
            "events": sum(bus.resume() for bus in self.buses.values()),
            "invocations": self.async_invoker.resume(),
        }
        if any(self.resumed.values()):
            log.info(
                "resumed %(events)d event(s) and %(invocations)d asynchronous invocation(s)", self.resumed
            )

    def _env_vars(self) -> dict[str, dict[str, Any]]:
        """`environment` (SAM's env-vars), with ${LOCALFAAS_STATE_DIR} in its values made the state directory."""
        state_dir = str(self.state_dir.resolve()) if self.state_dir else ""
        return {
            scope: {
                name: value.replace("${LOCALFAAS_STATE_DIR}", state_dir) if isinstance(value, str) else value
                for name, value in variables.items()
            }
            for scope, variables in self._environment.items()
        }

    def function(self, name_or_arn: str) -> FunctionSpec:
        """A function of the template (logical id, name or ARN) as this stack runs it."""
        return self._functions[self.template.function(name_or_arn).function_name]

    def _open_log(self) -> None:
        choice = self._log_choice
        if not isinstance(choice, str):
            self.log = choice
            return
        if choice == "embedded":
            from localfaas.embedded_log import EmbeddedLog

            directory = self._log_dir
            if directory is None:
                directory = Path(tempfile.mkdtemp(prefix="localfaas-log-"))
                self._owned.append(lambda: shutil.rmtree(directory, ignore_errors=True))
            self._log_dir = directory
            self.log = EmbeddedLog(directory)
        elif choice == "kafka":
            if not self._bootstrap_servers:
                raise StackError("a Kafka log needs bootstrap servers (--bootstrap-servers HOST:PORT)")
            from localfaas.kafka_log import KafkaLog

            self.log = KafkaLog(self._bootstrap_servers)
        else:
            raise StackError(f"unknown log {choice!r}; choose embedded or kafka")
        self._owned.append(self.log.close)

    def _start_scheduler(self) -> None:
        if self.real_time:
            scheduler = RealTimeScheduler()
            self._owned.append(scheduler.stop)
            self.scheduler = scheduler
        else:
            self.scheduler = VirtualScheduler()

    def _start_runtime(self) -> None:
        choice = self._runtime_choice
        if not isinstance(choice, str):
            self.runtime = choice
            return
        runtimes = {"in-process": InProcessRuntime, "worker": WorkerProcessRuntime}
        if choice not in runtimes:
            raise StackError(f"unknown runtime {choice!r}; choose in-process or worker")
        environment = self.function_env()
        if choice == "in-process":
            self.warnings.append(TIMEOUT_NOT_ENFORCED)
        if choice == "in-process" and self._moto_here():
            self._serve_sdk_calls_in_process()
            environment.pop("AWS_ENDPOINT_URL")
        # Each function signs with its own role's key: how the roles and the meter tell them apart.
        keys = self.enforcer or self.meter
        credentials = keys.credentials_env if keys is not None else None
        self.runtime = runtimes[choice](environment, credentials=credentials)
        if self.faults is not None and (self.faults.crash or self.faults.timeout or self.faults.kill_after):
            self.runtime = FaultyRuntime(self.runtime, self.faults, self.fault_dice)
        self._owned.append(self.runtime.close)

    def _start_throttling(self) -> None:
        """A share of the functions' AWS calls throttled: those made in this process (in-process
        runtime) at botocore's before-send, those reaching moto's server or the events endpoint there."""
        if self.faults is None or not self.faults.throttle:
            return
        from localfaas.throttling import Throttler, install_in_process, skip_sdk_backoff

        self._throttler = Throttler(self.faults.throttle, self.fault_dice)
        self._owned.append(install_in_process(self._throttler))
        if not self.real_time:
            self._owned.append(skip_sdk_backoff())

    def _start_role_enforcement(self) -> None:
        """issue 14: each function's calls checked against its execution role (localfaas.role_enforcement)."""
        self.enforcer, note = enforcer_for(
            self.enforce_roles, self._backend_choice, self.region, self.account_id
        )
        if note:
            self.warnings.append(note)
        if self.enforcer is not None:
            self._owned.append(self.enforcer.install_in_process())

    def _start_call_meter(self) -> None:
        """issue 15: the functions' AWS calls counted (localfaas.call_meter). Only on moto: there each
        function gets its own access key; LocalStack and AWS read the account from the one key all share."""
        choice = self._backend_choice
        if (choice if isinstance(choice, str) else getattr(choice, "kind", "")) != "moto":
            return
        self.meter = CallMeter()
        self._owned.append(self.meter.install_in_process())
        if type(choice).__name__ == "RemoteMotoBackend" and self._runtime_choice != "in-process":
            self.warnings.append(
                "AWS calls are counted only where this process sees them (PutEvents, Invoke): the worker "
                "processes' other calls go to a moto server of another process"
            )

    def _events_guard(self) -> Any:
        """What judges a call at the events endpoint: the roles first, then a fault plan's throttle,
        then the meter counts what they let by."""
        guards = [g.decide for g in (self.enforcer, self._throttler, self.meter) if g is not None]
        if not guards:
            return None

        def guard(headers: Any, path: str, body: bytes = b"") -> Any:
            return next((a for a in (g(headers, path, body) for g in guards) if a is not None), None)

        return guard

    def _moto_here(self) -> bool:
        """True when moto runs in this process, in the account moto's in-process mock answers in."""
        return (
            self._direct_moto
            and isinstance(self.backend, MotoBackend)
            and self.account_id == DEFAULT_ACCOUNT_ID
        )

    def _serve_sdk_calls_in_process(self) -> None:
        """Let moto answer the functions' AWS calls in this process (AWS endpoints are intercepted;
        localfaas's own clients, addressed to the server, are not), keeping what the server holds."""
        from moto import mock_aws

        from localfaas import in_process_signing, moto_in_process

        mock = mock_aws()
        mock.start(reset=False)
        self._owned.append(lambda: mock.stop(remove_data=False))
        # The same answers for less work a call: moto routed and parsing once, no signature computed.
        self._owned.append(moto_in_process.install())
        self._owned.append(in_process_signing.install())

    def function_env(self) -> dict[str, str]:
        """What every function gets on top of its own environment: the backend's settings, the
        events endpoint for EventBridge, so its PutEvents reach localfaas's buses, and Lambda's
        Invoke API, so it can invoke the stack's functions."""
        return {
            **self.backend.function_env(),
            ENDPOINT_VARIABLE: self.events_api.endpoint_url,
            LAMBDA_ENDPOINT_VARIABLE: self.lambda_api.endpoint_url,  # issue 12
        }

    # -- topics and mappings ------------------------------------------------------------------------

    def _kafka_mappings(self) -> list[tuple[Any, FunctionSpec]]:
        found = []
        for resource in self.template.event_source_mappings:
            if not is_kafka_event_source_mapping(resource.properties):
                continue  # another kind of source (_start_sources)
            try:
                spec = self.template.function(str(resource.properties.get("FunctionName", "")))
            except FunctionNotFound as e:
                self.warnings.append(f"{resource.logical_id}: {e}; skipped")
                continue
            found.append((resource, spec))
        return found

    def _create_topics(self) -> None:
        wanted = dict(self._topics)
        for resource, _ in self._kafka_mappings():
            for topic in resource.properties.get("Topics") or []:
                wanted.setdefault(str(topic), 1)
        existing = set(self.log.topics())
        for topic, partitions in wanted.items():
            if topic not in existing:
                self.log.create_topic(topic, partitions)

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        self.log.create_topic(topic, partitions)

    def _start_mappings(self) -> None:
        clients = lambda service, region: self.backend.client(service)  # noqa: E731 - one region locally
        destinations = self._destinations = Destinations(
            clients,
            log=self.log,
            on_sent=lambda arn, document: self._note_parked(arn, document["requestContext"]["condition"]),
        )
        bootstrap = self._bootstrap_servers if self._log_choice == "kafka" else None
        for resource, spec in self._kafka_mappings():
            config = EventSourceMappingConfig.from_resource(
                resource.logical_id,
                resource.properties,
                function_name=spec.function_name,
                function_arn=spec.arn,
            )
            mapping = KafkaEventSourceMapping(
                config,
                self.log,
                self._invoke,
                destinations,
                clock=self.scheduler.now,
                bootstrap_servers=bootstrap,
            )
            # The mapping commits its starting position as it starts: whatever lies beyond is its work.
            # The first start's position is kept, so a restart still counts the work from there.
            kept = self.store.get(f"esm-start:{config.logical_id}")
            if kept is None:
                starts = {
                    (topic, partition): self._committed(config, topic, partition)
                    for topic in config.topics
                    if topic in self.log.topics()
                    for partition in range(self.log.partitions(topic))
                }
                self.store.put(f"esm-start:{config.logical_id}", offsets_to_json(starts))
            else:
                starts = offsets_from_json(kept)
            self._start_offsets[config.logical_id] = starts
            saved = self.store.get(f"esm-stats:{config.logical_id}")
            if saved:
                mapping.stats.add(PollReport(**saved))
            self.mappings.append(mapping)

    def _poll(self, mapping: KafkaEventSourceMapping, *, flush: bool = False) -> PollReport:
        """One poll, its counts saved when it did anything: a restart goes on counting from them. A kill
        inside the poll, after it committed a batch, loses that batch's counts (it is not delivered
        again). The functions' invocation counts are saved with them (so a resumed run reports every
        function that ran before the kill); their 95th percentiles are this process's."""
        report = mapping.poll_once(flush=flush)
        if report.invocations or report.records_settled:
            self.store.put(f"esm-stats:{mapping.config.logical_id}", asdict(mapping.stats))
            with self._lock:
                functions = {name: stats.saved() for name, stats in self._stats.items()}
            self.store.put("function-stats", functions)
            if self.meter is not None:
                self.store.put("aws-calls", self.meter.counts())
        return report

    def _start_sources(self) -> None:
        """The event sources other than Kafka that some kind of source runs (localfaas.event_sources);
        a mapping none runs is named once, with the AWS page of what is missing."""
        services = StackServices(
            template=self.template,
            client=self.backend.client,
            invoke=self._invoke,
            invoke_async=self.async_invoker.invoke_async,
            put_events=self.put_events,
            send_message=self._send_message,
            destinations=self._destinations,
            scheduler=self.scheduler,
            store=self.store,
            real_time=self.real_time,
            account_id=self.account_id,
            region=self.region,
            warn=self.warnings.append,
            deliver=self._deliver,
            until=lambda: self.span_end,
        )
        candidates = [self.template.resource(logical_id) for logical_id in self.template.resources]
        self.sources = build_sources(candidates, services)
        for source in self.sources:
            self._owned.append(source.close)
            saved = self.store.get(f"esm-stats:{source.logical_id}")
            if saved:
                source.stats.add(PollReport(**saved))
        self.skipped = skipped_triggers(self.template, {source.logical_id for source in self.sources})
        for trigger in self.skipped:
            if not any(w.startswith(f"{trigger.logical_id}: ") for w in self.warnings):
                self.warnings.append(trigger.warning)  # else its kind declined it and said why
        if self.store.get("started-at") is None:  # objects put since the first start are skipped work
            self.store.put("started-at", int(time.time()))

    def _poll_source(self, source: EventSource, *, flush: bool = False) -> PollReport:
        """One poll of another kind of source, its running counts saved as a Kafka mapping's are."""
        report = source.poll_once(flush=flush)
        if report.invocations or report.records_settled:
            self.store.put(f"esm-stats:{source.logical_id}", asdict(source.stats))
        return report

    def _committed(self, config: EventSourceMappingConfig, topic: str, partition: int) -> int:
        committed = self.log.committed(config.consumer_group_id, topic, partition)
        return self.log.beginning_offset(topic, partition) if committed is None else committed

    # -- invocation ---------------------------------------------------------------------------------

    def _invoke(self, function_name: str, event: Any) -> InvocationResult:
        """Synchronous invocation by function name, counted for the report."""
        spec = self._functions.get(function_name) or self.function(function_name)
        result = self.runtime.invoke(spec, event)
        with self._lock:
            self._stats.setdefault(spec.logical_id, FunctionStats()).record(result)
            if self._function_logs is not None:
                self._function_logs.write(result.logs)
                self._function_logs.flush()
        return result

    def invoke(self, function: str, event: Any) -> InvocationResult:
        """Invoke one function (logical id, name or ARN) synchronously, as `localfaas invoke` does."""
        return self._invoke(self.function(function).function_name, event)

    def _start_async_invoker(self) -> None:
        configs = {
            spec.function_name: AsyncInvokeConfig.from_properties(
                spec.event_invoke_config, {"DeadLetterConfig": {"TargetArn": spec.dead_letter_arn}}
            )
            for spec in self._functions.values()
        }
        self.async_invoker = AsyncInvoker(
            invoke=self._invoke,
            send_to_destination=self._send_to_destination,
            clock=self.scheduler,
            scheduler=self.scheduler,
            account_id=self.account_id,
            region=self.region,
            configs=configs,
            seed=self._seed("async"),
            store=self.store,
        )

    def _send_to_destination(self, arn: str, body: str, attributes: dict[str, dict[str, str]]) -> None:
        """Where an asynchronous invocation's record goes (SQS, SNS, Lambda, EventBridge). A failure to
        deliver is logged, not raised: AWS drops the record, and the report counts it as lost."""
        record = json.loads(body)
        context = record.get("requestContext") if isinstance(record, dict) else None
        request_id = (attributes.get("RequestID") or {}).get("StringValue") or (context or {}).get(
            "requestId"
        )
        service = _service(arn)
        try:
            if service in ("sqs", "sns"):
                self._send_message(arn, body, attributes)
            elif service == "lambda":
                self.async_invoker.invoke_async(self.template.function(arn).function_name, record)
            elif service == "events":
                self.put_events([_invocation_result_entry(arn, body, context or {})])
            else:
                raise ValueError(f"localfaas does not deliver invocation records to {service or arn}")
        except Exception as e:
            log.warning("could not send an invocation record to %s: %s", arn, e)
            return
        if request_id:
            self.store.mark_record_delivered(request_id)
        condition = (context or {}).get("condition") if "RequestID" not in attributes else None
        condition = condition or self._async_condition(request_id)
        if service in ("sqs", "sns") and condition != "Success":
            self._note_parked(arn, condition)

    def _async_condition(self, request_id: str | None) -> str:
        """Why an invocation was given up on: its DLQ message names only the request."""
        for outcome in reversed(self.async_invoker.outcomes):
            if outcome.request_id == request_id:
                return outcome.condition
        return ""

    def _send_dead_letter(self, arn: str, body: str, attributes: dict[str, dict[str, str]]) -> None:
        """An event EventBridge could not deliver, to its target's DLQ; the attributes say why."""
        self._send_message(arn, body, attributes)
        why = attributes.get("EXHAUSTED_RETRY_CONDITION") or attributes.get("ERROR_CODE") or {}
        self._note_parked(arn, why.get("StringValue", ""))

    def _note_parked(self, arn: str, reason: str) -> None:
        # Durable: SNS keeps no count to read back, and a resumed run reports what the killed one sent.
        self.store.note_parked(arn, reason or "unknown")

    # -- the buses ----------------------------------------------------------------------------------

    def _start_buses(self) -> None:
        resources = self.template.resources
        rules = rules_from_resources(resources)
        archives = archives_from_resources(resources)
        names = {DEFAULT_BUS}
        names |= {r.physical_name for r in self.template.resources_of_type("AWS::Events::EventBus")}
        names |= {rule.event_bus_name for rule in rules}
        for name in sorted(names):
            store = (
                JsonLinesArchiveStore(Path(self._archive_dir) / name)
                if self._archive_dir
                else MemoryArchiveStore()
            )
            self.buses[name] = EventBus(
                name,
                rules,
                self._deliver,
                clock=self.scheduler,
                scheduler=self.scheduler,
                account_id=self.account_id,
                region=self.region,
                send_to_dlq=self._send_dead_letter,
                archives=archives,
                archive_store=store,
                seed=self._seed(f"bus/{name}"),
                store=self.store,
            )

    def put_events(self, entries: Iterable[Mapping[str, Any]], *, as_service: bool = False) -> dict[str, Any]:
        """PutEvents across the stack's buses: each entry goes to its EventBusName (default "default").
        Answers as the API does; EventBridgeError for a request rejected as a whole. `as_service`: put
        as the AWS service itself sends its events (localfaas.service_events), never a function's."""
        entries = [dict(entry) for entry in entries]
        validate_put_events_request(entries)
        results: list[dict[str, Any]] = [{} for _ in entries]
        by_bus: dict[str, list[int]] = {}
        for index, entry in enumerate(entries):
            name = bus_name(str(entry.get("EventBusName") or DEFAULT_BUS))
            if name in self.buses:
                by_bus.setdefault(name, []).append(index)
            else:
                results[index] = {
                    "ErrorCode": "ResourceNotFoundException",
                    "ErrorMessage": f"Event bus {name} does not exist.",
                }
        for name, indexes in by_bus.items():
            answer = self.buses[name].put_events([entries[i] for i in indexes], as_service=as_service)
            for index, result in zip(indexes, answer["Entries"], strict=True):
                results[index] = result
        refused = sum("ErrorCode" in result for result in results)
        if refused:
            with self._lock:
                self.store.put("events-refused", self.store.get("events-refused", 0) + refused)
        failed = sum("ErrorCode" in result for result in results)
        return {"FailedEntryCount": failed, "Entries": results}

    def _deliver(self, target: Target, payload: Any) -> None:
        """A rule's target: Lambda is invoked asynchronously; SQS and SNS get the payload as a message."""
        service = _service(target.arn)
        if service == "lambda":
            try:
                function = self.template.function(target.arn)
            except FunctionNotFound as e:
                raise DeliveryFailed(False, str(e), error_code=_NO_RESOURCE) from None
            self.async_invoker.invoke_async(function.function_name, payload)
        elif service in ("sqs", "sns"):
            body = payload if isinstance(payload, str) else json.dumps(payload)
            try:
                self._send_message(target.arn, body, {})
            except ClientError as e:
                code = e.response["Error"].get("Code", "")
                not_found = code in _NOT_FOUND_CODES
                raise DeliveryFailed(
                    not not_found, str(e), error_code=_NO_RESOURCE if not_found else _CLIENT_ERROR
                ) from None
        else:
            raise DeliveryFailed(
                False, f"localfaas does not deliver to {service or target.arn} targets", error_code=_INVALID
            )

    def _send_message(self, arn: str, body: str, attributes: dict[str, dict[str, str]]) -> None:
        """SendMessage to an SQS queue or Publish to an SNS topic named by ARN."""
        if _service(arn) == "sns":
            request: dict[str, Any] = {"TopicArn": arn, "Message": body}
            if attributes:
                request["MessageAttributes"] = attributes
            self.backend.client("sns").publish(**request)
            return
        request = {"QueueUrl": self._queue_url(arn), "MessageBody": body}
        if attributes:
            request["MessageAttributes"] = attributes
        self.backend.client("sqs").send_message(**request)

    def _queue_url(self, arn: str) -> str:
        if arn not in self._queue_urls:
            parts = arn.split(":")
            self._queue_urls[arn] = self.backend.client("sqs").get_queue_url(
                QueueName=parts[5], QueueOwnerAWSAccountId=parts[4]
            )["QueueUrl"]
        return self._queue_urls[arn]

    # -- feeding ------------------------------------------------------------------------------------

    def produce(
        self,
        topic: str,
        value: bytes | str | dict | list | None,
        *,
        key: bytes | str | None = None,
        headers: Mapping[str, str | bytes] | Iterable[tuple[str, bytes]] = (),
        timestamp_ms: int | None = None,
        partition: int | None = None,
    ) -> LogRecord:
        """Append one record; a dict or list value is produced as compact JSON, text as UTF-8."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        record = self.log.produce(
            topic,
            payload_bytes(value),
            key=payload_bytes(key),
            headers=tuple((name, payload_bytes(v) or b"") for name, v in pairs),
            timestamp_ms=timestamp_ms,
            partition=partition,
        )
        if topic not in self._produced_topics:
            with self._lock:
                self._produced_topics.add(topic)
                self.store.put("produced-topics", sorted(self._produced_topics))
        return record

    def produce_records(self, records: Iterable[ScenarioRecord]) -> int:
        count = 0
        for record in records:
            self.produce(
                record.topic,
                record.value,
                key=record.key,
                headers=record.headers,
                timestamp_ms=record.timestamp_ms,
                partition=record.partition,
            )
            count += 1
        return count

    def feed(self, scenario: Scenario) -> None:
        """Produce a scenario's records, then put its events ten at a time (PutEvents' limit)."""
        for topic, partitions in scenario.topics.items():
            if topic not in self.log.topics():
                self.log.create_topic(topic, partitions)
        self.produce_records(scenario.records)
        self.send_messages(scenario.messages)
        events = list(scenario.events)
        for start in range(0, len(events), 10):
            self.put_scenario_events(events[start : start + 10])
        self.publish(scenario.publish)

    def put_scenario_events(self, entries: list[dict[str, Any]]) -> None:
        """A scenario's PutEvents entries; those marked "asService" are put as the AWS service would."""
        start = 0
        while start < len(entries):
            as_service = bool(entries[start].get("asService"))
            end = start + 1
            while end < len(entries) and bool(entries[end].get("asService")) == as_service:
                end += 1
            batch = [{k: v for k, v in entry.items() if k != "asService"} for entry in entries[start:end]]
            self.put_events(batch, as_service=as_service)
            start = end

    def publish(self, requests: Iterable[Mapping[str, Any]], *, first: int = 0) -> None:
        """SNS Publish requests whose "Topic" is a logical id, a topic name or its ARN; the count of
        those published is kept, so a resumed scenario does not publish them again."""
        sns = self.backend.client("sns")
        requests = list(requests)
        for index in range(first, len(requests)):
            request = dict(requests[index])
            request["TopicArn"] = self._topic_arn(str(request.pop("Topic")))
            try:
                sns.publish(**request)
            except (ClientError, ParamValidationError) as e:  # the scenario's mistake, said in one line
                raise StackError(f"publish[{index}]: {e}".replace("\n", " ")) from None
            self.store.put("scenario-published", index + 1)

    def _topic_arn(self, topic: str) -> str:
        if topic.startswith("arn:"):
            return topic
        name = self.template.physical_names.get(topic, topic)
        return f"arn:aws:sns:{self.region}:{self.account_id}:{name}"

    def send_messages(self, messages: Iterable[ScenarioMessage]) -> int:
        """SendMessage for each of a scenario's messages, to the queue it names (logical id, name or ARN)."""
        sqs, count = self.backend.client("sqs"), 0
        for message in messages:
            name = self.template.physical_names.get(message.queue, message.queue).rsplit(":", 1)[-1]
            request: dict[str, Any] = {
                "QueueUrl": sqs.get_queue_url(QueueName=name)["QueueUrl"],
                "MessageBody": message.body,
            }
            if message.attributes:
                request["MessageAttributes"] = {
                    key: {"DataType": "String", "StringValue": value} for key, value in message.attributes
                }
            if message.group_id is not None:
                request["MessageGroupId"] = message.group_id
            if message.deduplication_id is not None:
                request["MessageDeduplicationId"] = message.deduplication_id
            sqs.send_message(**request)
            count += 1
        return count

    def run_scenario(
        self,
        scenario: Scenario,
        *,
        window_s: float | None = None,
        progress: Callable[[int, int], None] | None = None,
        resume: bool | None = None,
        until: float | None = None,
    ) -> bool:
        """Feed a scenario and run until idle. With `window_s`, records are released in timestamp order,
        `window_s` seconds of scenario time at a time, each slice run to idle before the next: what
        happened an hour apart is processed in that order across topics, as a live stack would.
        Returns False when some partition stopped settling (see run_until_idle).

        `resume` (by default, when this state folder was fed the same scenario before): produce and put
        only what the earlier, killed run had not; False feeds it all again.

        Virtual time follows the records: it begins at the first record's timestamp and, with
        `window_s`, moves to each slice's first record as the slice is released, so a record's age
        is measured as a live stack would measure it.

        The run's span, in which schedules fire, is from that beginning (or the scenario's `start`)
        to `until` (epoch seconds), else the scenario's `until`, else its last record or event time."""
        assert isinstance(self.scheduler, VirtualScheduler)
        feeding = ScenarioFeeding(self.store, self.log, scenario, window_s, resume, self.put_scenario_events)
        if not feeding.resumed:  # a resumed run's queues kept what the killed run sent them
            self.send_messages(scenario.messages)
        stamps = [r.timestamp_ms for r in scenario.records if r.timestamp_ms is not None]
        if scenario.start_ms is not None or stamps:
            self.scheduler.begin_at(min([*stamps, *filter(None, [scenario.start_ms])]) / 1000)
        self.span_end = span_end(scenario, self.scheduler.now(), until)
        for topic, partitions in scenario.topics.items():
            if topic not in self.log.topics():
                self.log.create_topic(topic, partitions)
        published = self.store.get("scenario-published", 0) if feeding.resumed else 0
        if not window_s:
            self.produce_records(feeding.records_left())
            feeding.put_events_left()
            self.publish(scenario.publish, first=published)
            return self.run_until_idle(progress=progress)
        feeding.put_events_left()
        self.publish(scenario.publish, first=published)
        timed = feeding.records_left()
        readers = Counter(topic for m in self.mappings for topic in m.config.topics)
        unreleased = sum(readers[r.topic] for r in timed)  # records the mappings have yet to see

        def report_progress(settled: int, total: int) -> None:
            if progress is not None:
                progress(settled, total + unreleased)

        span = self.span_end

        def fire_until(index: int) -> None:
            """Schedules fire up to the release of slice `index`, so they do not move the clock past it."""
            release = timed[index].timestamp_ms if index < len(timed) else None
            self.span_end = span if release is None else min(span, release / 1000)

        finished, start = True, 0
        if feeding.resumed:  # finish what the killed run had in flight before releasing more
            fire_until(0)
            finished = self.run_until_idle(progress=report_progress)
        while start < len(timed):
            first = timed[start].timestamp_ms
            end = start + 1
            if first is not None:
                while end < len(timed) and timed[end].timestamp_ms < first + window_s * 1000:
                    end += 1
                self.scheduler.advance_to(first / 1000)
            self.produce_records(timed[start:end])
            unreleased -= sum(readers[r.topic] for r in timed[start:end])
            fire_until(end)
            finished = self.run_until_idle(progress=report_progress) and finished
            start = end
        if not timed or self.span_end != span:  # the span, when no slice ran to its end
            self.span_end = span
            finished = self.run_until_idle(progress=report_progress) and finished
        return finished

    # -- running ------------------------------------------------------------------------------------

    def run_until_idle(
        self,
        *,
        progress: Callable[[int, int], None] | None = None,
        max_idle_rounds: int | None = None,
        until: float | None = None,
    ) -> bool:
        """Poll every mapping and run the scheduled work until every mapping is caught up and nothing is
        scheduled: True. False when rounds go by with nothing settled and nothing run (a partition
        blocked by an unreachable destination or endless retries); the report lists those records.
        `until` (epoch seconds of virtual time) ends the run's span: schedules fire their moments up to
        it, inclusive (without a span, only what is due now)."""
        if self.real_time:
            raise StackError("run_until_idle runs in virtual time; a real-time stack runs with serve_forever")
        assert isinstance(self.scheduler, VirtualScheduler)
        if until is not None:
            self.span_end = until
        limit = max_idle_rounds or self._idle_limit()
        idle = 0
        while True:
            before = self._settled()
            for mapping in self.mappings:
                self._poll(mapping, flush=True)
            for source in self.sources:
                self._poll_source(source, flush=True)
            ran = self.scheduler.run_until_idle()
            settled = self._settled()
            if progress is not None:
                progress(settled, self._to_settle())
            caught_up = all(m.caught_up() for m in self.mappings) and all(s.caught_up() for s in self.sources)
            if caught_up and not self.scheduler.pending:
                return True
            idle = 0 if settled != before or ran else idle + 1
            if idle >= limit:
                return False

    def _idle_limit(self) -> int:
        """Rounds without progress after which a partition counts as stuck: enough for the longest
        chain of retries and bisections a mapping may go through before it settles a record."""
        rounds = [
            (m.config.retry_limit or 0) + math.ceil(math.log2(m.config.batch_size)) + 2 for m in self.mappings
        ]
        rounds += [source.idle_rounds() for source in self.sources]
        return max([10, *rounds]) + 3

    def serve_forever(self, stop: threading.Event, *, idle_wait_s: float = 0.05) -> None:
        """Poll the mappings in real time until `stop` is set; the buses deliver on the scheduler's thread."""
        while not stop.is_set():
            busy = False
            for mapping in self.mappings:
                try:
                    report = self._poll(mapping)
                except Exception:
                    log.exception("%s: poll failed; trying again", mapping.config.logical_id)
                    continue
                busy = busy or bool(report.invocations or report.records_settled)
            for source in self.sources:
                try:
                    report = self._poll_source(source)
                except Exception:
                    log.exception("%s: poll failed; trying again", source.logical_id)
                    continue
                busy = busy or bool(report.invocations or report.records_settled)
            if not busy:
                stop.wait(idle_wait_s)

    def _settled(self) -> int:
        kafka = sum(m.stats.records_settled for m in self.mappings)
        return kafka + sum(s.stats.records_settled for s in self.sources)

    def _to_settle(self) -> int:
        """For progress: what the Kafka partitions hold, and what the other sources settled so far
        (a queue or a stream says nothing of what will come)."""
        kafka = sum(sum(self._work(m).values()) for m in self.mappings)
        return kafka + sum(s.stats.records_settled for s in self.sources)

    def _work(self, mapping: KafkaEventSourceMapping) -> dict[tuple[str, int], int]:
        """Records each partition held for the mapping since it started: end offset - start offset."""
        starts = self._start_offsets.setdefault(mapping.config.logical_id, {})
        existing = set(self.log.topics())
        work = {}
        for topic in mapping.config.topics:
            if topic not in existing:
                continue
            for partition in range(self.log.partitions(topic)):
                if (topic, partition) not in starts:  # a partition that appeared after the mapping started
                    starts[(topic, partition)] = self._committed(mapping.config, topic, partition)
                    self.store.put(f"esm-start:{mapping.config.logical_id}", offsets_to_json(starts))
                work[(topic, partition)] = self.log.end_offset(topic, partition) - starts[(topic, partition)]
        return work

    # -- looking at it ------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A boto3 client on the stack's backend."""
        return self.backend.client(service)

    def physical_name(self, logical_id: str) -> str:
        return self.template.physical_names[logical_id]

    @property
    def log_dir(self) -> Path | None:
        return self._log_dir

    def endpoints(self) -> dict[str, Any]:
        """What another terminal needs to reach this stack (`localfaas up` writes it to a file)."""
        return {
            "events": self.events_api.endpoint_url,
            "lambda": self.lambda_api.endpoint_url,  # issue 12
            "backend": self.backend.endpoint_url,
            "backendKind": self.backend.kind,
            "region": self.region,
            "account": self.account_id,  # what clients outside the stack sign as (invoke, redrive)
            "logDir": str(self._log_dir.resolve())
            if self._log_dir and self._log_choice == "embedded"
            else None,
            "bootstrapServers": self._bootstrap_servers if self._log_choice == "kafka" else None,
            "template": str(self.template_path.resolve()),
            # What `produce` warns against: a topic no mapping reads is almost always misspelt.
            "topics": sorted({topic for m in self.mappings for topic in m.config.topics}),
        }

    def report(self, scenario: Scenario | None = None, *, stopped: bool = False) -> Report:
        """Everything the stack did so far, with the resources and what the failure destinations hold
        (parked.py) read back from the backend; with a scenario, its checks are evaluated too. `stopped`: the stack was interrupted (`up`), so records
        not yet settled are pending (uncommitted, delivered again on the next start), not lost."""
        with self._lock:
            functions = {name: stats.to_dict() for name, stats in sorted(self._stats.items())}
        produced = self._produced_counts()
        events = dict(sorted(self.store.event_counts().items()))
        events_failed = self.store.get("events-refused", 0)
        invocations = self.store.invocation_outcomes()
        async_outcomes = [AsyncOutcome(rid, fn, condition, n) for rid, fn, condition, n, _ in invocations]
        async_delivered = {rid for rid, *_, delivered in invocations if delivered}
        lost: list[str] = []
        mappings = {}
        read: dict[tuple[str, int], int] = {}  # each partition's records, once however many mappings read it
        for mapping in self.mappings:
            function = self._functions.get(mapping.config.function_name)
            name = function.logical_id if function else mapping.config.function_name
            work = self._work(mapping)
            for partition, count in work.items():
                read[partition] = max(read.get(partition, 0), count)
            mappings[mapping.config.logical_id] = mapping_summary(
                mapping,
                name,
                sum(work.values()),
                lost,
                stopped=stopped,
                unsettled=sum(mapping.lag().values()),
            )
        for source in self.sources:
            function = self._functions.get(source.function_name)
            name = function.logical_id if function else source.function_name
            mappings[source.logical_id] = source.summary(name, lost, stopped=stopped)
        outcomes = [Outcome(*row) for row in self.store.delivery_outcomes()]
        data: dict[str, Any] = {
            "run": {
                "command": "up" if self.real_time else "run",
                "scenario": scenario.name if scenario else None,
                "template": str(self.template_path),
                "runtime": _choice_name(self._runtime_choice),
                "log": _choice_name(self._log_choice),
                "backend": self.backend.kind,
                # LocalStack, AWS or a moto server someone else runs outlive this stack; its own moto does not.
                "backend_kept": not isinstance(self.backend, MotoBackend),
                "duration_s": round(time.monotonic() - self._started_at, 2),
            },
            # `read`: what the mappings received, produced by this stack or by anyone else (`up`).
            "records": {"produced": sum(produced.values()), "topics": produced, "read": sum(read.values())},
            "functions": functions,
            "esm": mappings,
            "bus": bus_summary(outcomes, events, events_failed, lost),
            "async": async_summary(async_outcomes, async_delivered, lost),
        }
        data.update(resource_summary(list(self._resources()), self.backend.client, self.outbound))
        data["parked"] = parked(
            self.template, self.backend.client, log=self.log, sent=self.store.parked_sent()
        )
        if self.faults is not None:
            data["faults"] = {
                "plan": self.faults.text(),
                "injected": dict(sorted(self.fault_dice.counts.items())),
            }
        total = sum(m["lost"] for m in mappings.values()) + data["async"]["lost"] + data["bus"]["dropped"]
        data["lost"] = {"total": total, "details": lost}
        started = dt.datetime.fromtimestamp(self.store.get("started-at", 0), dt.UTC)
        resources = self.template.resources
        read = {
            str((resources.get(s.logical_id) or {}).get("Properties", {}).get("EventSourceArn", ""))
            for s in self.sources
        }
        not_run = skipped_work(self.skipped, self.backend.client, since=started, read_elsewhere=read)
        data["skipped"] = {"total": len(not_run), "details": not_run}
        data["aws_calls"] = aws_calls_summary(
            self.meter.counts() if self.meter is not None else None,
            _records_given(functions, mappings),
            _business_records(scenario, data["records"]["produced"]),
        )
        report = Report(data)
        if scenario is not None:
            report.evaluate(scenario.checks)
        return report

    def _produced_counts(self) -> dict[str, int]:
        """Records produced per topic since this state folder was first used, read from the log's
        offsets (so a restart counts what the killed run produced too)."""
        existing = set(self.log.topics())
        return {
            t: records_since(self.log, t, self._baseline) for t in sorted(self._produced_topics & existing)
        }

    def _resources(self) -> Iterable[Any]:
        for kind in ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::S3::Bucket"):
            yield from self.template.resources_of_type(kind)


def _records_given(functions: Mapping[str, Any], mappings: Mapping[str, Any]) -> dict[str, int]:
    """{function: records it was given}: those its event sources delivered, plus one for each other
    invocation (an event from a rule, a request through the API or the Invoke API)."""
    given = {}
    for name, stats in functions.items():
        rows = [m for m in mappings.values() if m["function"] == name]
        from_sources = sum(m["invocations"] for m in rows)
        given[name] = sum(m["delivered"] for m in rows) + max(0, stats["invocations"] - from_sources)
    return given


def _business_records(scenario: Scenario | None, produced: int) -> int:
    """What the run was fed from outside: a scenario's records, events, SQS messages and SNS
    publishes; without a scenario, the records produced to the log."""
    if scenario is None:
        return produced
    return len(scenario.records) + len(scenario.events) + len(scenario.messages) + len(scenario.publish)


def _choice_name(choice: Any) -> str:
    return choice if isinstance(choice, str) else type(choice).__name__


def _invocation_result_entry(bus_arn: str, record: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """The PutEvents entry an invocation record becomes when its destination is an event bus: source
    "lambda", detail-type "Lambda Function Invocation Result - Success" (or "- Failure"), the record
    as detail, the function's ARN as the resource ("Capturing records of Lambda asynchronous
    invocations", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html)."""
    outcome = "Success" if context.get("condition", "Success") == "Success" else "Failure"
    function_arn = str(context.get("functionArn", "")).removesuffix(":$LATEST")
    return {
        "EventBusName": bus_arn,
        "Source": "lambda",
        "DetailType": _RESULT_DETAIL_TYPE.format(outcome),
        "Detail": record,
        "Resources": [function_arn] if function_arn else [],
    }


def _service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 5 and parts[0] == "arn" else ""
