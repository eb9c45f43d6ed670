"""Signature Version 4 without the signature, for calls that moto answers in this process.

A SigV4 signature proves the caller holds the secret key of the access key id it names; only the
party that checks it needs it ("Elements of an AWS API request signature",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-signing-elements.html). moto's
in-process mock does not check it (it checks signatures only when its request authentication is on:
moto.settings.INITIAL_NO_AUTH_ACTION_COUNT, off by default), and no network carries the request,
yet computing it (canonical request, SHA-256 of it, four HMACs) costs about twice what writing the
headers alone costs (65 against 30 µs a DynamoDB request, on a busy 2-core machine). What the
request's readers do use is kept exactly as SigV4 writes it: the
`Authorization` header's `Credential=AKID/date/region/service/aws4_request` scope and SignedHeaders
(the role enforcement knows the calling function by that access key id, localfaas.sdk_hooks.SdkCall;
moto takes the account from it), `X-Amz-Date`, `X-Amz-Security-Token`, S3's `X-Amz-Content-SHA256`.
Only the `Signature=` value differs: UNCOMPUTED, in place of the hex digest.

Any request that leaves the process (moto's server, LocalStack, AWS, localfaas's own endpoints),
is presigned, or meets a moto that authenticates is signed by botocore's own signer, unchanged.
Installed on botocore's table of signers (botocore.auth.AUTH_TYPE_MAPS, "v4" and "s3v4", written
against botocore 1.44 without the CRT), so that clients made before the install are covered too.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["UNCOMPUTED", "install"]

UNCOMPUTED = "0" * 64  # the place and shape of a SigV4 signature (64 hex digits), never a valid one
_lock = threading.Lock()
_state: dict[str, Any] = {}


def _served_in_process(request: Any) -> bool:
    from moto import settings

    from localfaas import moto_in_process

    authenticates = not math.isinf(settings.INITIAL_NO_AUTH_ACTION_COUNT)
    return not authenticates and moto_in_process.answers(request.url)


class _ScopeOnly:
    """Mixed into botocore's SigV4 signers: their add_auth, less the signature, when moto answers here."""

    def add_auth(self, request: Any) -> None:
        if not _served_in_process(request):
            return super().add_auth(request)  # type: ignore[misc]
        from botocore.auth import SIGV4_TIMESTAMP, get_current_datetime
        from botocore.exceptions import NoCredentialsError

        if self.credentials is None:  # type: ignore[attr-defined]
            raise NoCredentialsError()  # as SigV4Auth does: a client without credentials fails alike
        request.context["timestamp"] = get_current_datetime().strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)  # type: ignore[attr-defined]
        self._inject_signature_to_request(request, UNCOMPUTED)  # type: ignore[attr-defined]
        return None


def _signers() -> dict[str, type]:
    from botocore.auth import S3SigV4Auth, SigV4Auth

    class InProcessSigV4Auth(_ScopeOnly, SigV4Auth):
        pass

    class InProcessS3SigV4Auth(_ScopeOnly, S3SigV4Auth):
        pass

    return {"v4": InProcessSigV4Auth, "s3v4": InProcessS3SigV4Auth}


def install() -> Callable[[], None]:
    """Sign in-process calls to moto this way from now on; returns what undoes it (installs are
    counted: botocore's own signers are back when every install has been undone)."""
    from botocore import auth

    with _lock:
        if not _state:
            replaced = {name: auth.AUTH_TYPE_MAPS[name] for name in ("v4", "s3v4")}
            signers = _signers()
            # With the CRT, botocore signs with awscrt's classes: those are left alone.
            if all(replaced[name] in cls.__mro__ for name, cls in signers.items()):
                auth.AUTH_TYPE_MAPS.update(signers)
            _state.update(replaced=replaced, count=0)
        _state["count"] += 1
    undone = threading.Event()

    def undo() -> None:
        with _lock:
            if undone.is_set():
                return
            undone.set()
            _state["count"] -= 1
            if _state["count"] == 0:
                auth.AUTH_TYPE_MAPS.update(_state["replaced"])
                _state.clear()

    return undo
