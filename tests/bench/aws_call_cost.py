"""The cost of one AWS call answered by moto in this process, and of its pieces (issue 15, target 5).

What a function's call costs when the in-process runtime's moto answers it (localfaas.local_stack
with the in-process runtime on moto): the calls the business day makes most, each timed with
localfaas's cuts (localfaas.moto_in_process, localfaas.in_process_signing, the role enforcement's
kept verdicts) against the same call on moto as it is, the two interleaved in one process, on one
table, bucket and identity. Then the pieces those cuts replace, each against the code it replaces on
the same input: the signature, moto's routing of a request, the parse of an update expression, the
lexing of a condition expression, the role judge's verdict. No targets: the end-to-end rate is the
target (tests.bench.end_to_end); these say where a call's time goes and what each cut is worth.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.bench.harness import Figure, Sizes, compared, failed, interleaved

NAME = "aws_call_cost"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/bench-role"
# The role a function of the business day has, in the shape that matters here: a few statements.
POLICY = {
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:*"],
            "Resource": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/*",
        },
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::*/*"},
        {"Effect": "Allow", "Action": ["ses:SendEmail"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["events:PutEvents"], "Resource": "*"},
    ]
}


@contextlib.contextmanager
def _aws(*enforcers: Any) -> Iterator[Any]:
    """moto's in-process mock with the bench's resources, and a session as a function has one."""
    import boto3
    from moto import mock_aws

    from localfaas.execution_roles import ExecutionRole

    role = ExecutionRole("Bench", "bench", ROLE_ARN, (POLICY,), ACCOUNT)
    for enforcer in enforcers:
        enforcer.load({"Bench": role})
    env = role.credentials_env()
    with mock_aws(), _environ({"AWS_DEFAULT_REGION": "us-east-1"}):
        session = boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env["AWS_SESSION_TOKEN"],
            region_name="us-east-1",
        )
        # Made with keys no role has (not judged): the function's role is for its calls, not the bench's.
        setup = boto3.session.Session(
            aws_access_key_id="bench-setup", aws_secret_access_key="bench", region_name="us-east-1"
        )
        ddb = setup.client("dynamodb")
        ddb.create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        setup.client("s3").create_bucket(Bucket="bench-archive")
        setup.client("ses").verify_email_identity(EmailAddress="shop@example.com")
        yield session


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _operations(session: Any) -> dict[str, Callable[[int], object]]:
    """The day's commonest calls, as its functions make them (Powertools idempotency's put and
    update, a reaction's read, the audit archive's put, a confirmation email)."""
    ddb, s3, ses = session.client("dynamodb"), session.client("s3"), session.client("ses")

    def put_item(i: int) -> object:
        return ddb.put_item(
            TableName="bench",
            Item={"id": {"S": f"p-{i}"}, "status": {"S": "INPROGRESS"}, "expiration": {"N": "1"}},
            ConditionExpression="attribute_not_exists(#id) OR #expiry < :now",
            ExpressionAttributeNames={"#id": "id", "#expiry": "expiration"},
            ExpressionAttributeValues={":now": {"N": "0"}},
        )

    def update_item(i: int) -> object:
        return ddb.update_item(
            TableName="bench",
            Key={"id": {"S": f"u-{i % 50}"}},
            UpdateExpression="SET #response_data = :response_data, #expiry = :expiry, #status = :status",
            ExpressionAttributeNames={"#response_data": "data", "#expiry": "expiration", "#status": "status"},
            ExpressionAttributeValues={
                ":response_data": {"S": '{"ok": true}'},
                ":expiry": {"N": str(i)},
                ":status": {"S": "COMPLETED"},
            },
        )

    def get_item(i: int) -> object:
        return ddb.get_item(TableName="bench", Key={"id": {"S": f"u-{i % 50}"}})

    def put_object(i: int) -> object:
        return s3.put_object(Bucket="bench-archive", Key=f"audit/{i}.json", Body=b'{"event": "x"}' * 20)

    def send_email(i: int) -> object:
        return ses.send_email(
            Source="shop@example.com",
            Destination={"ToAddresses": [f"customer-{i}@example.com"]},
            Message={"Subject": {"Data": "Welcome"}, "Body": {"Text": {"Data": "Your account is ready."}}},
        )

    return {
        "dynamodb.PutItem": put_item,
        "dynamodb.UpdateItem": update_item,
        "dynamodb.GetItem": get_item,
        "s3.PutObject": put_object,
        "ses.SendEmail": send_email,
    }


class _Cuts:
    """localfaas's in-process cuts, on or off: on, as a stack installs them; off, moto as it is and a
    judge that evaluates the role's policies on every call."""

    def __init__(self) -> None:
        from localfaas import moto_in_process
        from localfaas.role_enforcement import RoleEnforcer, evaluate

        class EvaluatingEveryCall(RoleEnforcer):
            def _verdict(self, role: Any, action: str, resource: str, context: dict[str, str]) -> Any:
                return evaluate(role.documents, action, resource, context)

        self.enforcer = RoleEnforcer("us-east-1", ACCOUNT)
        self.evaluating = EvaluatingEveryCall("us-east-1", ACCOUNT)
        self._moto = moto_in_process
        self._undo: list[Callable[[], None]] = []
        self._judge: Any = self.evaluating

    def judge(self, call: Any) -> Any:
        return self._judge.judge(call)

    def on(self) -> None:
        from localfaas import in_process_signing

        self._undo = [self._moto.install(), in_process_signing.install()]
        self._judge = self.enforcer

    def off(self) -> None:
        while self._undo:
            self._undo.pop()()
        self._judge = self.evaluating


