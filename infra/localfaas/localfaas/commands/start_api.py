"""`localfaas start-api`: `sam local start-api` without Docker, until Ctrl-C.

Serves the template's Api (REST) and HttpApi events on 127.0.0.1, all APIs on one port and without
a stage prefix, as `sam local start-api` does (localfaas.api_gateway):

    localfaas start-api --port 3000
    curl http://127.0.0.1:3000/orders/o-1

Behind it runs the whole stack as `localfaas up` runs it, except that nothing polls the Kafka
mappings: the backend with the template's resources provisioned, the buses, Lambda's asynchronous
invocation, and Lambda's Invoke API for functions that invoke functions. Functions' logs go to stderr.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-local-start-api.html
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from localfaas.commands._options import (
    UsageError,
    add_stack_flags,
    add_template_flags,
    stack_options,
    usage_error,
)
from localfaas.commands._serving import serve_until_stopped

DEFAULT_PORT = 3000  # sam local start-api's


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "start-api",
        help="serve the template's Api and HttpApi events (like `sam local start-api`)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_template_flags(parser)
    add_stack_flags(parser, runtime_default="worker", log_dir_default=None)
    parser.add_argument(
        "--port",
        "-p",
        type=int,
        default=DEFAULT_PORT,
        help="port on 127.0.0.1 (default: %(default)s; 0: any)",
    )
    parser.add_argument(
        "--jwks",
        metavar="FILE",
        help="JWKS document that JWT authorizers check tokens against "
        "(default: the issuer's own, from its /.well-known/openid-configuration)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from localfaas.api_gateway import api_gateway_for
    from localfaas.api_jwt import jwks_from_file
    from localfaas.local_stack import LocalStack

    try:
        options = stack_options(args)
        jwks = jwks_from_file(args.jwks) if args.jwks else None
    except (UsageError, ValueError) as e:
        return usage_error("start-api", e)
    stack = LocalStack(args.template, real_time=True, function_logs=sys.stderr, **options)

    def start_servers(stack: Any, servers: list[Any]) -> list[str]:
        gateway = api_gateway_for(stack, port=args.port, jwks=jwks)
        if gateway is None:
            raise UsageError(f"{stack.template_path} has no Api or HttpApi events to serve")
        servers.append(gateway.start())
        return _announcement(gateway.apis, gateway.endpoint_url)

    return serve_until_stopped("start-api", stack, args.port, start_servers)


def _announcement(apis: list[Any], endpoint_url: str) -> list[str]:
    lines = [f"localfaas start-api: serving at {endpoint_url}"]
    for api in apis:
        for route in api.routes:
            if route.function_arn is not None:
                function = route.function_arn.rsplit(":", 1)[-1]
                lines.append(f"  {route.route_key:<32} {api.kind} {api.logical_id} -> {function}")
    return lines
