"""RequestAccount: the front door's POST /accounts (HTTP API): a customer's request for an account,
validated and produced to the customer-accounts topic as AccountRequested (storefront.front_door)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from confluent_kafka import Producer

from storefront.adapters.topics import EventTopics, producer_config
from storefront.api_glue import accepted, front_door
from storefront.front_door import account_requested, request_body
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
    topic=os.environ["ACCOUNT_REQUESTS_TOPIC"],
)


@app.post("/accounts")
def request_account() -> Response:
    request = app.current_event
    body = request_body(request.body, is_base64_encoded=request.is_base64_encoded)
    requested = account_requested(body, now=datetime.now(UTC), salt=os.urandom(16))
    return accepted(topics, requested, logger, customerId=requested.customer_id)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
