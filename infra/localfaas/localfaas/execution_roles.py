"""Each function's execution role, as the stack would create it, and the credentials that name it.

A function's `Role` is the ARN of an AWS::IAM::Role of the template (what SAM makes of a function's
`Policies`: one role per function, its statements inline under `Policies`, the AWS managed policies
it attaches under `ManagedPolicyArns`) or an ARN from outside the template. Its permissions are the
union of its identity-based policies: the role's inline `Policies`, the AWS::IAM::Policy resources
that name it in `Roles`, and its managed policies (the template's AWS::IAM::ManagedPolicy resources
by ARN or by `Roles`, and AWS managed policies, whose documents come from the copy moto bundles,
moto.iam.aws_managed_policies, as they stood when that moto was released).
https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-iam-role.html

Lambda gives a function its role's temporary credentials (an `ASIA...` access key id, a secret and a
session token) in its environment; here each function's access key id is a digest of its role ARN
and function name, so that localfaas.role_enforcement knows, from a call's signature alone, whose
call it is, in this process or another. A role from outside the template, or an unknown managed
policy, cannot be read: said once (`warnings`), the first not enforced, the second granting nothing.
Not emulated: permissions boundaries, session policies, resource-based policies (queue, topic,
bucket, key policies), service control policies.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["ExecutionRole", "access_key_id", "credentials_env", "execution_roles"]

_AWS_MANAGED = "arn:aws:iam::aws:policy/"
_SECRET = "localfaas-role"  # noqa: S105 - the local backends accept any secret; this one is not a secret


@dataclass(frozen=True)
class ExecutionRole:
    """One function's role: its ARN, its identity-based policy documents, its credentials."""

    function_logical_id: str
    function_name: str
    role_arn: str
    documents: tuple[Mapping[str, Any], ...]
    account_id: str

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]

    @property
    def session_arn(self) -> str:
        """Who the function's calls come from: Lambda names the role's session after the function."""
        return f"arn:aws:sts::{self.account_id}:assumed-role/{self.role_name}/{self.function_name}"

    @property
    def access_key_id(self) -> str:
        return access_key_id(self.role_arn, self.function_name)

    def credentials_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": _SECRET,
            "AWS_SESSION_TOKEN": _SECRET,
        }


def access_key_id(role_arn: str, function_name: str) -> str:
    """20 characters, as AWS's: ASIA (temporary credentials) and 16 of a digest of role and function."""
    digest = hashlib.sha256(f"{role_arn}\n{function_name}".encode()).digest()
    return "ASIA" + base64.b32encode(digest).decode()[:16]


def execution_roles(stack: Any) -> tuple[dict[str, ExecutionRole], list[str]]:
    """{function logical id: its role} for the functions whose role the template defines, and what
    could not be read (one line each)."""
    roles: dict[str, ExecutionRole] = {}
    warnings: list[str] = []
    for spec in stack.functions.values():
        logical_id = spec.logical_id
        role_id, resource = _template_role(stack, logical_id)
        if role_id is None:
            role = (stack.resources.get(logical_id) or {}).get("Properties", {}).get("Role")
            warnings.append(
                f"{logical_id}: its Role {role!r} is not a role of the template: its calls are not "
                "checked against a role"
            )
            continue
        documents = _documents(stack, role_id, resource, warnings)
        role_arn = str(stack.resources[logical_id]["Properties"]["Role"])
        roles[logical_id] = ExecutionRole(
            logical_id, spec.function_name, role_arn, documents, stack.account_id
        )
    return roles, warnings


def credentials_env(stack: Any, logical_id: str) -> dict[str, str]:
    """What the function signs with, as its ExecutionRole.credentials_env gives it (nothing for a role
    from outside the template), without reading the role's policies: a process that only runs the
    function (`localfaas invoke`) names its role, and the stack that judges its calls reads them."""
    role_id, _ = _template_role(stack, logical_id)
    if role_id is None:
        return {}
    role_arn = str(stack.resources[logical_id]["Properties"]["Role"])
    function_name = stack.functions[logical_id].function_name
    return ExecutionRole(logical_id, function_name, role_arn, (), stack.account_id).credentials_env()


def _template_role(stack: Any, logical_id: str) -> tuple[str | None, Mapping[str, Any]]:
    """(logical id, resource) of the function's role when it is an AWS::IAM::Role of the template."""
    raw = stack.template.get("Resources") or {}
    role_id = _logical_id_of(raw.get(logical_id, {}).get("Properties", {}).get("Role"))
    resource = stack.resources.get(role_id) if role_id else None
    if not resource or resource.get("Type") != "AWS::IAM::Role":
        return None, {}
    return role_id, resource


def _logical_id_of(expression: Any) -> str | None:
    if isinstance(expression, dict):
        if "Fn::GetAtt" in expression:
            target = expression["Fn::GetAtt"]
            return str((target if isinstance(target, list) else str(target).split("."))[0])
        if "Ref" in expression:
            return str(expression["Ref"])
    return None


def _documents(
    stack: Any, role_id: str, role: Mapping[str, Any], warnings: list[str]
) -> tuple[Mapping[str, Any], ...]:
    properties = role.get("Properties", {})
    documents = [p["PolicyDocument"] for p in properties.get("Policies") or [] if "PolicyDocument" in p]
    managed = [str(arn) for arn in properties.get("ManagedPolicyArns") or []]
    raw = stack.template.get("Resources") or {}
    for logical_id, resource in stack.resources.items():
        kind = resource.get("Type")
        if kind not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        names_role = any(
            _logical_id_of(r) == role_id
            for r in raw.get(logical_id, {}).get("Properties", {}).get("Roles") or []
        )
        attached = kind == "AWS::IAM::ManagedPolicy" and _managed_arn(stack, logical_id) in managed
        if names_role or attached:
            documents.append(resource["Properties"]["PolicyDocument"])
            if attached:
                managed.remove(_managed_arn(stack, logical_id))
    for arn in managed:
        document = _aws_managed(arn)
        if document is None:
            warnings.append(
                f"{role_id}: managed policy {arn} is unknown to localfaas: it grants nothing here"
            )
        else:
            documents.append(document)
    return tuple(documents)


def _managed_arn(stack: Any, logical_id: str) -> str:
    from localfaas.intrinsics import TemplateError

    try:
        return str(stack.resolver.ref(logical_id, ("Resources", logical_id)))
    except TemplateError:  # a type whose Ref localfaas does not know: matched by its Roles only
        return ""


@lru_cache(maxsize=256)
def _aws_managed(arn: str) -> Mapping[str, Any] | None:
    if not arn.startswith(_AWS_MANAGED):
        return None
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    policy = _managed_data(aws_managed_policies_data).get(arn.rsplit("/", 1)[-1])
    return policy["Document"] if policy else None


@lru_cache(maxsize=1)
def _managed_data(text: str) -> dict[str, Any]:
    return json.loads(text)
