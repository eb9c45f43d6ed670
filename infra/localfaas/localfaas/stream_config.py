"""The configuration of a Kinesis or DynamoDB Streams event source mapping, validated as the Lambda
API validates it (CreateEventSourceMapping,
https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html): StartingPosition
TRIM_HORIZON or LATEST (and AT_TIMESTAMP on Kinesis only), BatchSize 1-10,000 (100 by default),
MaximumBatchingWindowInSeconds 0-300 (0 by default for streams), MaximumRetryAttempts -1-10,000
(-1: until the record expires), MaximumRecordAgeInSeconds -1 or 60-604,800, ParallelizationFactor
1-10, TumblingWindowInSeconds 0-900, an SQS, SNS or S3 on-failure destination.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from localfaas.destinations import parse_destination
from localfaas.esm import DEFAULT_BATCH_SIZE
from localfaas.mapping_properties import STARTING_POSITIONS, MappingProperties

__all__ = ["StreamMappingConfig", "stream_service"]


def stream_service(arn: str) -> str | None:
    """The service ("kinesis", "dynamodb") of a stream ARN a mapping reads; None for any other ARN."""
    if arn.startswith("arn:") and ":kinesis:" in arn and ":stream/" in arn:
        return "kinesis"
    if arn.startswith("arn:") and ":dynamodb:" in arn and "/stream/" in arn:
        return "dynamodb"
    return None


@dataclass(frozen=True)
class StreamMappingConfig:
    """A resolved AWS::Lambda::EventSourceMapping on a stream, validated against AWS's ranges."""

    logical_id: str
    function_name: str
    function_arn: str
    uuid: str
    service: str  # "kinesis" | "dynamodb"
    event_source_arn: str
    starting_position: str
    starting_position_timestamp: float | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    batching_window_s: float = 0.0
    filters: tuple[dict, ...] = ()
    maximum_retry_attempts: int = -1
    bisect_batch_on_function_error: bool = False
    maximum_record_age_s: int = -1
    report_batch_item_failures: bool = False
    on_failure_destination: str | None = None
    parallelization_factor: int = 1
    tumbling_window_s: int = 0
    enabled: bool = True

    @property
    def retry_limit(self) -> int | None:
        """Retries allowed after the first invocation; None for infinite (until the record expires)."""
        return None if self.maximum_retry_attempts == -1 else self.maximum_retry_attempts

    @classmethod
    def from_resource(
        cls, logical_id: str, properties: Mapping[str, Any], *, function_name: str, function_arn: str
    ) -> StreamMappingConfig:
        p = MappingProperties(logical_id, properties)
        arn = str(properties.get("EventSourceArn", ""))
        service = stream_service(arn)
        if service is None:
            raise p.fail("EventSourceArn", f"Value '{arn}' is not a Kinesis or DynamoDB stream ARN")
        position, timestamp = p.starting_position()
        if service == "dynamodb" and position == "AT_TIMESTAMP":
            allowed = [s for s in STARTING_POSITIONS if s != "AT_TIMESTAMP"]
            raise p.violates("StartingPosition", position, f"satisfy enum value set: {allowed}")
        destination = p.destination(())
        if destination and parse_destination(destination).kind == "kafka":
            message = "a kafka:// destination is only for Kafka event sources"
            raise p.fail("DestinationConfig.OnFailure.Destination", message)
        return cls(
            logical_id=logical_id,
            function_name=function_name,
            function_arn=function_arn,
            uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"localfaas:esm:{function_name}:{logical_id}")),
            service=service,
            event_source_arn=arn,
            starting_position=position,
            starting_position_timestamp=timestamp,
            batch_size=p.integer("BatchSize", DEFAULT_BATCH_SIZE, 1, 10_000),
            batching_window_s=float(p.integer("MaximumBatchingWindowInSeconds", 0, 0, 300)),
            filters=p.filters(),
            maximum_retry_attempts=p.integer("MaximumRetryAttempts", -1, -1, 10_000),
            bisect_batch_on_function_error=p.boolean("BisectBatchOnFunctionError", False),
            maximum_record_age_s=p.record_age(),
            report_batch_item_failures=p.function_response_types(),
            on_failure_destination=destination,
            parallelization_factor=p.integer("ParallelizationFactor", 1, 1, 10),
            tumbling_window_s=p.integer("TumblingWindowInSeconds", 0, 0, 900),
            enabled=p.boolean("Enabled", True),
        )
