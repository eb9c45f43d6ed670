"""Fulfilment requests sent to the fulfilment team's SQS queue (a standard queue).

A standard queue delivers at least once and has no deduplication: MessageDeduplicationId
applies only to FIFO queues
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-key-terms.html).
Every message carries its `requestId`, in the body and as a message attribute, and the fulfilment
centre takes one request per order (storefront.fulfilment_centre), so a copy is harmless.

`send_all` puts a batch's requests on the queue ten to a SendMessageBatch request, which holds 1 to
10 entries and answers per entry: Successful or Failed, by the entry's Id; a request can succeed with
some entries failed
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html).
The batch's total payload is capped as well (256 KiB, the cap that predates SQS's 1 MiB messages
and that emulators still apply): a request is closed before it would pass it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from storefront.adapters.batch_requests import batch_requests
from storefront.fulfilment import FulfilmentRequest

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class FulfilmentQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send_all(self, requests: Sequence[FulfilmentRequest]) -> dict[int, str]:
        """Put the requests on the queue; {index: error code} of those not taken. A request that
        fails as a whole (after the client's retries) fails all its entries."""
        refused: dict[int, str] = {}
        for first, chunk in batch_requests(
            [_entry(str(i), r) for i, r in enumerate(requests)],
            _size,
            max_entries=MAX_ENTRIES,
            max_bytes=MAX_REQUEST_BYTES,
        ):
            try:
                answer = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=chunk)
            except (ClientError, BotoCoreError) as error:
                code = getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
                refused.update((first + i, code) for i in range(len(chunk)))
                continue
            refused.update(
                (int(failed["Id"]), failed.get("Code", "Failed")) for failed in answer.get("Failed", ())
            )
        return refused


MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024


def _entry(entry_id: str, request: FulfilmentRequest) -> dict[str, Any]:
    return {
        "Id": entry_id,  # the request's index in the batch: unique in the batch, as SQS asks
        "MessageBody": json.dumps(message_body(request), separators=(",", ":")),
        "MessageAttributes": {
            "requestId": {"DataType": "String", "StringValue": request.request_id},
            "orderId": {"DataType": "String", "StringValue": request.order_id},
        },
    }


def _size(entry: dict[str, Any]) -> int:
    # A message's size counts its body and each attribute's name, type and value.
    attributes = entry["MessageAttributes"].items()
    return len(entry["MessageBody"].encode()) + sum(
        len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
        for name, value in attributes
    )


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
