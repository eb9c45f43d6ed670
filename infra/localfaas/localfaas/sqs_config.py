"""An SQS event source mapping's configuration: its properties and its queue's, checked as Lambda checks
them when the mapping is created ("Lambda parameters for Amazon SQS event source mappings",
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html; "Configuring scaling behavior
for SQS event source mappings", services-sqs-scaling.html; "Using Lambda with Amazon SQS", with-sqs.html):

- BatchSize 1-10,000 (default 10), at most 10 on a FIFO queue, over 10 only with a
  MaximumBatchingWindowInSeconds of at least 1; MaximumBatchingWindowInSeconds 0-300 (default 0),
  "not supported for FIFO queues"; ScalingConfig.MaximumConcurrency 2-1000;
- FilterCriteria and FunctionResponseTypes read and checked as the Kafka mappings' are (esm.py);
- the queue's VisibilityTimeout at least the function's Timeout, and its RedrivePolicy, read with
  GetQueueAttributes.

Each refusal is an InvalidEventSourceMappingError naming the mapping and the property.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from localfaas.mapping_properties import MappingProperties  # the one reader of mapping properties

if TYPE_CHECKING:
    from localfaas.event_sources import StackServices
    from localfaas.template import Resource

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_CONCURRENT_BATCHES", "RECEIVE_MAX", "SqsMappingConfig"]

DEFAULT_BATCH_SIZE = 10
DEFAULT_CONCURRENT_BATCHES = 5  # "Lambda starts processing five batches at a time"
RECEIVE_MAX = 10  # ReceiveMessage's MaxNumberOfMessages, and the largest batch without a window


@dataclass(frozen=True)
class SqsMappingConfig:
    """A resolved SQS AWS::Lambda::EventSourceMapping and what it reads of its queue."""

    logical_id: str
    function_name: str
    queue_arn: str
    queue_url: str
    fifo: bool
    visibility_timeout_s: int
    max_receive_count: int | None  # the queue's RedrivePolicy; None without one
    dead_letter_arn: str | None
    batch_size: int = DEFAULT_BATCH_SIZE
    batching_window_s: float = 0.0
    filters: tuple[dict, ...] = ()
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    enabled: bool = True

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]

    @property
    def concurrent_batches(self) -> int:
        return self.maximum_concurrency or DEFAULT_CONCURRENT_BATCHES

    @classmethod
    def from_resource(
        cls, resource: Resource, services: StackServices, function_timeout_s: int, function_name: str
    ) -> SqsMappingConfig:
        p = MappingProperties(resource.logical_id, resource.properties)
        arn = str(resource.properties["EventSourceArn"])
        parts = arn.split(":")
        sqs = services.client("sqs")
        url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        fifo = queue.get("FifoQueue") == "true"
        visibility = int(queue.get("VisibilityTimeout", 30))
        if visibility < function_timeout_s:
            raise p.fail(
                "EventSourceArn",
                f"Queue visibility timeout: {visibility} seconds is less than Function timeout: "
                f"{function_timeout_s} seconds",
            )
        redrive = json.loads(queue["RedrivePolicy"]) if queue.get("RedrivePolicy") else {}
        window = p.integer("MaximumBatchingWindowInSeconds", 0, 0, 300)
        if fifo and resource.properties.get("MaximumBatchingWindowInSeconds") is not None:
            raise p.fail("MaximumBatchingWindowInSeconds", "Batching window is not supported for FIFO queues")
        batch_size = p.integer("BatchSize", DEFAULT_BATCH_SIZE, 1, 10 if fifo else 10_000)
        if batch_size > RECEIVE_MAX and window < 1:
            raise p.fail(
                "BatchSize",
                "Maximum batch window in seconds must be greater than 0 "
                "if maximum batch size is greater than 10",
            )
        maximum = (resource.properties.get("ScalingConfig") or {}).get("MaximumConcurrency")
        scaling = MappingProperties(resource.logical_id, {"ScalingConfig.MaximumConcurrency": maximum})
        concurrency = scaling.integer("ScalingConfig.MaximumConcurrency", 0, 2, 1000) or None
        return cls(
            logical_id=resource.logical_id,
            function_name=function_name,
            queue_arn=arn,
            queue_url=url,
            fifo=fifo,
            visibility_timeout_s=visibility,
            max_receive_count=int(redrive["maxReceiveCount"]) if redrive.get("maxReceiveCount") else None,
            dead_letter_arn=redrive.get("deadLetterTargetArn"),
            batch_size=batch_size,
            batching_window_s=float(window),
            filters=p.filters(),
            report_batch_item_failures=p.function_response_types(),
            maximum_concurrency=concurrency,
            enabled=p.boolean("Enabled", True),
        )
