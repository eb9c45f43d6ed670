"""EventBridge event bus: PutEvents, rules and their targets, retry policy and dead-letter queue,
archive and replay.

Emulated, following the EventBridge User Guide and API Reference:
- PutEvents entries are validated per entry as AWS answers them (missing Source/DetailType/Detail,
  malformed Detail, ``aws.`` sources: NotAuthorizedForSourceException, "Not authorized for the
  source.", unless put `as_service`, as the AWS service itself sends them; see
  localfaas.service_events), the request as a whole for its size (256 KB, computed as
  "Calculating PutEvents event entry size" describes) and count (1..10); each accepted entry becomes the
  envelope of "Amazon EventBridge events" (version, id, detail-type, source, account, time, region,
  resources, detail).
- Rules come from AWS::Events::Rule resources; every ENABLED rule whose EventPattern matches
  (localfaas.pattern) sends the event to each target, shaped by Input, InputPath or InputTransformer
  ("Transforming Amazon EventBridge target input").
- Delivery failures are retried with exponential backoff and jitter until the target's RetryPolicy runs
  out (default 185 attempts, 24 hours; "Event retry policy and using dead-letter queues"); then, or at
  once for a non-retryable failure, the event goes to the target's DLQ with the message attributes AWS
  documents (RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS),
  or is dropped when there is none. AWS does not publish its backoff constants; see `backoff_delay`.
- Archives keep every put event that matches their pattern; a replay re-sends the archived events of a
  time range, in event-time order, with ``replay-name`` added to the envelope, and replayed events are
  never archived again ("Archiving and replaying events").
- With a DurableStore, an accepted entry is kept before PutEvents answers and settled once every target
  it matched is done with it (delivered, dead-lettered or dropped); `resume()` routes again, with its
  own id, what a killed process left unsettled, to the targets that had not finished with it: delivered
  at least once, as EventBridge promises ("How EventBridge retries delivering events"). Replays are not
  kept: a replay interrupted by a crash is started again by whoever asked for it.

Lambda targets: EventBridge invokes a function asynchronously, so a *function error* is not a delivery
failure here; it is retried by Lambda's asynchronous invocation (two retries by default, then the
function's DLQ or on-failure destination), which localfaas.async_invoke.AsyncInvoker emulates. A
`deliver` for a Lambda target hands the event to the AsyncInvoker and raises DeliveryFailed only when the
invoke request itself fails (no such function, throttled).

Schedule-expression rules are run by localfaas.schedules, with these targets and retries.

Not emulated: bus-to-bus and cross-account targets, API destinations,
resource policies and IAM, the PutEvents rate quota, replay's one-minute pacing.

Pages (https://docs.aws.amazon.com/eventbridge/latest/): APIReference/API_PutEvents.html,
userguide/eb-putevent-size.html, userguide/eb-events.html, userguide/eb-transform-target-input.html,
userguide/eb-rule-dlq.html, userguide/eb-archive.html, userguide/eb-replay-archived-event.html.

Past 400 lines because one bus's life is one piece: PutEvents validation, rule matching, target
delivery with its retry policy and dead-letter queue, and archive and replay all share its rules and
its durable store; the archive and replay half is the part to move out when it grows.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import re
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from localfaas.owner_only import make_directory, open_file
from localfaas.pattern import MISSING, EventPattern, compile_pattern, loads_bounded
from localfaas.scheduler import Clock, Scheduler, VirtualScheduler
from localfaas.service_events import service_resources

if TYPE_CHECKING:
    from localfaas.durable import DurableStore

log = logging.getLogger(__name__)

DEFAULT_BUS = "default"
MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024
DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 185
DEFAULT_MAXIMUM_EVENT_AGE_SECONDS = 86_400
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0
ENABLED_STATES = ("ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")

SendToDlq = Callable[[str, str, dict[str, dict[str, str]]], None]


class DeliveryFailed(Exception):
    """Raised by `deliver` when a target did not take the event. `retryable` False (missing target,
    no permission) sends the event to the DLQ without retries, as EventBridge does."""

    def __init__(self, retryable: bool, reason: str, *, error_code: str = "SDK_CLIENT_ERROR") -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.reason = reason
        self.error_code = error_code


class EventBridgeError(Exception):
    """An EventBridge API error with AWS's code (ValidationException, ResourceNotFoundException, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ------------------------------------------------------------------------------ rules and targets


