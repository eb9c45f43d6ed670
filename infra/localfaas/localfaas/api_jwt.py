"""An HTTP API's JWT authorizer, as "Control access to HTTP APIs with JWT authorizers in API Gateway"
says (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html):
the token from the identity source (a `Bearer ` prefix allowed) must be signed with RS256, RS384 or
RS512 by a key of the issuer's JWKS (by `kid`), carry the authorizer's issuer as `iss`, one of its
audiences as `aud` or `client_id`, not be expired (`exp`) or early (`nbf`, `iat`); otherwise 401. A
route with AuthorizationScopes also needs one of them in `scope` (or `scp`); otherwise 403. The
claims and scopes reach the integration as `requestContext.authorizer.jwt`.

The JWKS is read locally: from a JWKS document given to localfaas (`start-api --jwks FILE`), or
else from the issuer's `/.well-known/openid-configuration` `jwks_uri`, which a local identity
provider can serve. Not emulated: algorithms other than RSA (as API Gateway supports none), JWKS
refresh (read once per issuer).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localfaas.api_authorizers import Decision, identity_values
from localfaas.api_routes import Authorizer, RouteMatch

if TYPE_CHECKING:
    from localfaas.api_events import HttpRequest

__all__ = ["JwksSource", "authorize_with_jwt", "jwks_from_file", "jwks_from_issuer"]

JwksSource = Callable[[str], dict[str, Any]]  # issuer -> JWKS document
_HASHES = {"RS256": "SHA256", "RS384": "SHA384", "RS512": "SHA512"}
_FETCH_TIMEOUT_S = 5


class _Invalid(Exception):
    pass


def jwks_from_file(path: str) -> JwksSource:
    """One JWKS document for every issuer; ValueError (one line) when it is unreadable or no JWKS."""
    try:
        document = json.loads(Path(path).read_text())
    except OSError as e:
        raise ValueError(f"cannot read JWKS file {path}: {e.strerror}") from None
    except ValueError as e:
        raise ValueError(f"JWKS file {path} is not valid JSON: {e}") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError(f'JWKS file {path} must hold {{"keys": [...]}}')
    return lambda issuer: document


def jwks_from_issuer() -> JwksSource:
    """The issuer's JWKS through its OpenID configuration, fetched once per issuer."""
    cache: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def read(url: str) -> Any:
        with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT_S) as response:  # noqa: S310 - the template's issuer
            return json.loads(response.read())

    def source(issuer: str) -> dict[str, Any]:
        with lock:
            if issuer not in cache:
                configuration = read(issuer.rstrip("/") + "/.well-known/openid-configuration")
                cache[issuer] = read(configuration["jwks_uri"])
            return cache[issuer]

    return source


def authorize_with_jwt(
    authorizer: Authorizer,
    scopes: tuple[str, ...],
    request: HttpRequest,
    match: RouteMatch,
    jwks: JwksSource,
    *,
    now: float | None = None,
) -> Decision:
    identity = identity_values(authorizer, request, match)
    if identity is None:
        return Decision(401, {"message": "Unauthorized"})
    token = identity[0].removeprefix("Bearer ").strip()
    try:
        claims = _verified_claims(token, authorizer, jwks, time.time() if now is None else now)
    except _Invalid:
        return Decision(401, {"message": "Unauthorized"})
    granted = str(claims.get("scope") or "").split() or list(claims.get("scp") or [])
    if scopes and not set(scopes) & set(granted):
        return Decision(403, {"message": "Forbidden"})
    claim_values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()}
    return Decision(context={"jwt": {"claims": claim_values, "scopes": granted or None}})


def _verified_claims(token: str, authorizer: Authorizer, jwks: JwksSource, now: float) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise _Invalid("not a JWT")
    header, claims = _json_part(parts[0]), _json_part(parts[1])
    algorithm = header.get("alg")
    if algorithm not in _HASHES:
        raise _Invalid(f"algorithm {algorithm}")
    try:
        keys = jwks(authorizer.issuer or "").get("keys") or []
    except (OSError, ValueError, KeyError) as e:
        raise _Invalid(f"no JWKS for {authorizer.issuer}: {e}") from None
    key = next((k for k in keys if k.get("kid") == header.get("kid") and k.get("kty") == "RSA"), None)
    if key is None:
        raise _Invalid("no key with that kid")
    _verify_rsa(key, algorithm, f"{parts[0]}.{parts[1]}".encode(), _b64url(parts[2]))
    if claims.get("iss") != authorizer.issuer:
        raise _Invalid("issuer")
    audiences = claims.get("aud")
    audiences = audiences if isinstance(audiences, list) else [audiences, claims.get("client_id")]
    if not set(authorizer.audience) & {a for a in audiences if a}:
        raise _Invalid("audience")
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= now:
        raise _Invalid("expired")
    for early in ("nbf", "iat"):
        if isinstance(claims.get(early), int | float) and claims[early] > now:
            raise _Invalid(early)
    return claims


def _verify_rsa(key: dict[str, Any], algorithm: str, signed: bytes, signature: bytes) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    public = rsa.RSAPublicNumbers(
        int.from_bytes(_b64url(key["e"]), "big"), int.from_bytes(_b64url(key["n"]), "big")
    ).public_key()
    try:
        public.verify(signature, signed, padding.PKCS1v15(), getattr(hashes, _HASHES[algorithm])())
    except InvalidSignature:
        raise _Invalid("signature") from None


def _b64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _Invalid("not base64url") from None


def _json_part(text: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url(text))
    except ValueError:
        raise _Invalid("not JSON") from None
    if not isinstance(value, dict):
        raise _Invalid("not an object")
    return value
