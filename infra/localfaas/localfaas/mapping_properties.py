"""The properties of an AWS::Lambda::EventSourceMapping, read and validated as the Lambda API does.

One reader for every kind of mapping localfaas runs (Kafka in esm.py, Kinesis and DynamoDB Streams in
stream_source.py): the ranges and wording of CreateEventSourceMapping
(https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html), where each error
names the mapping's logical id and the property, with AWS's "Value '...' failed to satisfy
constraint: Member must ..." phrasing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from localfaas.destinations import parse_destination
from localfaas.pattern import InvalidEventPatternException, compile_pattern

__all__ = ["STARTING_POSITIONS", "InvalidEventSourceMappingError", "MappingProperties"]

STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")


class InvalidEventSourceMappingError(ValueError):
    """A property AWS would reject, named with the mapping's logical id and AWS's wording."""

    def __init__(self, logical_id: str, prop: str, message: str) -> None:
        self.logical_id = logical_id
        self.property = prop
        self.code = "InvalidParameterValueException"
        super().__init__(f"{self.code}: EventSourceMapping '{logical_id}' property {prop}: {message}")


class MappingProperties:
    """Reads and validates one mapping's properties; every error names the logical id and property."""

    def __init__(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        self.logical_id = logical_id
        self.props = properties

    def fail(self, prop: str, message: str) -> InvalidEventSourceMappingError:
        return InvalidEventSourceMappingError(self.logical_id, prop, message)

    def violates(self, prop: str, raw: Any, constraint: str) -> InvalidEventSourceMappingError:
        """AWS's validation wording: "Value 'x' failed to satisfy constraint: Member must ..."."""
        return self.fail(prop, f"Value '{raw}' failed to satisfy constraint: Member must {constraint}")

    def integer(self, prop: str, default: int, low: int, high: int) -> int:
        raw = self.props.get(prop)
        if raw is None:
            return default
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise self.fail(prop, f"Value '{raw}' is not an integer") from None
        if isinstance(raw, bool) or (isinstance(raw, float) and raw != value):
            raise self.fail(prop, f"Value '{raw}' is not an integer")
        if value < low:
            raise self.violates(prop, raw, f"have value greater than or equal to {low}")
        if value > high:
            raise self.violates(prop, raw, f"have value less than or equal to {high}")
        return value

    def boolean(self, prop: str, default: bool) -> bool:
        raw = self.props.get(prop)
        if raw is None:
            return default
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"  # CloudFormation accepts booleans as strings
        raise self.fail(prop, f"Value '{raw}' is not a boolean")

    def starting_position(self) -> tuple[str, float | None]:
        position = self.props.get("StartingPosition")
        if position not in STARTING_POSITIONS:
            # Required for Kafka event sources ("All Amazon MSK event source configuration parameters").
            raise self.violates(
                "StartingPosition", position, f"satisfy enum value set: {list(STARTING_POSITIONS)}"
            )
        raw = self.props.get("StartingPositionTimestamp")
        if position != "AT_TIMESTAMP":
            return position, None
        try:
            return position, float(raw)
        except (TypeError, ValueError):
            message = f"Value '{raw}' must be a Unix time in seconds when StartingPosition is AT_TIMESTAMP"
            raise self.fail("StartingPositionTimestamp", message) from None

    def record_age(self) -> int:
        age = self.integer("MaximumRecordAgeInSeconds", -1, -1, 604_800)
        if -1 < age < 60:  # "60-604800, or -1 for infinite"
            raise self.fail("MaximumRecordAgeInSeconds", f"Value '{age}' must be -1 or between 60 and 604800")
        return age

    def filters(self) -> tuple[dict, ...]:
        """FilterCriteria.Filters as {"Pattern": "<json>"}, each compiled once here to reject bad ones."""
        criteria = self.props.get("FilterCriteria") or {}
        checked = []
        for number, entry in enumerate(criteria.get("Filters") or []):
            raw = (entry or {}).get("Pattern")
            text = raw if isinstance(raw, str) else json.dumps(raw)
            try:
                compile_pattern(text)
            except InvalidEventPatternException as exc:
                raise self.fail(f"FilterCriteria.Filters[{number}].Pattern", str(exc)) from None
            checked.append({"Pattern": text})
        return tuple(checked)

    def function_response_types(self) -> bool:
        types = self.props.get("FunctionResponseTypes") or []
        for value in types:
            if value != "ReportBatchItemFailures":
                raise self.violates(
                    "FunctionResponseTypes", value, "satisfy enum value set: [ReportBatchItemFailures]"
                )
        return bool(types)

    def destination(self, topics: tuple[str, ...]) -> str | None:
        on_failure = ((self.props.get("DestinationConfig") or {}).get("OnFailure")) or {}
        uri = on_failure.get("Destination")
        if not uri:
            return None
        try:
            target = parse_destination(uri)
        except ValueError as exc:
            raise self.fail("DestinationConfig.OnFailure.Destination", str(exc)) from None
        if target.kind == "kafka" and target.name in topics:
            # "Lambda prevents infinite loops by blocking configurations where the source and
            # destination topics are the same." (Using a Kafka topic as an on-failure destination)
            message = f"destination topic '{target.name}' cannot be a source topic of the mapping"
            raise self.fail("DestinationConfig.OnFailure.Destination", message)
        return uri
