"""`localfaas redrive`: send again what the stack's failure destinations hold, once the cause is fixed.

Works on the `localfaas up` running this template in this folder (its endpoints file: backend, events
endpoint, log), or on the backend `--endpoint-url` names with the log of --log-dir or
--bootstrap-servers. Re-delivers, for each failure destination of the template (or the one --source
names, or those a mapping, function or rule of that name sends to):

- a Kafka mapping's invocation records: the records they name, read back from the log, invoked as
  the mapping invokes them;
- an asynchronous invocation's on-failure record or DLQ message: the function invoked with the event;
- an EventBridge target's DLQ message: the event delivered to that rule's target again.

A message is deleted only once its redelivery succeeded. Each line names a message by coordinates
and ids, never by content. --dry-run lists what would be sent and changes nothing (a queue's messages
are received and made visible again). Exit status: 0 when everything was sent again (or nothing was
parked), 1 when some redelivery failed (those messages stay), 2 for a usage error.
See localfaas.redrive for what AWS documents about each kind of message.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from localfaas.commands._options import (
    ENDPOINTS_FILE,
    LOG_DIR,
    UsageError,
    add_env_vars_flag,
    add_template_flags,
    function_variables,
    template_parameters,
    usage_error,
)

EXIT_SOME_FAILED = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "redrive",
        help="send again what the failure destinations hold (after `localfaas up`)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_template_flags(parser)
    add_env_vars_flag(parser)
    parser.add_argument("--dry-run", action="store_true", help="list what would be sent; change nothing")
    parser.add_argument(
        "--source",
        metavar="ARN-OR-LOGICAL-ID",
        help="one failure destination, or what one mapping, function or rule parked",
    )
    parser.add_argument(
        "--endpoints-file",
        default=str(ENDPOINTS_FILE),
        help="where the running `localfaas up` wrote its endpoints (default: %(default)s)",
    )
    parser.add_argument("--endpoint-url", help="the backend (moto, LocalStack), instead of the running up's")
    parser.add_argument("--events-endpoint-url", help="where the functions' PutEvents go (default: the up's)")
    parser.add_argument("--log-dir", help=f"embedded log directory (default: the up's, else {LOG_DIR})")
    parser.add_argument("--bootstrap-servers", metavar="HOST:PORT", help="Kafka brokers, for a Kafka log")
    parser.add_argument("--runtime", choices=("in-process", "worker"), default="worker")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from localfaas.redrive import RedriveError, Redriver
    from localfaas.template import TemplateError, load_stack

    try:
        where = _where(args)
        stack = load_stack(
            args.template,
            template_parameters(args, args.template),
            region=where["region"],
            endpoint_url=where["backend"],
        )
        env_vars = function_variables(args, args.template)
        log = _open_log(where)

        def invoke(name: str, event: Any) -> Any:
            return runtime.invoke(stack.function(name).with_env_vars(env_vars), event)

        clients = _clients(where)
        _reach(clients, where)
        redriver = Redriver(stack, clients, log, invoke)
        redriver.select(args.source)  # a --source that names nothing is a usage error, before any work
    except (UsageError, TemplateError, RedriveError) as e:
        return usage_error("redrive", e)
    runtime = _runtime(args.runtime, where)
    try:
        for destination in redriver.select(args.source):
            if destination.kind == "sns":
                print(
                    f"localfaas redrive: note: {destination.name} is an SNS topic; SNS keeps nothing to read "
                    "back, so redrive from a queue subscribed to it",
                    file=sys.stderr,
                )
        results = redriver.redrive(source=args.source, dry_run=args.dry_run)
    finally:
        runtime.close()
        if log is not None:
            log.close()
    verb = "would redrive" if args.dry_run else "redriven"
    for result in results:
        if result.ok:
            print(f"{verb}  {result.destination}  {result.what}")
        else:
            print(f"FAILED  {result.destination}  {result.what}: {result.error}")
    failed = sum(not r.ok for r in results)
    print(f"localfaas redrive: {len(results) - failed} {verb}, {failed} failed", file=sys.stderr)
    return EXIT_SOME_FAILED if failed else 0


def _where(args: argparse.Namespace) -> dict[str, Any]:
    """The backend, events endpoint, log and region to redrive on: flags first, then the running up's."""
    up = {} if args.endpoint_url else _running_up(Path(args.endpoints_file), Path(args.template))
    if not args.endpoint_url and not up:
        raise UsageError(
            f"no running `localfaas up` for {args.template} (no live endpoints in {args.endpoints_file}); "
            "start one, or name the backend with --endpoint-url"
        )
    log_dir = args.log_dir or (None if args.bootstrap_servers else up.get("logDir"))
    return {
        "backend": args.endpoint_url or up.get("backend"),
        "events": args.events_endpoint_url or up.get("events"),
        "region": up.get("region") or args.region,
        "account": up.get("account"),
        "bootstrap_servers": args.bootstrap_servers or (None if args.log_dir else up.get("bootstrapServers")),
        "log_dir": log_dir
        or (None if args.bootstrap_servers or up.get("bootstrapServers") else str(LOG_DIR)),
    }


def _running_up(endpoints_file: Path, template: Path) -> dict[str, Any]:
    """What the `up` that wrote `endpoints_file` serves, if it runs `template` and its events endpoint
    answers (a file left by an `up` that did not stop cleanly does not count); else {}."""
    try:
        endpoints = json.loads(endpoints_file.read_text())
        running = Path(endpoints["template"])
        parts = urlsplit(endpoints["events"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if running.resolve() != template.resolve():
        raise UsageError(f"the running `up` serves {running}, not {template}")
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=0.5):
            return endpoints
    except (OSError, ValueError):
        return {}


def _reach(clients: Any, where: dict[str, Any]) -> None:
    """A backend that does not answer is the caller's to fix, said once rather than per destination."""
    from botocore.exceptions import EndpointConnectionError

    if where["backend"]:
        try:
            clients("sqs").list_queues(MaxResults=1)
        except EndpointConnectionError:
            raise UsageError(f"the backend at {where['backend']} does not answer") from None


def _open_log(where: dict[str, Any]) -> Any:
    if where["bootstrap_servers"]:
        from localfaas.kafka_log import KafkaLog

        return KafkaLog(where["bootstrap_servers"])
    if where["log_dir"] and Path(where["log_dir"]).is_dir():
        from localfaas.embedded_log import EmbeddedLog

        return EmbeddedLog(Path(where["log_dir"]))
    return None  # no log: Kafka records cannot be read back, and say so one by one


def _clients(where: dict[str, Any]) -> Any:
    import boto3

    from localfaas.backend import local_credentials

    options: dict[str, Any] = {"region_name": where["region"]}
    if where["backend"]:
        signing = local_credentials(where.get("account"))  # the stack's account, as it signs
        options.update(endpoint_url=where["backend"], **{k.lower(): v for k, v in signing.items()})
    cache: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in cache:
            cache[service] = boto3.client(service, **options)
        return cache[service]

    return client


def _runtime(choice: str, where: dict[str, Any]) -> Any:
    from localfaas.backend import local_credentials
    from localfaas.runtime import InProcessRuntime, WorkerProcessRuntime

    env: dict[str, str] = {"AWS_DEFAULT_REGION": where["region"], "AWS_REGION": where["region"]}
    if where["backend"]:
        env.update(AWS_ENDPOINT_URL=where["backend"], **local_credentials(where.get("account")))
    if where["events"]:
        env["AWS_ENDPOINT_URL_EVENTBRIDGE"] = where["events"]
    return (InProcessRuntime if choice == "in-process" else WorkerProcessRuntime)(env)
