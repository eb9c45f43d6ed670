"""PostInventoryCount: the front door's POST /inventory-counts (HTTP API, IAM-signed): a warehouse's
count of a sku, validated and produced to the inventory topic as InventoryUpdated (storefront.front_door)."""

from __future__ import annotations

import os

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from confluent_kafka import Producer

from storefront.adapters.topics import EventTopics, producer_config
from storefront.api_glue import accepted, front_door
from storefront.front_door import inventory_updated, request_body
from storefront.log_lines import bounded_logger

logger = bounded_logger()
app = APIGatewayHttpResolver()
front_door(app, logger)
topics = EventTopics(
    Producer(
        producer_config(
            os.environ["KAFKA_BOOTSTRAP_SERVERS"],
            authentication=os.environ["KAFKA_AUTHENTICATION"],
            region=os.environ["AWS_REGION"],
        )
    ),
    topic=os.environ["INVENTORY_COUNTS_TOPIC"],
)


@app.post("/inventory-counts")
def post_inventory_count() -> Response:
    request = app.current_event
    counted = inventory_updated(request_body(request.body, is_base64_encoded=request.is_base64_encoded))
    return accepted(topics, counted, logger, sku=counted.sku)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
