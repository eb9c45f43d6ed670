"""`localfaas start-lambda`: `sam local start-lambda` without Docker, until Ctrl-C.

Serves Lambda's Invoke API for the template's functions on 127.0.0.1 (localfaas.lambda_api), so
boto3 and the AWS CLI reach them:

    localfaas start-lambda --port 3001
    aws lambda invoke --endpoint-url http://127.0.0.1:3001 --function-name MyFunction out.json
    boto3.client("lambda", endpoint_url="http://127.0.0.1:3001").invoke(FunctionName="MyFunction")

A function is named by its logical id (as under `sam local start-lambda`), its function name or its
ARN. Behind it runs the whole stack as `localfaas up` runs it, except that nothing polls the Kafka
mappings: the backend with the template's resources provisioned, the buses, and Lambda's asynchronous
invocation (Event invocations are retried and reach their destinations). Functions invoke functions
through the same endpoint (AWS_ENDPOINT_URL_LAMBDA). Each function URL (`FunctionUrlConfig`) is served
on a port of its own, listed as it starts (localfaas.function_urls). Functions' logs go to stderr.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-local-start-lambda.html
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

DEFAULT_PORT = 3001  # sam local start-lambda's


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "start-lambda",
        help="serve Lambda's Invoke API for the template's functions (like `sam local start-lambda`)",
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
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from localfaas.function_urls import function_urls_for
    from localfaas.local_stack import LocalStack

    try:
        options = stack_options(args)
    except UsageError as e:
        return usage_error("start-lambda", e)
    stack = LocalStack(
        args.template, real_time=True, lambda_port=args.port, function_logs=sys.stderr, **options
    )

    def start_servers(stack: Any, servers: list[Any]) -> list[str]:
        urls = function_urls_for(stack)
        if urls is not None:
            servers.append(urls.start())
        names = ", ".join(sorted(stack.template.functions)) or "none"
        lambda_url = stack.endpoints()["lambda"]
        lines = [f"localfaas start-lambda: {stack.template_path} functions ({names}) at {lambda_url}"]
        return lines + [
            f"  function URL {name:<24} {url}" for name, url in (urls.urls if urls else {}).items()
        ]

    return serve_until_stopped("start-lambda", stack, args.port, start_servers)
