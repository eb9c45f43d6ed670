"""Producing storefront events to their Kafka topics with confluent-kafka (librdkafka).

Each event goes to its topic keyed by its aggregate id (so one customer's or one sku's events stay in
order on one partition), as the JSON the reactions read, with the `content-type` header the other
producers set. `publish` waits for the broker's acknowledgement: the front door answers 202 only once
the event is on the topic. The producer is idempotent with acks=all, so librdkafka's own resends
after a lost answer write the record once ("Produce data idempotently").

Authentication, from the function's environment:
- IAM: Amazon MSK IAM access control, SASL/OAUTHBEARER over TLS, the token signed with the function's
  role by aws-msk-iam-sasl-signer-python ("Configure clients for IAM access control", Amazon MSK
  Developer Guide, https://docs.aws.amazon.com/msk/latest/developerguide/configure-clients-for-iam-access-control.html).
  The role needs kafka-cluster:Connect and, for an idempotent producer, WriteDataIdempotently on the
  cluster, DescribeTopic and WriteData on the topic ("Common use cases for client authorization
  policy", https://docs.aws.amazon.com/msk/latest/developerguide/iam-access-control-use-cases.html).
- NONE: a plaintext broker, as a local one is (`localfaas up --log kafka`, Tansu in the tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storefront.events import DomainEvent

if TYPE_CHECKING:
    from confluent_kafka import Producer

# Below the function's 30 s timeout and API Gateway's 30 s integration timeout, so a broker that
# does not answer makes a clear 503, not a timed-out invocation.
DELIVERY_TIMEOUT_MS = 10_000
AUTHENTICATIONS = ("IAM", "NONE")


class PublishFailed(RuntimeError):
    """The broker did not take the event; str() names the topic and librdkafka's reason."""


@dataclass(frozen=True)
class Published:
    topic: str
    partition: int
    offset: int


def producer_config(bootstrap_servers: str, *, authentication: str, region: str) -> dict[str, Any]:
    """librdkafka properties for a producer at `bootstrap_servers`, authenticating as `authentication`."""
    if authentication not in AUTHENTICATIONS:
        raise ValueError(
            f"KAFKA_AUTHENTICATION must be one of {', '.join(AUTHENTICATIONS)}, not {authentication!r}"
        )
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "enable.idempotence": True,  # implies acks=all
        "message.timeout.ms": DELIVERY_TIMEOUT_MS,
        "linger.ms": 0,  # one event per request: nothing to batch, no reason to wait
    }
    if authentication == "IAM":
        config |= {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "OAUTHBEARER",
            "oauth_cb": msk_iam_token(region),
        }
    return config


def msk_iam_token(region: str) -> Callable[[str], tuple[str, float]]:
    """confluent-kafka's oauth_cb: an MSK IAM token and its expiry, in seconds since the epoch."""

    def oauth_cb(_config: str) -> tuple[str, float]:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider  # only where IAM is used

        token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
        return token, expiry_ms / 1000

    return oauth_cb


class EventTopics:
    """Publishes events to the topic `topic` (one topic per front door function)."""

    def __init__(self, producer: Producer, *, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    def publish(self, event: DomainEvent) -> Published:
        outcome: list[Any] = []
        self._producer.produce(
            self._topic,
            key=event.aggregate_id.encode(),
            value=event.to_json().encode(),
            headers=[("content-type", b"application/json")],
            on_delivery=lambda error, message: outcome.append(error or message),
        )
        # flush serves the delivery callback (and, with IAM, the token callback first).
        self._producer.flush(DELIVERY_TIMEOUT_MS / 1000 + 1)
        if not outcome:
            raise PublishFailed(f"{self._topic}: no acknowledgement within {DELIVERY_TIMEOUT_MS} ms")
        result = outcome[0]
        if not hasattr(result, "offset"):  # a KafkaError
            raise PublishFailed(f"{self._topic}: {result.str()}")
        return Published(topic=result.topic(), partition=result.partition(), offset=result.offset())
