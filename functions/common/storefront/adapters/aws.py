"""The botocore configuration every storefront client is made with.

Standard retry mode: throttling and transient errors (ThrottlingException, 5xx, ...) are retried
with exponential backoff and jitter, up to 3 attempts, under a client-wide retry quota
(https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html). The legacy default
retries fewer error codes, so a throttled call failed the record and its side effects were redone.
"""

from __future__ import annotations

from botocore.config import Config

RETRY_CONFIG = Config(retries={"mode": "standard"})

__all__ = ["RETRY_CONFIG"]
