"""`localfaas put-events --entries FILE`: PutEvents to a running `localfaas up`, like `aws events put-events`.

The entries are a JSON list of PutEvents entries (or {"Entries": [...]}), given as file://path, a
path, - for stdin, or inline JSON; a Detail written as a JSON object is sent as its text, as the API
wants. The endpoint is --endpoint-url, else the "events" endpoint `localfaas up` wrote to
--endpoints-file. Prints the API's answer ({"FailedEntryCount", "Entries"}) as the AWS CLI does, and
exits 0 even when entries failed, as the AWS CLI does. `--as-service` puts the entries as the AWS
service of their Source would send them (an aws.* source, refused otherwise as PutEvents refuses it;
localfaas.service_events); a request rejected as a whole prints
"An error occurred (Code) when calling the PutEvents operation: ..." on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from localfaas.commands._options import ENDPOINTS_FILE, EXIT_USAGE, STATE_DIR, find_state_dir, usage_error

EXIT_ERROR = EXIT_USAGE  # a request rejected as a whole, as well as unusable options


class _InputError(Exception):
    pass


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "put-events",
        help="send PutEvents to a running `localfaas up` (like `aws events put-events`)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--entries", required=True, help="JSON list of entries: file://path, a path, - (stdin) or inline JSON"
    )
    parser.add_argument("--endpoint-url", help="the events endpoint (default: from --endpoints-file)")
    parser.add_argument(
        "--endpoints-file",
        help=f"written by `localfaas up` (default: {ENDPOINTS_FILE} in the nearest folder upward that has "
        f"a {STATE_DIR}, as git finds .git)",
    )
    parser.add_argument("--region", help="(default: the running stack's, else us-east-1)")
    parser.add_argument(
        "--as-service",
        action="store_true",
        help="put the entries as the AWS service of their Source sends them, so aws.* sources are accepted",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        entries = _entries(args.entries)
        endpoint, region = _endpoint(args)
    except _InputError as e:
        return usage_error("put-events", e)
    if args.as_service:
        from localfaas.events_api import AS_SERVICE_PATH

        endpoint = endpoint.rstrip("/") + AS_SERVICE_PATH
    return put_events(entries, endpoint, region)


def put_events(entries: list[dict[str, Any]], endpoint_url: str, region: str) -> int:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

    from localfaas.backend import LOCALFAAS_USER_AGENT

    client = boto3.client(
        "events",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="localfaas",
        aws_secret_access_key="localfaas",  # noqa: S106 - a local endpoint checks no signature
        # Feeding a stack is the user's input, not a function's call: a fault plan leaves it alone.
        config=Config(user_agent_extra=LOCALFAAS_USER_AGENT),
    )
    try:
        response = client.put_events(Entries=entries)
    except ClientError as e:
        error = e.response["Error"]
        print(
            f"An error occurred ({error.get('Code')}) when calling the PutEvents operation: {error.get('Message')}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except (ParamValidationError, EndpointConnectionError) as e:
        print(f"localfaas put-events: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    response.pop("ResponseMetadata", None)
    print(json.dumps(response, indent=4))
    return 0


def _entries(source: str) -> list[dict[str, Any]]:
    text = _text(source)
    try:
        data = json.loads(text)
    except ValueError as e:
        raise _InputError(f"--entries is not valid JSON: {e}") from None
    if isinstance(data, dict) and "Entries" in data:
        data = data["Entries"]
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise _InputError("--entries must be a JSON list of PutEvents entries")
    entries = []
    for entry in data:
        entry = dict(entry)
        if "Detail" in entry and not isinstance(entry["Detail"], str):
            entry["Detail"] = json.dumps(entry["Detail"], separators=(",", ":"))
        entries.append(entry)
    return entries


def _text(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    if source.lstrip().startswith(("[", "{")):
        return source  # inline JSON, never a path: a long one is longer than a file name may be
    path = source.removeprefix("file://")
    if source.startswith("file://") or _is_file(path):
        try:
            return Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as e:
            raise _InputError(f"cannot read {path}: {e.strerror}") from None
    return source


def _is_file(path: str) -> bool:
    try:
        return Path(path).is_file()
    except OSError:  # a name too long for a path, for one
        return False


def _endpoint(args: argparse.Namespace) -> tuple[str, str]:
    if args.endpoint_url:
        return args.endpoint_url, args.region or "us-east-1"
    path = Path(args.endpoints_file) if args.endpoints_file else find_state_dir() / ENDPOINTS_FILE.name
    try:
        endpoints = json.loads(path.read_text())
    except OSError:
        raise _InputError(
            f"no {path}: start `localfaas up` first (it writes that file), or pass --endpoint-url"
        ) from None
    except ValueError as e:
        raise _InputError(f"{path} is not valid JSON: {e}") from None
    return endpoints["events"], args.region or endpoints.get("region") or "us-east-1"