def run(sizes: Sizes, workdir: Path) -> list[Figure]:
    from localfaas import sdk_hooks

    calls = max(10, sizes.invoke_calls // 20)
    runs = max(2, sizes.invoke_runs)
    cuts = _Cuts()
    figures: list[Figure] = []
    uninstall = sdk_hooks.install_in_process(cuts.judge, "roles")
    try:
        with _aws(cuts.enforcer, cuts.evaluating) as session:
            ids = itertools.count()
            for name, operation in _operations(session).items():
                try:
                    figures.append(_call_figure(name, operation, cuts, ids, calls=calls, runs=runs))
                except Exception as error:
                    figures.append(failed(NAME, f"{NAME}.{name}", name, error))
            figures.extend(_piece_figures(session, cuts, calls=calls * 10, runs=runs))
    finally:
        cuts.off()
        uninstall()
    return figures


def _call_figure(
    name: str, operation: Callable[[int], object], cuts: _Cuts, ids: Any, *, calls: int, runs: int
) -> Figure:
    def batch(switch: Callable[[], None]) -> Callable[[], None]:
        def work() -> None:
            switch()
            try:
                for _ in range(calls):
                    operation(next(ids))
            finally:
                cuts.off()

        return work

    subject, baseline = interleaved(batch(cuts.on), batch(cuts.off), runs=runs)
    return compared(
        NAME,
        f"{NAME}.{name}",
        f"{name} answered by moto in this process, with localfaas's in-process cuts",
        subject=subject,
        baseline=baseline,
        baseline_name="the same call on moto as it is, signed with SigV4, judged by evaluating the policies",
        per=calls,
        unit="µs",
        item="call",
        context={"calls_per_run": calls},
    )


def _piece_figures(session: Any, cuts: _Cuts, *, calls: int, runs: int) -> list[Figure]:
    pieces = {
        "sign": (
            _sign_pieces,
            "SigV4 of a DynamoDB request: its scope only",
            "botocore's SigV4Auth.add_auth",
        ),
        "route": (
            _route_pieces,
            "moto's stubber on a GetItem: routed per host",
            "moto's own process_request",
        ),
        "update_expression": (
            _update_expression_pieces,
            "an UpdateItem's expression parsed (kept by string)",
            "moto's UpdateExpressionParser.make",
        ),
        "condition_lexing": (
            _condition_pieces,
            "a PutItem's condition expression lexed (kept by string)",
            "moto's ConditionExpressionParser lexer",
        ),
        "judge": (
            _judge_pieces,
            "the role judge on a PutItem (verdicts kept)",
            "the judge evaluating the policies",
        ),
    }
    figures = []
    for piece, (make, description, baseline_name) in pieces.items():
        try:
            subject_work, baseline_work = make(session, cuts)

            def repeat(work: Callable[[], object]) -> Callable[[], None]:
                def many() -> None:
                    for _ in range(calls):
                        work()

                return many

            subject, baseline = interleaved(repeat(subject_work), repeat(baseline_work), runs=runs)
            figures.append(
                compared(
                    NAME,
                    f"{NAME}.piece.{piece}",
                    description,
                    subject=subject,
                    baseline=baseline,
                    baseline_name=baseline_name,
                    per=calls,
                    unit="µs",
                    item="call",
                )
            )
        except Exception as error:
            figures.append(failed(NAME, f"{NAME}.piece.{piece}", description, error))
    return figures


def _dynamodb_request(target: str, body: bytes) -> Any:
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(
        method="POST",
        url="https://dynamodb.us-east-1.amazonaws.com/",
        data=body,
        headers={"X-Amz-Target": f"DynamoDB_20120810.{target}", "Content-Type": "application/x-amz-json-1.0"},
    )
    request.context = {}
    return request


def _sign_pieces(session: Any, cuts: _Cuts) -> tuple[Callable[[], object], Callable[[], object]]:
    from botocore.auth import SigV4Auth

    from localfaas import in_process_signing

    credentials = session.get_credentials().get_frozen_credentials()
    body = b'{"TableName": "bench", "Key": {"id": {"S": "u-1"}}}'
    cheap = in_process_signing._signers()["v4"]

    def scope_only() -> object:
        return cheap(credentials, "dynamodb", "us-east-1").add_auth(_dynamodb_request("GetItem", body))

    def sigv4() -> object:
        return SigV4Auth(credentials, "dynamodb", "us-east-1").add_auth(_dynamodb_request("GetItem", body))

    return scope_only, sigv4


def _route_pieces(session: Any, cuts: _Cuts) -> tuple[Callable[[], object], Callable[[], object]]:
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.core.models import botocore_stubber

    from localfaas import moto_in_process

    original = vars(BotocoreStubber)["process_request"]
    body = b'{"TableName": "bench", "Key": {"id": {"S": "u-1"}}}'
    prepared = _dynamodb_request("GetItem", body).prepare()

    def routed() -> object:
        return moto_in_process._ROUTES.process_request(prepared)

    def moto_as_is() -> object:
        return original(botocore_stubber, prepared)

    return routed, moto_as_is


def _update_expression_pieces(session: Any, cuts: _Cuts) -> tuple[Callable[[], object], Callable[[], object]]:
    import functools

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    expression = "SET #response_data = :response_data, #expiry = :expiry, #status = :status"
    make = UpdateExpressionParser.make
    kept = functools.lru_cache(maxsize=16)(make)
    return (lambda: kept(expression)), (lambda: make(expression))


def _condition_pieces(session: Any, cuts: _Cuts) -> tuple[Callable[[], object], Callable[[], object]]:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    from localfaas import moto_in_process

    expression = "attribute_not_exists(#id) OR #expiry < :now"
    lexer = ConditionExpressionParser(
        expression, {"#id": "id", "#expiry": "expiration"}, {":now": {"N": "0"}}
    )
    undo = moto_in_process.install()
    try:
        kept = vars(ConditionExpressionParser)["_lex_condition_expression"]
    finally:
        undo()
    original = vars(ConditionExpressionParser)["_lex_condition_expression"]
    return (lambda: kept(lexer)), (lambda: original(lexer))


def _judge_pieces(session: Any, cuts: _Cuts) -> tuple[Callable[[], object], Callable[[], object]]:
    from botocore.awsrequest import AWSResponse

    from localfaas.sdk_hooks import SdkCall

    ddb = session.client("dynamodb")
    seen: list[SdkCall] = []

    class Empty:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield b"{}"

    def take(request: Any, **_: Any) -> Any:
        seen.append(SdkCall(request.method, request.url, request.headers, request.body))
        return AWSResponse(request.url, 200, {}, Empty())

    ddb.meta.events.register_first("before-send", take)
    ddb.put_item(TableName="bench", Item={"id": {"S": "judged"}})
    call = seen[0]
    return (lambda: cuts.enforcer.judge(call)), (lambda: cuts.evaluating.judge(call))


if __name__ == "__main__":  # python -m tests.bench.aws_call_cost [--quick]
    import sys
    import tempfile

    from tests.bench.harness import FULL, QUICK

    chosen = QUICK if "--quick" in sys.argv else FULL
    with tempfile.TemporaryDirectory() as directory:
        for figure in run(chosen, Path(directory)):
            if figure.status != "measured":
                print(f"{figure.name}: {figure.status}: {figure.reason}")
                continue
            base = figure.baseline or {}
            print(
                f"{figure.name:42} {figure.value:8.1f} {figure.unit}  against {base.get('value', 0):8.1f}"
                f"  ratio {figure.ratio:.2f}"
            )
