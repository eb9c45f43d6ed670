"""`localfaas test-event-pattern`: `aws events test-event-pattern`, answered locally by localfaas.pattern.

Prints ``{"Result": true|false}`` as the AWS CLI does (JSON output, four-space indent). Values may be
given inline or as ``file://path`` like any AWS CLI parameter. The event must carry the fields
TestEventPattern requires in practice: id, account, source, time, region and detail-type. The API
page (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_TestEventPattern.html) also
lists resources as mandatory, but AWS accepts and matches an event without it, and so does this.
Errors go to stderr in the CLI's "An error occurred (Code) when calling ..." form, with exit status 2
(the AWS CLI itself exits 254 for service errors and 252 for unreadable parameters).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from localfaas.pattern import InvalidEventPatternException, compile_pattern

REQUIRED_EVENT_FIELDS = ("id", "account", "source", "time", "region", "detail-type")
EXIT_ERROR = 2


class _ParameterError(Exception):
    pass


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "test-event-pattern",
        help="test whether an EventBridge event pattern matches an event",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--event-pattern", required=True, help="the pattern, as JSON or file://path")
    parser.add_argument("--event", required=True, help="the event, as JSON or file://path")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        pattern_text = _parameter("--event-pattern", args.event_pattern)
        event_text = _parameter("--event", args.event)
    except _ParameterError as error:
        print(f"\n{error}", file=sys.stderr)
        return EXIT_ERROR
    try:
        pattern = compile_pattern(pattern_text)
        result = pattern.matches(_event(event_text))
    except InvalidEventPatternException as error:
        return _service_error(error.code, str(error))
    except ValueError as error:
        return _service_error("ValidationException", str(error))
    print(json.dumps({"Result": result}, indent=4))
    return 0


def _parameter(name: str, value: str) -> str:
    """The parameter's text, read from the file for ``file://path`` as the AWS CLI does."""
    if not value.startswith("file://"):
        return value
    path = value[len("file://") :]
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as error:
        raise _ParameterError(
            f"Error parsing parameter '{name}': Unable to load paramfile {value}: {error}"
        ) from None


def _event(text: str) -> dict:
    try:
        event = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("Parameter Event is not valid.") from None
    if not isinstance(event, dict):
        raise ValueError("Parameter Event is not valid.")
    missing = [field for field in REQUIRED_EVENT_FIELDS if field not in event]
    if missing:
        raise ValueError(f"Parameter Event is not valid. Missing required fields: {', '.join(missing)}")
    return event


def _service_error(code: str, message: str) -> int:
    print(
        f"\nAn error occurred ({code}) when calling the TestEventPattern operation: {message}",
        file=sys.stderr,
    )
    return EXIT_ERROR
