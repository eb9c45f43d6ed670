"""The botocore configurations the storefront's clients are made with.

Standard retry mode: throttling and transient errors (ThrottlingException, 5xx, ...) are retried
with exponential backoff and jitter, up to 3 attempts, under a client-wide retry quota
(https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html). The legacy default
retries fewer error codes, so a throttled call failed the record and its side effects were redone.

MARK_RETRY_CONFIG is for the writes that follow an effect AWS cannot undo or dedupe (an email
sent, a request queued, an alert published): the tables holding their marks, and the idempotency
records (storefront.lambda_glue). When such a write fails, a retry may do the effect again or be
refused as still in progress. So they get 5 attempts (botocore's `total_max_attempts`; its
`max_attempts` counts the retries only, botocore.config.Config): under 20 % throttling one fails
one time in 3,000, not one in 125, and botocore's backoff for throttling (a random wait below
1, 2, 4, 8 s) keeps the worst case at 15 s of waiting, inside the functions' 30 s timeout.
"""

from __future__ import annotations

from botocore.config import Config

RETRY_CONFIG = Config(retries={"mode": "standard"})
MARK_RETRY_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 5})

__all__ = ["MARK_RETRY_CONFIG", "RETRY_CONFIG"]