@dataclass(frozen=True)
class RetryPolicy:
    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age_seconds: int = DEFAULT_MAXIMUM_EVENT_AGE_SECONDS

    @classmethod
    def from_properties(cls, props: Mapping[str, Any] | None) -> RetryPolicy:
        props = props or {}
        return cls(
            int(props.get("MaximumRetryAttempts", DEFAULT_MAXIMUM_RETRY_ATTEMPTS)),
            int(props.get("MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE_SECONDS)),
        )


@dataclass(frozen=True)
class InputTransformer:
    input_paths_map: Mapping[str, str]
    input_template: str


@dataclass(frozen=True)
class Target:
    id: str
    arn: str
    input: str | None = None
    input_path: str | None = None
    input_transformer: InputTransformer | None = None
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    dead_letter_arn: str | None = None

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> Target:
        """A target from the Targets list of an AWS::Events::Rule."""
        transformer = props.get("InputTransformer")
        return cls(
            id=props["Id"],
            arn=props["Arn"],
            input=props.get("Input"),
            input_path=props.get("InputPath"),
            input_transformer=InputTransformer(
                dict(transformer.get("InputPathsMap") or {}), transformer["InputTemplate"]
            )
            if transformer
            else None,
            retry_policy=RetryPolicy.from_properties(props.get("RetryPolicy")),
            dead_letter_arn=(props.get("DeadLetterConfig") or {}).get("Arn"),
        )


@dataclass(frozen=True)
class Rule:
    name: str
    event_bus_name: str
    pattern: EventPattern | None
    state: str = "ENABLED"
    targets: tuple[Target, ...] = ()
    logical_id: str | None = None

    @classmethod
    def from_resource(cls, logical_id: str, resource: Mapping[str, Any]) -> Rule:
        """A rule from a resolved AWS::Events::Rule resource (``{"Properties": {...}}``). CloudFormation
        names an unnamed rule after its stack; localfaas uses the logical id."""
        props = resource.get("Properties") or {}
        pattern = props.get("EventPattern")
        return cls(
            name=props.get("Name") or logical_id,
            event_bus_name=bus_name(props.get("EventBusName") or DEFAULT_BUS),
            pattern=compile_pattern(pattern) if pattern is not None else None,
            state=props.get("State", "ENABLED"),
            targets=tuple(Target.from_properties(t) for t in props.get("Targets") or ()),
            logical_id=logical_id,
        )

    @property
    def enabled(self) -> bool:
        return self.state in ENABLED_STATES

    def matches(self, event: dict) -> bool:
        # A rule without a pattern is a schedule rule: events never match it.
        return self.enabled and self.pattern is not None and self.pattern.matches(event)

    def arn(self, account_id: str, region: str) -> str:
        path = self.name if self.event_bus_name == DEFAULT_BUS else f"{self.event_bus_name}/{self.name}"
        return f"arn:aws:events:{region}:{account_id}:rule/{path}"


def bus_name(name_or_arn: str) -> str:
    """``arn:aws:events:...:event-bus/orders`` -> ``orders``; a plain name stays as it is."""
    return name_or_arn.split(":event-bus/", 1)[1] if ":event-bus/" in name_or_arn else name_or_arn


def rules_from_resources(resources: Mapping[str, Mapping[str, Any]]) -> list[Rule]:
    """Every AWS::Events::Rule of a resolved template's Resources section."""
    return [
        Rule.from_resource(logical_id, resource)
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Events::Rule"
    ]


# ------------------------------------------------------------------------------------ target input


_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]")


def json_path(document: Any, path: str) -> Any:
    """The value at a simple JSONPath (``$``, ``$.detail.state``, ``$.resources[0]``, ``$['a.b']``), or
    MISSING. That subset is what InputPath and InputPathsMap are used with; filters and wildcards are not."""
    if not path.startswith("$"):
        raise ValueError(f"'{path}' is not a JSONPath (it must start with $)")
    value, position = document, 1
    while position < len(path):
        step = _PATH_STEP.match(path, position)
        if step is None:
            raise ValueError(f"unsupported JSONPath '{path}'")
        key, index, quoted = step.groups()
        if index is not None:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else MISSING
        else:
            value = value.get(key or quoted, MISSING) if isinstance(value, dict) else MISSING
        if value is MISSING:
            return MISSING
        position = step.end()
    return value


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def render_input_template(template: str, variables: Mapping[str, Any]) -> Any:
    """Fill `<name>` placeholders the way EventBridge's input transformer does: outside a JSON string a
    value is written as JSON (a string gets quotes); inside one it is written raw and unescaped. A
    variable whose path is not in the event is not created, so its placeholder leaves nothing. The result
    is parsed as JSON when it is JSON (a quoted template gives a string), and passed as text otherwise."""
    out: list[str] = []
    in_string = escaped = False
    position = 0
    while position < len(template):
        placeholder = _PLACEHOLDER.match(template, position) if not escaped else None
        if placeholder and placeholder.group(1) in variables:
            out.append(_template_value(variables[placeholder.group(1)], in_string))
            position = placeholder.end()
            continue
        char = template[position]
        if char == '"' and not escaped:
            in_string = not in_string
        escaped = char == "\\" and not escaped
        out.append(char)
        position += 1
    return _json_or_text("".join(out))


def _template_value(value: Any, in_string: bool) -> str:
    if value is MISSING:
        return ""
    if in_string:
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return json.dumps(value, separators=(",", ":"))


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def target_input(target: Target, event: dict, rule_arn: str, rule_name: str, ingestion_time: str) -> Any:
    """What `target` receives for `event`: Input (constant JSON), InputPath (part of the event),
    InputTransformer (a filled template) or, by default, the whole event."""
    if target.input is not None:
        return _json_or_text(target.input)
    if target.input_path is not None:
        value = json_path(event, target.input_path)
        return None if value is MISSING else value
    if target.input_transformer is None:
        return event
    variables: dict[str, Any] = {
        name: json_path(event, path) for name, path in target.input_transformer.input_paths_map.items()
    }
    # Predefined variables are reserved: they win over InputPathsMap entries of the same name.
    variables.update(
        {
            "aws.events.rule-arn": rule_arn,
            "aws.events.rule-name": rule_name,
            "aws.events.event": event,
            "aws.events.event.ingestion-time": ingestion_time,
            "aws.events.event.json": json.dumps(event, separators=(",", ":")),
        }
    )
    return render_input_template(target.input_transformer.input_template, variables)


# -------------------------------------------------------------------------------------------- archive


class ArchiveStore(Protocol):
    def append(self, archive: str, event: dict) -> None: ...

    def events(self, archive: str) -> list[dict]:
        """The archived events, in the order they were archived."""


class MemoryArchiveStore:
    def __init__(self) -> None:
        self._events: dict[str, list[dict]] = {}

    def append(self, archive: str, event: dict) -> None:
        self._events.setdefault(archive, []).append(event)

    def events(self, archive: str) -> list[dict]:
        return list(self._events.get(archive, ()))


class JsonLinesArchiveStore:
    """One ``<archive>.jsonl`` file per archive in `directory`, one envelope per line, so archives outlive
    the process (``localfaas up`` restarts, replays days later); owner-only, as the events are."""

    def __init__(self, directory: str | Path) -> None:
        self._directory = make_directory(directory)
        self._lock = threading.Lock()

    def _file(self, archive: str) -> Path:
        return self._directory / f"{archive}.jsonl"

    def append(self, archive: str, event: dict) -> None:
        line = json.dumps(event, separators=(",", ":")) + "\n"
        with (
            self._lock,
            os.fdopen(
                open_file(self._file(archive), os.O_WRONLY | os.O_APPEND), "a", encoding="utf-8"
            ) as stream,
        ):
            stream.write(line)

    def events(self, archive: str) -> list[dict]:
        path = self._file(archive)
        if not path.exists():
            return []
        with path.open(encoding="utf-8") as stream:
            return [json.loads(line) for line in stream if line.strip()]


@dataclass(frozen=True)
class Archive:
    name: str
    event_bus_name: str = DEFAULT_BUS
    pattern: EventPattern | None = None
    retention_days: int = 0  # 0 keeps events indefinitely

    @classmethod
    def from_resource(cls, logical_id: str, resource: Mapping[str, Any]) -> Archive:
        """An archive from a resolved AWS::Events::Archive resource (ArchiveName, SourceArn, EventPattern,
        RetentionDays)."""
        props = resource.get("Properties") or {}
        pattern = props.get("EventPattern")
        return cls(
            name=props.get("ArchiveName") or logical_id,
            event_bus_name=bus_name(props.get("SourceArn") or DEFAULT_BUS),
            pattern=compile_pattern(pattern) if pattern is not None else None,
            retention_days=int(props.get("RetentionDays", 0)),
        )

    def keeps(self, event: dict) -> bool:
        return self.pattern is None or self.pattern.matches(event)


def archives_from_resources(resources: Mapping[str, Mapping[str, Any]]) -> list[Archive]:
    """Every AWS::Events::Archive of a resolved template's Resources section."""
    return [
        Archive.from_resource(logical_id, resource)
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Events::Archive"
    ]


# ------------------------------------------------------------------------------------------ the bus


@dataclass
class _Delivery:
    event: dict
    rule: Rule
    target: Target
    payload: Any
    received_at: float
    retries: int = 0
    replay: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one event at one target: delivered, dead-lettered or dropped."""

    event_id: str
    rule: str
    target: str
    result: str
    attempts: int
    error: str | None = None


def backoff_delay(retry: int, rng: random.Random) -> float:
    """The wait before retry number `retry` (0-based): exponential from 1 s, capped at 5 minutes, with
    "equal jitter" (half fixed, half random). AWS documents backoff with jitter but not its constants."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retry)
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class EventBus:
    """One event bus with its rules and archives. Work happens on `scheduler` (by default a
    VirtualScheduler started at `clock`'s time; pass the same VirtualScheduler as clock and scheduler
    to drive time from a test). Randomness (event ids, jitter) comes from `seed`. `store`, when given,
    keeps accepted entries until every target is done with them (see `resume`)."""

    def __init__(
        self,
        name: str,
        rules: Iterable[Rule],
        deliver: Callable[[Target, Any], None],
        *,
        clock: Clock,
        archive_store: ArchiveStore | None = None,
        account_id: str,
        region: str,
        scheduler: Scheduler | None = None,
        send_to_dlq: SendToDlq | None = None,
        archives: Iterable[Archive] = (),
        seed: int | str | None = 0,
        store: DurableStore | None = None,
    ) -> None:
        self.name = bus_name(name)
        self.rules = [rule for rule in rules if rule.event_bus_name == self.name]
        self.account_id = account_id
        self.region = region
        self._deliver = deliver
        self._clock = clock
        self._scheduler = scheduler or (
            clock if hasattr(clock, "schedule") else VirtualScheduler(clock.now())
        )
        self._send_to_dlq = send_to_dlq
        self._archive_store = archive_store if archive_store is not None else MemoryArchiveStore()
        self._archives: dict[str, Archive] = {}
        self._replays: dict[str, dict[str, Any]] = {}
        self._rng = random.Random(seed)  # noqa: S311 -- reproducible ids and jitter, not secrets
        self.outcomes: list[Outcome] = []
        self._store = store
        self._pending: dict[str, int] = {}  # event id -> target deliveries not yet ended
        self._pending_lock = threading.Lock()  # deliveries end on the scheduler, entries arrive elsewhere
        for archive in archives:
            if archive.event_bus_name == self.name:
                self._archives[archive.name] = archive

    @property
    def arn(self) -> str:
        return f"arn:aws:events:{self.region}:{self.account_id}:event-bus/{self.name}"

    @property
    def scheduler(self) -> Scheduler:
        return self._scheduler

    # ------------------------------------------------------------------------------------ PutEvents

    def put_events(self, entries: list[Mapping[str, Any]], *, as_service: bool = False) -> dict[str, Any]:
        """PutEvents: accepted entries are archived and routed (delivery runs on the scheduler).
        Raises EventBridgeError(ValidationException) for a request AWS rejects as a whole.
        `as_service`: the entries come from an AWS service, so an ``aws.`` source is theirs to send."""
        validate_put_events_request(entries)
        results = []
        accepted: list[dict[str, Any]] = []
        for entry in entries:
            error = self._entry_error(entry, as_service)
            if error:
                results.append({"ErrorCode": error[0], "ErrorMessage": error[1]})
                continue
            event = self._envelope(entry)
            if as_service:
                event["resources"] = service_resources(event, self.account_id, self.region)
            results.append({"EventId": event["id"]})
            accepted.append(event)
        for event in accepted:  # archived first, so the store's one commit can say so
            self._archive(event)
        if self._store is not None and accepted:
            # Before answering: the answer is a promise. A kill before this commit leaves an archived
            # event that PutEvents never acknowledged; its producer puts it again, as after a timeout.
            self._store.accept_events(self.name, accepted, archived=bool(self._archives))
        for event in accepted:
            self._route(event, self.rules)
        failed = sum("ErrorCode" in result for result in results)
        return {"FailedEntryCount": failed, "Entries": results}

    def _entry_error(self, entry: Mapping[str, Any], as_service: bool = False) -> tuple[str, str] | None:
        target_bus = entry.get("EventBusName")
        if target_bus and bus_name(target_bus) != self.name:
            return "ResourceNotFoundException", f"Event bus {bus_name(target_bus)} does not exist."
        for name in ("Source", "DetailType", "Detail"):
            if not entry.get(name):
                return (
                    "InvalidArgument",
                    f"Parameter {name} is not valid. Reason: {name} is a required argument.",
                )
        try:
            detail = loads_bounded(entry["Detail"])
        except (TypeError, ValueError):  # too deep to parse is malformed too, never a RecursionError
            detail = None
        if not isinstance(detail, dict):
            return "MalformedDetail", "Detail is malformed."
        if str(entry["Source"]).startswith("aws.") and not as_service:
            return "NotAuthorizedForSourceException", "Not authorized for the source."
        return None

    def _envelope(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": self.account_id,
            "time": _iso_time(entry.get("Time"), self._clock.now()),
            "region": self.region,
            "resources": list(entry.get("Resources") or []),
            "detail": loads_bounded(entry["Detail"]),
        }

    # -------------------------------------------------------------------------------------- routing

    def _route(self, event: dict, rules: Iterable[Rule], done: Collection[tuple[str, str]] = ()) -> None:
        """Schedule a delivery to every target of every matching rule, but those in `done` (rule
        name, target id), which a resumed entry had finished with before the crash."""
        received_at = self._clock.now()
        ingestion_time = _iso_time(None, received_at)
        replay = event.get("replay-name")
        deliveries = []
        for rule in rules:
            if not rule.matches(event):
                continue
            rule_arn = rule.arn(self.account_id, self.region)
            for target in rule.targets:
                if (rule.name, target.id) in done:
                    continue
                payload = target_input(target, event, rule_arn, rule.name, ingestion_time)
                deliveries.append(_Delivery(event, rule, target, payload, received_at, replay=replay))
        if replay is None and self._store is not None:
            if not deliveries:
                self._store.settle_event(event["id"])
                return
            with self._pending_lock:
                self._pending[event["id"]] = self._pending.get(event["id"], 0) + len(deliveries)
        for delivery in deliveries:
            self._scheduler.schedule(received_at, lambda d=delivery: self._attempt(d))

    def resume(self) -> int:
        """Route again the entries a previous process accepted and never settled (archiving those it
        had not archived yet), keeping their ids. Returns how many."""
        if self._store is None:
            return 0
        unsettled = self._store.unsettled_events(self.name)
        for event, archived in unsettled:
            if not archived:  # kept by a bus that had no archive then
                self._archive(event)
            self._route(event, self.rules, self._store.delivered_targets(event["id"]))
        return len(unsettled)

    def _attempt(self, delivery: _Delivery) -> None:
        try:
            self._deliver(delivery.target, delivery.payload)
        except DeliveryFailed as failure:
            self._after_failure(delivery, failure)
        else:
            self._record(delivery, "delivered")

    def _after_failure(self, delivery: _Delivery, failure: DeliveryFailed) -> None:
        policy = delivery.target.retry_policy
        if not failure.retryable:
            return self._dead_letter(delivery, failure, exhausted=None)
        if delivery.retries >= policy.maximum_retry_attempts:
            return self._dead_letter(delivery, failure, exhausted="MaximumRetryAttempts")
        retry_at = self._clock.now() + backoff_delay(delivery.retries, self._rng)
        if retry_at - delivery.received_at > policy.maximum_event_age_seconds:
            return self._dead_letter(delivery, failure, exhausted="MaximumEventAgeInSeconds")
        delivery.retries += 1
        self._scheduler.schedule(retry_at, lambda: self._attempt(delivery))
        return None

    def _dead_letter(self, delivery: _Delivery, failure: DeliveryFailed, exhausted: str | None) -> None:
        arn = delivery.target.dead_letter_arn
        if arn is None or self._send_to_dlq is None:
            log.warning(
                "dropping event %s for target %s: %s", delivery.event["id"], delivery.target.id, failure
            )
            return self._record(delivery, "dropped", failure.reason)
        message_attributes = dead_letter_attributes(
            delivery.rule.arn(self.account_id, self.region),
            delivery.target.arn,
            failure,
            delivery.retries,
            exhausted,
        )
        try:
            self._send_to_dlq(arn, json.dumps(delivery.event), message_attributes)
        except Exception as error:  # AWS counts these as InvocationsFailedToBeSentToDlq and drops them
            log.warning("could not send event %s to DLQ %s: %s", delivery.event["id"], arn, error)
            return self._record(delivery, "dropped", f"{failure.reason}; DLQ: {error}")
        return self._record(delivery, "dead-lettered", failure.reason)

    def _record(self, delivery: _Delivery, result: str, error: str | None = None) -> None:
        outcome = Outcome(
            delivery.event["id"], delivery.rule.name, delivery.target.id, result, delivery.retries + 1, error
        )
        self.outcomes.append(outcome)
        if self._store is None:
            return
        left = 1
        if delivery.replay is None:
            with self._pending_lock:
                left = self._pending[outcome.event_id] = self._pending.get(outcome.event_id, 1) - 1
                if left <= 0:
                    del self._pending[outcome.event_id]
        self._store.record_delivery(
            outcome.event_id,
            delivery.replay,
            outcome.rule,
            outcome.target,
            result,
            outcome.attempts,
            error,
            settles=left <= 0,
        )

    # ------------------------------------------------------------------------------ archive, replay

    def create_archive(
        self, name: str, event_pattern: dict | str | None = None, retention_days: int = 0
    ) -> Archive:
        if name in self._archives:
            raise EventBridgeError("ResourceAlreadyExistsException", f"Archive {name} already exists.")
        pattern = compile_pattern(event_pattern) if event_pattern is not None else None
        archive = Archive(name, self.name, pattern, retention_days)
        self._archives[name] = archive
        return archive

    def _archive(self, event: dict) -> None:
        for archive in self._archives.values():
            if archive.keeps(event):
                self._archive_store.append(archive.name, event)

    def archived_events(self, archive_name: str) -> list[dict]:
        """The events an archive still retains (RetentionDays counts from each event's time)."""
        archive = self._archives.get(archive_name)
        if archive is None:
            raise EventBridgeError("ResourceNotFoundException", f"Archive {archive_name} does not exist.")
        events = self._archive_store.events(archive_name)
        if archive.retention_days <= 0:
            return events
        oldest = self._clock.now() - archive.retention_days * 86_400
        return [event for event in events if _event_time(event) >= oldest]

    def start_replay(
        self,
        name: str,
        archive: str,
        start_time: float | dt.datetime,
        end_time: float | dt.datetime,
        rule_arns: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """StartReplay: re-send the archive's events whose time is in [start_time, end_time), oldest first,
        with ``replay-name`` in the envelope, to all the bus's rules or only `rule_arns` (FilterArns)."""
        if name in self._replays:
            raise EventBridgeError("ResourceAlreadyExistsException", f"Replay {name} already exists.")
        start, end = _epoch(start_time), _epoch(end_time)
        if start >= end:
            raise EventBridgeError("ValidationException", "Parameter EventEndTime is not valid.")
        wanted = set(rule_arns) if rule_arns is not None else None
        rules = [r for r in self.rules if wanted is None or r.arn(self.account_id, self.region) in wanted]
        events = [e for e in self.archived_events(archive) if start <= _event_time(e) < end]
        for event in sorted(events, key=_event_time):  # sorted() is stable: same-second events keep order
            self._route({**event, "replay-name": name}, rules)
        replay = {
            "ReplayName": name,
            "ReplayArn": f"arn:aws:events:{self.region}:{self.account_id}:replay/{name}",
            "EventSourceArn": f"arn:aws:events:{self.region}:{self.account_id}:archive/{archive}",
            "State": "COMPLETED",
            "ReplayedEventCount": len(events),
        }
        self._replays[name] = replay
        return replay

    def describe_replay(self, name: str) -> dict[str, Any]:
        if name not in self._replays:
            raise EventBridgeError("ResourceNotFoundException", f"Replay {name} does not exist.")
        return dict(self._replays[name])


def dead_letter_attributes(
    rule_arn: str, target_arn: str, failure: DeliveryFailed, retries: int, exhausted: str | None
) -> dict[str, dict[str, str]]:
    """The message attributes of an event in a rule target's DLQ ("Using dead-letter queues to process
    undelivered events in EventBridge"): why it was given up, after how many retries."""
    attributes = {
        "RULE_ARN": rule_arn,
        "TARGET_ARN": target_arn,
        "ERROR_CODE": failure.error_code,
        "ERROR_MESSAGE": failure.reason,
        "RETRY_ATTEMPTS": str(retries),
    }
    if exhausted:
        attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
    return {k: {"DataType": "String", "StringValue": v} for k, v in sorted(attributes.items())}


def validate_put_events_request(entries: list[Mapping[str, Any]]) -> None:
    """Reject a PutEvents request as a whole, as the API does before looking at any entry: fewer than 1
    or more than 10 entries, or entries over 256 KB in total (sized as `entry_size` says). Raises
    EventBridgeError(ValidationException) with AWS's wording; entries that are wrong one by one are
    answered per entry by `EventBus.put_events` instead."""
    if not 1 <= len(entries) <= MAX_ENTRIES:
        bound = "greater than or equal to 1" if not entries else f"less than or equal to {MAX_ENTRIES}"
        raise EventBridgeError(
            "ValidationException",
            "1 validation error detected: Value '[PutEventsRequestEntry]' at 'entries' failed to satisfy "
            f"constraint: Member must have length {bound}",
        )
    if sum(entry_size(entry) for entry in entries) > MAX_REQUEST_BYTES:
        raise EventBridgeError(
            "ValidationException", "Total size of the entries in the request is over the limit."
        )


def entry_size(entry: Mapping[str, Any]) -> int:
    """A PutEvents entry's size as "Calculating PutEvents event entry size" defines it: Time counts 14
    bytes; Source, DetailType, Detail and each Resource their UTF-8 length."""
    size = 14 if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name) or "").encode("utf-8"))
    return size + sum(len(str(r).encode("utf-8")) for r in entry.get("Resources") or () if r is not None)


def _iso_time(value: Any, default: float) -> str:
    """An envelope time, ``2017-12-22T18:43:48Z``, from PutEvents' Time (datetime, epoch or ISO text)."""
    if value is None:
        moment = dt.datetime.fromtimestamp(default, tz=dt.UTC)
    elif isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    elif isinstance(value, int | float):
        moment = dt.datetime.fromtimestamp(value, tz=dt.UTC)
    else:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(value: float | dt.datetime) -> float:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    return float(value)


def _event_time(event: dict) -> float:
    return dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


__all__ = [
    "Archive",
    "DeliveryFailed",
    "EventBridgeError",
    "EventBus",
    "InputTransformer",
    "JsonLinesArchiveStore",
    "MemoryArchiveStore",
    "Outcome",
    "RetryPolicy",
    "Rule",
    "Target",
    "archives_from_resources",
    "backoff_delay",
    "dead_letter_attributes",
    "render_input_template",
    "rules_from_resources",
    "target_input",
    "validate_put_events_request",
]
