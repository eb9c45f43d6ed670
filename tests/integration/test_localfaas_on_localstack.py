"""What broke when localfaas ran the storefront on LocalStack (issue 13), each on the session's
LocalStack: the sender's identity, the account `invoke` signs in, and a second stack in another
account from the same process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from localfaas.backend import LocalStackBackend
from localfaas.local_stack import LocalStack
from tests.support.localstack import account_for
from tests.support.stack import EVENTS, ROOT, TEMPLATE

pytestmark = [pytest.mark.slow, pytest.mark.localstack]
SAMPLE = EVENTS / "create_account" / "account-requested.json"


def backend(localstack, scope: str) -> LocalStackBackend:
    return LocalStackBackend(localstack.endpoint_url, account_id=account_for(f"{__name__}/{scope}"))


def stack_on(backend: LocalStackBackend, tmp_path, name: str) -> LocalStack:
    database = tmp_path / f"{name}.db"
    return LocalStack(
        TEMPLATE,
        backend=backend,
        account_id=backend.account_id,
        stack_name=name,
        environment={"ProjectSql": {"DATABASE_URL": f"sqlite:///{database}"}},
    )


def accounts(stack: LocalStack) -> list[dict]:
    table = stack.physical_name("AccountsTable")
    return stack.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]


def test_the_senders_identity_is_created_so_confirmation_emails_are_sent(localstack, tmp_path):
    # LocalStack answers GetIdentityVerificationAttributes "Success" for an identity it never had,
    # and then rejects the email: provisioning must have created it.
    on = backend(localstack, "ses")
    with stack_on(on, tmp_path, "ses-check") as stack:
        [identity] = stack.template.resources_of_type("AWS::SES::EmailIdentity")
        sender = identity.properties["EmailIdentity"]
        result = stack.invoke("CreateAccount", json.loads(SAMPLE.read_text()))
        assert stack.run_until_idle(), "AccountCreated's confirmation did not settle"

        assert result.ok, result.error
        assert result.payload == {"batchItemFailures": []}
        assert sender in stack.client("ses").list_identities()["Identities"]
        assert stack.report().metric("ses.sent") == 1


def test_a_second_stack_in_another_account_writes_into_its_own(localstack, tmp_path):
    first_backend, second_backend = backend(localstack, "first"), backend(localstack, "second")
    event = json.loads(SAMPLE.read_text())
    with stack_on(first_backend, tmp_path, "accounts") as first:
        assert first.invoke("CreateAccount", event).ok
        with stack_on(second_backend, tmp_path, "accounts") as second:
            # The same stack name, the same request: only the account tells the two stacks apart.
            assert second.invoke("CreateAccount", event).ok
            assert second.run_until_idle(), "AccountCreated's confirmation did not settle"

            assert len(accounts(first)) == 1
            assert len(accounts(second)) == 1
            assert second.report().metric("ses.sent") == 1


def test_invoke_with_an_endpoint_signs_as_the_env_vars_file_says(localstack, tmp_path):
    on = backend(localstack, "invoke")
    with stack_on(on, tmp_path, "localfaas") as stack:  # invoke's stack name
        env_vars = tmp_path / "env.json"
        env_vars.write_text(json.dumps({"Parameters": {"AWS_ACCESS_KEY_ID": on.account_id}}))
        command = [sys.executable, "-m", "localfaas.cli", "invoke", "CreateAccount", "-e", str(SAMPLE)]
        command += ["--endpoint-url", localstack.endpoint_url, "-n", str(env_vars), "--runtime", "in-process"]

        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False, env=dict(os.environ)
        )

        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        assert json.loads(done.stdout) == {"batchItemFailures": []}
        assert len(accounts(stack)) == 1
