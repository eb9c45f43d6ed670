"""The storefront's handlers as the benchmarks run them: with moto answering AWS, or on fake clients.

Handlers are found in template.yaml (through localfaas's loader, as the unit tests find them),
loaded fresh with the environment the template gives them, as a cold start does
(tests.support.stack.load_handler). Their log lines go to /dev/null: they are written (that cost
is the handler's) but do not flood the benchmark's output.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from localfaas.esm import EventSourceMappingConfig, is_kafka_event_source_mapping
from localfaas.runtime import lambda_environment, new_log_stream_name
from localfaas.template import FunctionSpec, Stack
from tests.bench.fakes import FakeClient, FakeResource, stubbed_boto3
from tests.support.stack import REGION, load_handler, provision_stack, storefront_stack

# Credentials that could never reach a real account (and keep boto3 from asking instance metadata).
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}
# Opened once: a Powertools Logger keeps the stream it found at import for the rest of the process.
_DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


@functools.cache
def stack() -> Stack:
    return storefront_stack()


@dataclass(frozen=True)
class KafkaFunction:
    logical_id: str
    topics: tuple[str, ...]
    filters: tuple[dict, ...]


def kafka_functions(stack: Stack) -> list[KafkaFunction]:
    """Every function with Kafka event source mappings, its topics and filters, in template order."""
    found: dict[str, KafkaFunction] = {}
    for mapping in stack.event_source_mappings:
        if not is_kafka_event_source_mapping(mapping.properties):
            continue
        spec = stack.function(mapping.properties["FunctionName"])
        config = EventSourceMappingConfig.from_resource(
            mapping.logical_id, mapping.properties, function_name=spec.function_name
        )
        known = found.get(spec.logical_id)
        topics = (known.topics if known else ()) + config.topics
        filters = (known.filters if known else ()) + config.filters
        found[spec.logical_id] = KafkaFunction(spec.logical_id, topics, filters)
    return list(found.values())


def is_placeholder(function: FunctionSpec) -> bool:
    """True while the function's app.py is still the stub that raises NotImplementedError."""
    source = (function.code_dir / "app.py").read_text()
    return "NotImplementedError" in source and "import" not in source


def function_environment(
    stack: Stack, logical_id: str, workdir: Path, *, database_url: str | None = None
) -> dict[str, str]:
    """What the template gives the function, plus fake credentials and a local read-model database
    (`database_url`, by default a SQLite file of its own in `workdir`)."""
    env = {**stack.function(logical_id).environment, "POWERTOOLS_SERVICE_NAME": logical_id, **FAKE_AWS}
    if "DATABASE_URL" in env and not env["DATABASE_URL"]:
        workdir.mkdir(parents=True, exist_ok=True)
        env["DATABASE_URL"] = database_url or f"sqlite:///{workdir / f'{logical_id}.sqlite3'}"
    return env


def process_environment(function: FunctionSpec, workdir: Path) -> dict[str, str]:
    """The whole environment of a fresh process running `function` as localfaas would start it
    (localfaas.runtime.lambda_environment: the template's variables, Lambda's reserved ones), with
    fake credentials."""
    extra = {**FAKE_AWS, **function_environment(stack(), function.logical_id, workdir)}
    return lambda_environment(function, extra, log_stream_name=new_log_stream_name())


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def on_moto(logical_id: str, workdir: Path) -> Iterator[ModuleType]:
    """The handler module with moto answering every AWS call, the template's resources provisioned."""
    from moto import mock_aws

    the_stack = stack()
    with (
        environment(function_environment(the_stack, logical_id, workdir / "moto")),
        mock_aws(),
        contextlib.redirect_stdout(_DEVNULL),
    ):
        provision_stack(the_stack)
        yield load_handler(the_stack, logical_id)


@contextlib.contextmanager
def on_fakes(logical_id: str, workdir: Path) -> Iterator[tuple[ModuleType, list[FakeClient | FakeResource]]]:
    """The handler module with every boto3 client it makes replaced by a fake (tests.bench.fakes), and
    its read model, if it has one, in memory: the handler's own work, no disk or network wait."""
    the_stack = stack()
    env = function_environment(the_stack, logical_id, workdir, database_url="sqlite://")
    with environment(env), contextlib.redirect_stdout(_DEVNULL):
        with stubbed_boto3() as made:
            module = load_handler(the_stack, logical_id)
        yield module, made
