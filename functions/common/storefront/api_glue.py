"""What the front door's handlers share: API Gateway (HTTP API, payload 2.0) answers over Powertools'
event handler, and publishing the event a request makes.

- 202 Accepted once the event is on its topic (the reactions do the work later), with the ids the
  client may keep;
- 400 with a one-line `message` for a request the storefront does not take (storefront.front_door);
- 503 with Retry-After when the broker did not take the event: the client sends the request again,
  which makes the same event (the ids are derived), so retrying is safe.

Glue over Powertools, not the domain: the domain modules never import it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response, content_types

from storefront.adapters.topics import EventTopics, PublishFailed
from storefront.events import DomainEvent
from storefront.front_door import BadRequest
from storefront.lambda_glue import log_fields

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

RETRY_AFTER_S = "5"


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers=headers,
    )


def front_door(app: APIGatewayHttpResolver, logger: Logger) -> None:
    """Answer the front door's failures as API Gateway clients expect them (see the module)."""

    @app.exception_handler(BadRequest)
    def bad_request(error: BadRequest) -> Response:
        logger.info("request refused", extra={"reason": str(error)})
        return _answer(400, {"message": str(error)})

    @app.exception_handler(PublishFailed)
    def not_published(error: PublishFailed) -> Response:
        logger.warning("event not published", extra={"error": str(error)})
        return _answer(
            503,
            {"message": "the storefront cannot take requests right now; try again"},
            {"Retry-After": RETRY_AFTER_S},
        )


def accepted(topics: EventTopics, event: DomainEvent, logger: Logger, **ids: str) -> Response:
    """Publish `event` and answer 202 with its id and `ids` (camelCase names, as on the wire)."""
    published = topics.publish(event)
    logger.info(
        "event published",
        extra={
            **log_fields(event),
            "topic": published.topic,
            "partition": published.partition,
            "offset": published.offset,
        },
    )
    return _answer(202, {"eventId": event.event_id, **ids})
