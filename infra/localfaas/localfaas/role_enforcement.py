"""Execution roles enforced: a function's AWS call its role does not allow fails as AWS fails it.

Each call is judged where localfaas.sdk_hooks sees it (a moto server of this process, botocore in
this process) and at the events endpoint: the calling function is known by its access key id (localfaas.execution_roles),
what the call asks by localfaas.iam_requests, the verdict by IAM's evaluation (localfaas.iam_policy)
over the role's identity-based policies, with the request context aws:PrincipalArn (the role),
aws:PrincipalAccount, aws:RequestedRegion and aws:SecureTransport ("true": on AWS the SDK speaks
HTTPS). localfaas's own calls and calls signed with any other key are not judged.

A refused call gets the service's own error, in its protocol, worded as AWS words it ("User: ARN is
not authorized to perform: ACTION on resource: ARN because no identity-based policy allows the ACTION
action", or "... with an explicit deny in an identity-based policy"):
- DynamoDB: 400 AccessDeniedException, JSON 1.0 ("Error handling with DynamoDB",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html);
- SQS: 400 AccessDeniedException, JSON 1.0, `x-amzn-query-error: AccessDenied;Sender` for query
  compatibility ("Common Errors", https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html);
- SNS: 403 AuthorizationError, query XML ("Publish" errors, https://docs.aws.amazon.com/sns/latest/api/API_Publish.html);
- SES API v1: 403 AccessDenied, query XML; SES API v2: 403 AccessDeniedException, REST JSON
  (https://docs.aws.amazon.com/ses/latest/APIReference/CommonErrors.html,
  https://docs.aws.amazon.com/ses/latest/APIReference-V2/CommonErrors.html);
- S3: 403 AccessDenied, XML ("Error responses", https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html);
- EventBridge, Secrets Manager, Kinesis: 400 AccessDeniedException, JSON 1.1 (each API reference's
  "Common Errors"); Lambda: 403 AccessDeniedException, REST JSON
  (https://docs.aws.amazon.com/lambda/latest/api/CommonErrors.html).
Not judged: Lambda Invoke calls that worker processes send to localfaas's Invoke API (in this
process, botocore's hook judges them).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from localfaas import sdk_hooks
from localfaas.execution_roles import ExecutionRole, execution_roles
from localfaas.iam_policy import EXPLICIT_DENY, Decision, evaluate
from localfaas.iam_requests import requested
from localfaas.sdk_hooks import Answer, SdkCall, wsgi_middleware

__all__ = ["ENFORCE_ROLES_DEFAULT", "AccessDenied", "RoleEnforcer", "access_denied", "enforcer_for"]

log = logging.getLogger(__name__)

_VERDICTS_KEPT = 10_000


class AccessDenied:
    """One refused call, for the record."""

    def __init__(self, role: ExecutionRole, action: str, resource: str, verdict: str) -> None:
        self.function, self.action, self.resource, self.verdict = (
            role.function_logical_id,
            action,
            resource,
            verdict,
        )
        self.message = (
            f"User: {role.session_arn} is not authorized to perform: {action} on resource: {resource} "
            + (
                "with an explicit deny in an identity-based policy"
                if verdict == EXPLICIT_DENY
                else f"because no identity-based policy allows the {action} action"
            )
        )


class RoleEnforcer:
    """Judges the functions' calls against their roles; `load` gives it the roles (after the stack loads)."""

    def __init__(self, region: str, account_id: str) -> None:
        self.region, self.account_id = region, account_id
        self._by_key: dict[str, ExecutionRole] = {}
        self.denied: list[AccessDenied] = []
        self._noted: set[str] = set()
        self._lock = threading.Lock()
        # IAM's verdict is a function of the role's documents, the action, the resource and the request
        # context, which here varies only by region; a function asks the same few again and again.
        self._verdicts: dict[tuple[str, str, str, str], Decision] = {}

    def load(self, roles: Mapping[str, ExecutionRole]) -> None:
        self._by_key = {role.access_key_id: role for role in roles.values()}
        self._verdicts = {}  # other documents: other verdicts

    def load_stack(self, stack: Any) -> list[str]:
        """The roles of a loaded template (localfaas.template.Stack); returns what could not be read."""
        roles, warnings = execution_roles(stack)
        self.load(roles)
        return warnings

    def install_in_process(self) -> Callable[[], None]:
        """Judge the calls made in this process too (the in-process runtime); returns what undoes it."""
        return sdk_hooks.install_in_process(self.judge, "roles")

    def credentials_env(self, function: Any) -> dict[str, str]:
        """The credentials a function's environment gets (nothing for a function without a known role)."""
        role = next((r for r in self._by_key.values() if r.function_logical_id == function.logical_id), None)
        return role.credentials_env() if role is not None else {}

    def judge(self, call: SdkCall) -> Answer | None:
        role = self._by_key.get(call.access_key_id or "")
        if role is None or call.from_localfaas:
            return None
        asked = requested(call, self.region, self.account_id)
        if not asked:
            return None
        context = {
            "aws:PrincipalArn": role.role_arn,
            "aws:PrincipalAccount": self.account_id,
            "aws:RequestedRegion": call.region or self.region,
            "aws:SecureTransport": "true",
        }
        for action, resource in asked:
            decision = self._verdict(role, action, resource, context)
            for statement in decision.unevaluated:
                self._note(
                    f"{role.function_logical_id}: statement {statement} of its role has a condition or policy "
                    "variable localfaas cannot evaluate: an Allow of it grants nothing, a Deny of it applies"
                )
            if not decision.allowed:
                denied = AccessDenied(role, action, resource, decision.verdict)
                with self._lock:
                    self.denied.append(denied)
                self._note(denied.message)  # once per function, action and resource
                return access_denied(call.api or "", denied.message)
        return None

    def _verdict(self, role: ExecutionRole, action: str, resource: str, context: dict[str, str]) -> Decision:
        key = (role.access_key_id, action, resource, context["aws:RequestedRegion"])
        verdicts = self._verdicts
        decision = verdicts.get(key)
        if decision is None:
            decision = evaluate(role.documents, action, resource, context)
            if len(verdicts) >= _VERDICTS_KEPT:  # resources named per object (S3 keys) come and go
                verdicts.clear()
            verdicts[key] = decision
        return decision

    def decide(self, headers: Any, path: str, body: bytes = b"") -> Answer | None:
        """The events endpoint's guard: a PutEvents (or anything it forwards) judged as a call."""
        return self.judge(SdkCall("POST", f"http://localhost{path}", dict(headers.items()), body))

    def wsgi(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        return wsgi_middleware(self.judge)(app)

    def _note(self, warning: str) -> None:
        with self._lock:
            if warning in self._noted:
                return
            self._noted.add(warning)
        log.warning("%s", warning)


def _json(version: str, type_name: str, message: str, *extra: tuple[str, str]) -> Answer:
    body = json.dumps({"__type": type_name, "message": message}).encode()
    return 400, [("Content-Type", f"application/x-amz-json-{version}"), *extra], body


def _rest_json(message: str) -> Answer:
    body = json.dumps({"Type": "User", "message": message}).encode()
    return 403, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException")], body


def _query(namespace: str, code: str, message: str) -> Answer:
    body = (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{_xml(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return 403, [("Content-Type", "text/xml")], body.encode()


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def access_denied(service: str, message: str) -> Answer:
    """`service`'s AccessDenied answer (the client's service name; SES's API v2 is "sesv2")."""
    if service == "dynamodb":
        status, headers, body = _json(
            "1.0", "com.amazonaws.dynamodb.v20120810#AccessDeniedException", message
        )
    elif service == "sqs":
        status, headers, body = _json(
            "1.0",
            "com.amazonaws.sqs#AccessDeniedException",
            message,
            ("x-amzn-query-error", "AccessDenied;Sender"),
        )
    elif service == "sns":
        status, headers, body = _query(
            "http://sns.amazonaws.com/doc/2010-03-31/", "AuthorizationError", message
        )
    elif service == "ses":
        status, headers, body = _query("http://ses.amazonaws.com/doc/2010-12-01/", "AccessDenied", message)
    elif service == "s3":
        request_id = uuid.uuid4().hex.upper()[:16]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            f"<Message>{_xml(message)}</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        status, headers = 403, [("Content-Type", "application/xml")]
    elif service in ("sesv2", "lambda"):
        status, headers, body = _rest_json(message)
    else:  # events, secretsmanager, kinesis
        status, headers, body = _json("1.1", "AccessDeniedException", message)
    request_id = str(uuid.uuid4())
    return status, [*headers, ("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))], body


# Whether LocalStack enforces the execution roles unless told (`--enforce-roles/--no-enforce-roles`).
# On: a policy too narrow should fail locally, as it fails on AWS, not first in the cloud; an app
# whose functions have no Policies is refused each AWS call, the action and resource named.
ENFORCE_ROLES_DEFAULT = True


def enforcer_for(
    enabled: bool, backend: Any, region: str, account_id: str
) -> tuple[RoleEnforcer | None, str | None]:
    """The enforcer a stack on `backend` (a name or a Backend) gets, and what to say about it once."""
    if not enabled:
        return None, None
    kind = backend if isinstance(backend, str) else getattr(backend, "kind", "")
    if kind == "localstack":
        return None, (
            "execution roles are not enforced on the LocalStack backend (--enforce-roles needs moto): "
            "every function's call is allowed"
        )
    if kind == "aws":
        return None, None  # IAM itself enforces them, with the user's own credentials
    enforcer = RoleEnforcer(region, account_id)
    if kind == "moto" and type(backend).__name__ == "RemoteMotoBackend":  # another process's server
        return enforcer, (
            "execution roles are enforced only for the calls made in this process: the moto server "
            "runs in another one, without localfaas's check in front of it"
        )
    return enforcer, None
