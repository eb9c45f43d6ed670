"""`localfaas up`: the whole template as a long-running local stack, until Ctrl-C.

Starts the backend (moto on 127.0.0.1 by default) and provisions the template, then runs in real
time: one poller per Kafka event source mapping over the log (honouring each mapping's batching
window), the EventBridge buses delivering to their rules' targets, Lambda's asynchronous retries on
the clock. Functions' logs go to stderr. The endpoints are written to --endpoints-file, so from
another terminal:

    localfaas produce TOPIC --key KEY --value JSON   (a topic one of the template's mappings reads; same --log-dir)
    localfaas put-events --entries file://entries.json
    aws --endpoint-url <backend> dynamodb scan --table-name ...

--faults takes a fault plan as `run` does (localfaas.faults); kill-after=N kills this process after
invocation N, and `up` again on the same --log-dir resumes from the committed offsets.

SIGINT (Ctrl-C) or SIGTERM stops it cleanly: pollers stop between batches, the endpoint file is
removed, a report of what ran is printed on stderr, and worker processes and the backend stop.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from localfaas.commands._options import (
    ENDPOINTS_FILE,
    LOG_DIR,
    UsageError,
    add_stack_flags,
    add_template_flags,
    make_state_dir,
    stack_options,
    usage_error,
)
from localfaas.owner_only import make_directory, write_atomically


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "up",
        help="run the template as a local stack until Ctrl-C",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_template_flags(parser)
    add_stack_flags(parser, runtime_default="worker", log_dir_default=str(LOG_DIR))
    parser.add_argument(
        "--endpoints-file",
        default=str(ENDPOINTS_FILE),
        help="where the endpoints are written for other terminals (default: %(default)s)",
    )
    parser.add_argument(
        "--events-port", type=int, default=0, help="port of the events endpoint (default: any free one)"
    )
    parser.add_argument(  # issue 12
        "--api-port", type=int, default=0, help="port of the template's APIs (default: any free one)"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from localfaas.api_gateway import api_gateway_for
    from localfaas.function_urls import function_urls_for
    from localfaas.local_stack import LocalStack

    try:
        options = stack_options(args)
    except UsageError as e:
        return usage_error("up", e)
    endpoints_file = Path(args.endpoints_file)
    state_dir = make_state_dir(endpoints_file.parent)
    stack = LocalStack(
        args.template,
        real_time=True,
        events_port=args.events_port,
        archive_dir=state_dir / "archives",
        state_dir=state_dir,
        function_logs=sys.stderr,
        **options,
    )
    stop = threading.Event()
    gateway = urls = None
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            stack.start()
            # issue 12: the template's Api and HttpApi events, as `localfaas start-api` serves them.
            gateway = api_gateway_for(stack, port=args.api_port)
            gateway = gateway.start() if gateway else None
            urls = function_urls_for(stack)
            urls = urls.start() if urls else None
        except Exception as e:
            return usage_error("up", e)
        for warning in stack.warnings:
            print(f"localfaas up: warning: {warning}", file=sys.stderr)
        endpoints = {  # issue 12
            **stack.endpoints(),
            "api": gateway.endpoint_url if gateway else None,
            "functionUrls": urls.urls if urls else {},
        }
        _write_endpoints(endpoints_file, endpoints)
        _announce(stack, endpoints, endpoints_file)
        stack.serve_forever(stop)
        print("localfaas up: stopping", file=sys.stderr)
        sys.stderr.write(stack.report(stopped=True).render())
    finally:
        endpoints_file.unlink(missing_ok=True)
        for server in (gateway, urls):  # issue 12
            if server is not None:
                server.stop()
        stack.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _write_endpoints(path: Path, endpoints: dict[str, Any]) -> None:
    make_directory(path.parent)
    write_atomically(path, (json.dumps(endpoints, indent=2) + "\n").encode())  # never read half-written


def _announce(stack: Any, endpoints: dict[str, Any], endpoints_file: Path) -> None:
    lines = [
        f"localfaas up: {stack.template_path} is running ({len(stack.template.functions)} functions, "
        f"{len(stack.mappings)} Kafka mappings, {sum(len(b.rules) for b in stack.buses.values())} rules)",
        f"  events endpoint   {endpoints['events']}",
        f"  Lambda endpoint   {endpoints['lambda']}",  # issue 12
        f"  backend           {endpoints['backend'] or 'AWS'} ({endpoints['backendKind']})",
    ]
    if endpoints["api"]:  # issue 12
        lines.append(f"  APIs              {endpoints['api']}")
    lines += [f"  function URL      {url}  ({name})" for name, url in endpoints["functionUrls"].items()]
    if endpoints["logDir"]:
        lines.append(f"  log directory     {endpoints['logDir']}")
    if endpoints["bootstrapServers"]:
        lines.append(f"  Kafka brokers     {endpoints['bootstrapServers']}")
    lines.append(f"  endpoints file    {endpoints_file}  (read by `localfaas put-events`)")
    lines.append("Ctrl-C to stop.")
    print("\n".join(lines), file=sys.stderr, flush=True)
