"""Least privilege, enforced: each action a function's code needs (the table test_least_privilege
derives from the code) is one the function cannot do without. With that one action taken out of its
role on that one resource, the function run on its sample events under localfaas's role enforcement
is refused that call with AccessDenied.

The actions the Lambda service performs with the role, not the code (the MSK IAM-authentication
actions, the on-failure destinations' sqs:SendMessage), are not the function's calls: localfaas's
own mapping and invoker make them, unjudged. The business day under enforcement (tests/integration)
shows that the full roles are enough.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import replace

import pytest

from localfaas.execution_roles import execution_roles
from localfaas.local_stack import LocalStack
from localfaas.template import load_stack
from tests.contract.test_least_privilege import FUNCTIONS, _env, _functions, _name, _snake, code_needs
from tests.support.stack import EVENTS, TEMPLATE, sample_event

# What one sample-event run cannot make a function call, and why.
NOT_EXERCISED: dict[tuple[str, str], str] = {}


# The front door's producer signs in to MSK over the Kafka protocol (SASL/OAUTHBEARER); MSK checks
# these actions, and localfaas, which sees SDK calls, has no MSK to check them.
NOT_AN_SDK_CALL = "an MSK IAM-authentication action over the Kafka protocol, checked by MSK, not an SDK call"


def cases():
    template = load_stack(TEMPLATE)
    found = []
    for logical_id, function in _functions(template).items():
        needs = code_needs(FUNCTIONS / _snake(logical_id) / "app.py", _env(function))
        for resource, actions in sorted(needs.items()):
            for action in sorted(actions):
                marks = []
                if (action, resource) in NOT_EXERCISED:
                    marks = [pytest.mark.skip(reason=NOT_EXERCISED[(action, resource)])]
                elif action.startswith("kafka-cluster:"):
                    marks = [pytest.mark.skip(reason=NOT_AN_SDK_CALL)]
                found.append(
                    pytest.param(
                        logical_id, resource, action, id=f"{logical_id}-{action}-{resource}", marks=marks
                    )
                )
    return found


@pytest.fixture(scope="module")
def local_read_model(tmp_path_factory):
    database = tmp_path_factory.mktemp("read-model") / "read-model.db"
    environment = {"ProjectSql": {"DATABASE_URL": f"sqlite:///{database}"}}
    with LocalStack(TEMPLATE, enforce_roles=True, environment=environment) as running:
        yield running


@pytest.fixture
def stack(request, action):
    if action.startswith("secretsmanager:"):  # the Aurora settings, read at Init: no DATABASE_URL
        with LocalStack(TEMPLATE, enforce_roles=True) as running:
            yield running
    else:
        yield request.getfixturevalue("local_read_model")


def without(stack, logical_id: str, resource: str, action: str):
    """The stack's roles, with `action` taken out of `logical_id`'s role on `resource` alone."""
    roles, _ = execution_roles(stack.template)
    role = roles[logical_id]
    role_id = _name(stack.template.template["Resources"][logical_id]["Properties"]["Role"])
    raw_policies = stack.template.template["Resources"][role_id]["Properties"].get("Policies", [])
    documents = [copy.deepcopy(dict(d)) for d in role.documents]
    removed = 0
    for number, raw in enumerate(raw_policies):
        statements = []
        for raw_statement, statement in zip(
            raw["PolicyDocument"]["Statement"], documents[number]["Statement"], strict=True
        ):
            raw_resources = _listed(raw_statement.get("Resource"))
            actions = _listed(statement["Action"])
            if action not in actions or resource not in [_name(r) for r in raw_resources]:
                statements.append(statement)
                continue
            resources = _listed(statement["Resource"])
            kept = [r for r, raw_r in zip(resources, raw_resources, strict=True) if _name(raw_r) != resource]
            if kept:  # the other resources keep every action
                statements.append({**statement, "Resource": kept})
            if len(actions) > 1:
                target = [
                    r for r, raw_r in zip(resources, raw_resources, strict=True) if _name(raw_r) == resource
                ]
                statements.append(
                    {**statement, "Action": [a for a in actions if a != action], "Resource": target}
                )
            removed += 1
        documents[number]["Statement"] = statements
    assert removed, f"{logical_id}'s role has no statement granting {action} on {resource}"
    roles[logical_id] = replace(role, documents=tuple(documents))
    return roles


def _listed(value):
    return list(value) if isinstance(value, list) else [value]


def forget_everything(stack) -> None:
    """Every table emptied: what an earlier case did (idempotency records, orders placed) is not
    this one's to skip."""
    dynamodb = stack.client("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        keys = [k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                dynamodb.delete_item(TableName=table, Key={k: item[k] for k in keys})


def run_samples(stack, logical_id: str) -> None:
    for path in sorted((EVENTS / _snake(logical_id)).glob("*.json")):
        event = sample_event(f"{_snake(logical_id)}/{path.name}")
        for _ in range(2):  # a second delivery takes the idempotent path
            stack.invoke(logical_id, event)
    if logical_id == "ReorderLowStock":  # the stock counted again above its reorder point: received
        stack.invoke(
            logical_id, restocked(sample_event("reorder_low_stock/inventory-updated-low-stock.json"))
        )


def restocked(event):
    for records in event["records"].values():
        for record in records:
            update = json.loads(base64.b64decode(record["value"]))
            update.update(eventId=update["eventId"][:-1] + "9", onHand=update["reorderPoint"] + 100)
            record["value"] = base64.b64encode(json.dumps(update).encode()).decode()
            record["offset"] += 1
    return event


@pytest.mark.parametrize(("logical_id", "resource", "action"), cases())
def test_taking_one_needed_action_out_makes_the_function_fail_with_access_denied(
    stack, logical_id, resource, action
):
    full, _ = execution_roles(stack.template)
    stack.enforcer.load(without(stack, logical_id, resource, action))
    stack.enforcer.denied.clear()
    forget_everything(stack)
    try:
        run_samples(stack, logical_id)
    finally:
        stack.enforcer.load(full)
    refused = {(d.function, d.action) for d in stack.enforcer.denied}
    assert (logical_id, action) in refused, f"{logical_id} was never refused {action}: {refused or 'nothing'}"
    assert {d.function for d in stack.enforcer.denied} == {logical_id}
