"""LockAccount: on AccessDenied (Kafka), count the customer's denied attempts in the window; at the
threshold lock the account once and announce AccountLocked. Other security events are skipped.

No idempotency table: storing an attempt overwrites its own item (keyed by its time and event id),
the window counts it once however often it comes, and the lock's conditional write lets the
attempt that locked the account lock it again, announcing the same AccountLocked (same id). Each
customer's attempts are read once a batch (AccessAttemptsTable.window); the batch's announcements
go ten to a PutEvents (lambda_glue.BatchAnnouncements).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from storefront import security
from storefront.adapters.access_attempts import AccessAttemptsTable
from storefront.adapters.accounts import AccountsTable
from storefront.adapters.aws import RETRY_CONFIG
from storefront.adapters.bus import EventBus
from storefront.events import AccessDenied
from storefront.lambda_glue import BatchAnnouncements, event_from_kafka, log_fields, process_kafka_batch
from storefront.log_lines import bounded_logger

logger = bounded_logger()
processor = BatchProcessor(event_type=EventType.Kafka)
policy = security.LockPolicy.from_environment(os.environ)
dynamodb = boto3.resource("dynamodb", config=RETRY_CONFIG)
accounts = AccountsTable(dynamodb.Table(os.environ["ACCOUNTS_TABLE_NAME"]))
# Reading a window further ahead covers a burst of attempts in the batch with the first read.
attempts = AccessAttemptsTable(
    dynamodb.Table(os.environ["ACCESS_ATTEMPTS_TABLE_NAME"]), read_ahead=policy.window
)
bus = EventBus(boto3.client("events", config=RETRY_CONFIG), os.environ["EVENT_BUS_NAME"])
announcements = BatchAnnouncements(bus)


def count_denied_attempt(denied: AccessDenied) -> str:
    attempt = security.DeniedAttempt.of(denied)
    attempts.record(attempt, expires_at=attempt.expires_at(policy, processed_at=datetime.now(UTC)))
    stored = attempts.window(attempt.customer_id, *security.range_to_query(attempt, policy))
    decision = security.decide_lock(attempt, stored, policy)
    outcome = (
        accounts.lock(attempt.customer_id, decision.decided_at, attempt.event_id) if decision.lock else None
    )
    if (locked := security.announcement(denied, decision, outcome, policy)) is not None:
        announcements.add(locked)
    logger.debug(
        "denied attempt counted",
        extra={**log_fields(denied), "attempts": decision.denied_attempts, "outcome": outcome},
    )
    return outcome or "counted"


def record_handler(record: KafkaEventRecord) -> str:
    event = event_from_kafka(record)
    if not isinstance(
        event, AccessDenied
    ):  # the template's filter passes only these; a direct invoke may not
        return "skipped"
    return count_denied_attempt(event)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    attempts.forget()  # what a batch read serves that batch only
    return process_kafka_batch(
        event,
        context,
        record_handler=record_handler,
        processor=processor,
        logger=logger,
        announcements=announcements,
    )
