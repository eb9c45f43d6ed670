"""IAM's evaluation logic: explicit deny wins, then an allow, else implicit deny; the matching rules of
Action/NotAction and Resource/NotResource; conditions, and what cannot be evaluated failing closed."""

from __future__ import annotations

import pytest

from localfaas.iam_policy import ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY, evaluate

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/Accounts"


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource, **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def verdict(documents, action="dynamodb:UpdateItem", resource=TABLE, context=None):
    return evaluate(documents, action, resource, context).verdict


def test_an_allow_on_the_resource_allows_and_nothing_else_does():
    documents = [policy(allow(["dynamodb:UpdateItem"], TABLE))]
    assert verdict(documents) == ALLOWED
    assert verdict(documents, action="dynamodb:Scan") == IMPLICIT_DENY
    assert verdict(documents, resource=TABLE + "2") == IMPLICIT_DENY
    assert verdict([]) == IMPLICIT_DENY


def test_an_explicit_deny_wins_over_an_allow_in_another_policy():
    documents = [
        policy(allow("dynamodb:*", "*")),
        policy({"Effect": "Deny", "Action": "dynamodb:UpdateItem", "Resource": TABLE}),
    ]
    assert verdict(documents) == EXPLICIT_DENY
    assert verdict(documents, action="dynamodb:GetItem") == ALLOWED


def test_action_names_are_case_insensitive_resources_are_not():
    documents = [policy(allow("DynamoDB:updateitem", TABLE))]
    assert verdict(documents) == ALLOWED
    assert verdict(documents, resource=TABLE.lower()) == IMPLICIT_DENY


def test_wildcards_star_and_question_mark():
    documents = [policy(allow("dynamodb:*Item", "arn:aws:dynamodb:*:123456789012:table/Account?"))]
    assert verdict(documents) == ALLOWED
    assert verdict(documents, action="dynamodb:Query") == IMPLICIT_DENY
    assert verdict(documents, resource=TABLE + "/index/ByEmail") == IMPLICIT_DENY  # ? is one character
    star = [policy(allow("s3:PutObject", "arn:aws:s3:::audit/*"))]
    assert verdict(star, "s3:PutObject", "arn:aws:s3:::audit/2026/11/25/a.json") == ALLOWED
    assert verdict(star, "s3:PutObject", "arn:aws:s3:::auditX/a.json") == IMPLICIT_DENY


def test_a_dot_in_a_pattern_is_a_dot():
    documents = [policy(allow("ses:SendEmail", "arn:aws:ses:us-east-1:123456789012:identity/a@b.com"))]
    assert verdict(documents, "ses:SendEmail", "arn:aws:ses:us-east-1:123456789012:identity/a@bxcom") == (
        IMPLICIT_DENY
    )


def test_not_action_allows_every_other_action():
    documents = [policy({"Effect": "Allow", "NotAction": "dynamodb:Scan", "Resource": "*"})]
    assert verdict(documents) == ALLOWED
    assert verdict(documents, action="dynamodb:Scan") == IMPLICIT_DENY


def test_not_resource_matches_every_other_resource():
    documents = [policy({"Effect": "Allow", "Action": "dynamodb:*", "NotResource": TABLE})]
    assert verdict(documents) == IMPLICIT_DENY
    assert verdict(documents, resource=TABLE + "Archive") == ALLOWED
    deny_elsewhere = [
        policy(allow("dynamodb:*", "*"), {"Effect": "Deny", "Action": "dynamodb:*", "NotResource": TABLE})
    ]
    assert verdict(deny_elsewhere) == ALLOWED
    assert verdict(deny_elsewhere, resource=TABLE + "Archive") == EXPLICIT_DENY


def test_a_single_statement_object_is_read_as_a_list_of_one():
    assert verdict([{"Statement": allow("dynamodb:UpdateItem", TABLE)}]) == ALLOWED


CONTEXT = {"aws:RequestedRegion": "us-east-1", "aws:PrincipalAccount": "123456789012"}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, ALLOWED),
        ({"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}, ALLOWED),  # values ORed
        ({"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}, IMPLICIT_DENY),
        ({"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}, ALLOWED),
        ({"StringLike": {"aws:RequestedRegion": "us-*"}}, ALLOWED),
        ({"StringEqualsIgnoreCase": {"AWS:requestedregion": "US-EAST-1"}}, ALLOWED),
        (  # keys and operators ANDed
            {
                "StringEquals": {"aws:RequestedRegion": "us-east-1"},
                "StringNotEquals": {"aws:PrincipalAccount": "123456789012"},
            },
            IMPLICIT_DENY,
        ),
        ({"Null": {"aws:RequestedRegion": "false"}}, ALLOWED),
    ],
)
def test_conditions_on_the_keys_of_the_request_context(condition, expected):
    documents = [policy(allow("dynamodb:UpdateItem", TABLE, Condition=condition))]
    assert verdict(documents, context=CONTEXT) == expected


def test_an_allow_whose_condition_fails_is_not_a_deny():
    documents = [
        policy(
            allow(
                "dynamodb:UpdateItem", TABLE, Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
            ),
            allow("dynamodb:UpdateItem", TABLE),
        )
    ]
    assert verdict(documents, context=CONTEXT) == ALLOWED


def test_what_cannot_be_evaluated_fails_closed_and_is_named():
    unknown_key = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    allowed_if = [policy(allow("dynamodb:UpdateItem", TABLE, Sid="FromTheOffice", Condition=unknown_key))]
    decision = evaluate(allowed_if, "dynamodb:UpdateItem", TABLE, CONTEXT)
    assert decision.verdict == IMPLICIT_DENY
    assert decision.unevaluated == ("FromTheOffice",)
    denied_if = [
        policy(
            allow("dynamodb:*", "*"),
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:ViaAWSService": "true"}},
            },
        )
    ]
    assert verdict(denied_if, context=CONTEXT) == EXPLICIT_DENY
    variable = [policy(allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"))]
    assert verdict(variable, "s3:GetObject", "arn:aws:s3:::home/ana/a") == IMPLICIT_DENY


def test_a_statement_for_another_action_is_never_evaluated_for_its_condition():
    documents = [
        policy(
            allow("dynamodb:UpdateItem", TABLE),
            {
                "Effect": "Deny",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4"}},
            },
        )
    ]
    decision = evaluate(documents, "dynamodb:UpdateItem", TABLE, CONTEXT)
    assert decision.verdict == ALLOWED and decision.unevaluated == ()
