"""Fulfilment requests sent to the fulfilment team's SQS queue (a standard queue).

A standard queue delivers at least once and has no deduplication: MessageDeduplicationId
applies only to FIFO queues
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-key-terms.html).
So sending twice is prevented before the send (storefront.fulfilment), and every message carries
its `requestId`, in the body and as a message attribute, for the consumer to drop duplicates.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from storefront.fulfilment import FulfilmentRequest

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class FulfilmentQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, request: FulfilmentRequest) -> str:
        """Put the request on the queue; returns SQS's MessageId."""
        response = self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=json.dumps(message_body(request), separators=(",", ":")),
            MessageAttributes={
                "requestId": {"DataType": "String", "StringValue": request.request_id},
                "orderId": {"DataType": "String", "StringValue": request.order_id},
            },
        )
        return response["MessageId"]


def message_body(request: FulfilmentRequest) -> dict:
    """The request as fulfilment reads it: camelCase JSON, like the storefront's events."""
    return {
        "requestId": request.request_id,
        "orderId": request.order_id,
        "customerId": request.customer_id,
        "lines": [line.model_dump(mode="json", by_alias=True) for line in request.lines],
        "shippingAddress": request.shipping_address.model_dump(mode="json", by_alias=True, exclude_none=True),
        "requestedAt": request.requested_at.isoformat(),
    }
