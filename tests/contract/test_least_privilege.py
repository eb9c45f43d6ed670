"""Least privilege, proved: what each function's role grants equals what its code calls.

The needs are derived from the code with `ast`: each functions/*/app.py builds adapters at module
level (`AccountsTable(boto3.resource("dynamodb").Table(os.environ["ACCOUNTS_TABLE_NAME"]))`) and
calls their methods; each adapter method's boto3 calls (`self._table.update_item`) are read from
functions/common/storefront/adapters. A method name is its IAM action (update_item ->
dynamodb:UpdateItem), on the resource the template puts behind the environment variable. Added to
that: ProjectSql's secret read (storefront/read_model/database.py), what each MSK event source
mapping needs (the kafka-cluster IAM-authentication actions on its cluster, topics and consumer
groups; sqs:SendMessage to its on-failure destination), and what a front door function's producer
needs (`EventTopics(Producer(producer_config(...)), topic=...)`: Connect and WriteDataIdempotently
on the cluster, DescribeTopic and WriteData on the topic its environment names).

The grants are read from the template as aws-sam-translator expands it (localfaas's load_stack):
every inline statement of each function's role, resources reduced to the logical id (or topic /
group) they name. The test fails when a role grants more, or less, than the code needs.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from localfaas.template import load_stack

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
ADAPTERS = FUNCTIONS / "common" / "storefront" / "adapters"

MSK_CLUSTER_ACTIONS = {"kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration"}
MSK_TOPIC_ACTIONS = {"kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"}
MSK_GROUP_ACTIONS = {"kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"}
# An idempotent producer ("Common use cases for client authorization policy", Amazon MSK Developer Guide).
MSK_PRODUCER_CLUSTER_ACTIONS = {"kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"}
MSK_PRODUCER_TOPIC_ACTIONS = {"kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"}
# The parameter naming a producer's brokers -> the cluster (parameter) they belong to.
CLUSTER_OF_BROKERS = {"KafkaBootstrapServers": "KafkaClusterArn"}
# boto3 service name -> IAM prefix, where they differ.
IAM_PREFIX = {"events": "events", "secretsmanager": "secretsmanager"}
S3_OBJECT_ACTIONS = {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}
# Adapters whose resource is not given to their constructor: the environment variable it comes from.
RESOURCE_FROM_ENV = {"Mailer": "SENDER_EMAIL_ADDRESS"}
# AWS managed policies SAM attaches (logs, X-Ray, the MSK poller's network/describe calls, VPC ENIs).
ALLOWED_MANAGED = {
    "AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess",
    "AWSLambdaMSKExecutionRole",
    "AWSLambdaVPCAccessExecutionRole",
    "AWSLambdaSQSQueueExecutionRole",  # the SQS poller's receive/delete/get-attributes (SAM's Type: SQS)
}

# IAM authorizes TransactWriteItems per item, as the item's own action on its table, and
# SendMessageBatch as sqs:SendMessage (localfaas.iam_requests cites the Service Authorization Reference).
TRANSACT_ITEM_METHODS = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}
BATCH_AS_SINGLE = {"send_message_batch": "send_message"}
# Glue a handler hands its adapters to (storefront.lambda_glue), which calls them at the batch's end:
# class -> the adapter method each positional argument is called with.
BATCH_GLUE = {"BatchAnnouncements": ("announce_all",), "BatchMessages": ("announce_all", "send_all")}

Grants = dict[str, set[str]]  # resource -> actions


def _action(service: str, method: str) -> str:
    return f"{IAM_PREFIX.get(service, service)}:" + "".join(p.capitalize() for p in method.split("_"))


def adapter_calls() -> dict[str, dict[str, set[str]]]:
    """class name -> method -> boto3 methods it calls on self._table / self._client."""
    calls: dict[str, dict[str, set[str]]] = {}
    for path in ADAPTERS.glob("*.py"):
        for cls in ast.parse(path.read_text()).body:
            if not isinstance(cls, ast.ClassDef):
                continue
            methods = calls.setdefault(cls.name, {})
            for fn in cls.body:
                if not isinstance(fn, ast.FunctionDef):
                    continue
                methods[fn.name] = {
                    BATCH_AS_SINGLE.get(node.attr, node.attr)
                    for node in ast.walk(fn)
                    if isinstance(node, ast.Attribute)
                    and _on_self(node.value)
                    and node.attr not in ("meta", "name")  # the table's name; meta: see _transact_items
                } | _transact_items(fn)
            # A method calling another of its class (EventBus.announce -> announce_all) makes its calls.
            own = {
                fn.name: {
                    node.func.attr
                    for node in ast.walk(fn)
                    if isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "self"
                }
                for fn in cls.body
                if isinstance(fn, ast.FunctionDef)
            }
            for _ in own:  # to a fixed point: chains are no longer than the class's methods
                for name, others in own.items():
                    for other in others & methods.keys():
                        methods[name] |= methods[other]
    return calls


def _on_self(node: ast.AST) -> bool:
    """Whether `node` is self._table or self._client."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr in ("_table", "_client")
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def _transact_items(fn: ast.FunctionDef) -> set[str]:
    """The writes of the TransactWriteItems items a method builds on its own table:
    {"Put": {"TableName": self._table.name, ...}} is a put_item on self._table."""
    found = set()
    for node in ast.walk(fn):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values, strict=True):
            if (
                isinstance(key, ast.Constant)
                and key.value in TRANSACT_ITEM_METHODS
                and isinstance(value, ast.Dict)
            ):
                for k, v in zip(value.keys, value.values, strict=True):
                    if (
                        isinstance(k, ast.Constant)
                        and k.value == "TableName"
                        and getattr(v, "attr", None) == "name"
                        and _on_self(v.value)
                    ):
                        found.add(TRANSACT_ITEM_METHODS[key.value])
    return found


def _environ_keys(node: ast.AST) -> list[str]:
    return [
        n.slice.value
        for n in ast.walk(node)
        if isinstance(n, ast.Subscript)
        and (getattr(n.value, "attr", None) == "environ" or getattr(n.value, "id", None) == "environ")
        and isinstance(n.slice, ast.Constant)
    ]


def _service(node: ast.AST) -> str | None:
    """ "dynamodb" for boto3.resource("dynamodb").Table(...) / X.Table(...), "sqs" for boto3.client("sqs")."""
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            if n.func.attr == "Table":
                return "dynamodb"
            if n.func.attr == "client" and n.args and isinstance(n.args[0], ast.Constant):
                return n.args[0].value
    return None


def code_needs(app: Path, env: dict[str, str]) -> Grants:
    """What one function's code calls: resource (via the template's environment) -> actions."""
    tree = ast.parse(app.read_text())
    methods = adapter_calls()
    adapters: dict[str, tuple[str, str, str]] = {}  # variable -> (class, service, env var)
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name)
            and stmt.value.func.id in methods
        ):
            cls = stmt.value.func.id
            keys = _environ_keys(stmt.value) or [RESOURCE_FROM_ENV[cls]]
            adapters[stmt.targets[0].id] = (cls, _service(stmt.value), keys[0])
    needs: Grants = defaultdict(set)
    called = [  # (adapter variable, method) for each call of an adapter's method
        (node.func.value.id, node.func.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in adapters
    ]
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.value, ast.Call)
            and getattr(stmt.value.func, "id", None) in BATCH_GLUE
        ):
            glue = BATCH_GLUE[stmt.value.func.id]
            called += [
                (arg.id, method)
                for arg, method in zip(stmt.value.args, glue, strict=False)
                if isinstance(arg, ast.Name)
            ]
    for variable, method in called:
        if variable in adapters:
            cls, service, key = adapters[variable]
            for boto_method in methods[cls][method]:
                action = _action(service, boto_method)
                resource = env[key] + ("/*" if action in S3_OBJECT_ACTIONS else "")
                needs[resource].add(action)
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.value, ast.Call)
            and getattr(stmt.value.func, "id", None) == "EventTopics"
        ):
            brokers, *_ = _environ_keys(stmt.value.args[0])
            (topic,) = [k.value for k in stmt.value.keywords if k.arg == "topic"]
            needs[CLUSTER_OF_BROKERS[env[brokers]]] |= MSK_PRODUCER_CLUSTER_ACTIONS
            needs[f"topic:{env[_environ_keys(topic)[0]]}"] |= MSK_PRODUCER_TOPIC_ACTIONS
    source = app.read_text()
    if 'boto3.client("secretsmanager"' in source:
        database = FUNCTIONS / "common" / "storefront" / "read_model" / "database.py"
        for n in ast.walk(ast.parse(database.read_text())):
            if (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and n.func.attr == "get_secret_value"
            ):
                needs[env[_environ_keys(n)[0]]].add(_action("secretsmanager", "get_secret_value"))
    return needs


def _name(expr) -> str:
    """The logical id (or parameter, topic, group) a resource expression names."""
    if isinstance(expr, dict):
        if "Ref" in expr:
            return expr["Ref"]
        if "Fn::GetAtt" in expr:
            att = expr["Fn::GetAtt"]
            return (att if isinstance(att, list) else att.split("."))[0]
        if "Fn::Sub" in expr:
            sub = expr["Fn::Sub"]
            text = sub[0] if isinstance(sub, list) else sub
            m = re.search(r":(topic|group)/\$\{C\}/(?:\$\{(\w+)\}|([\w.-]+))$", text)
            if m:
                return f"{m.group(1)}:{m.group(2) or m.group(3)}"
            names = [n for n in re.findall(r"\$\{([\w.:]+)\}", text) if not n.startswith("AWS::")]
            return names[-1].split(".")[0] + ("/*" if text.endswith("/*") else "")
    return str(expr)


@pytest.fixture(scope="module")
def stack():
    return load_stack(ROOT / "template.yaml")


def _functions(stack):
    return {
        logical_id: r
        for logical_id, r in stack.template["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function"
    }


def template_needs(stack, logical_id: str, env: dict[str, str]) -> Grants:
    """What the function's event sources need: MSK IAM auth and their on-failure queues."""
    needs: Grants = defaultdict(set)
    for r in stack.template["Resources"].values():
        if (
            r["Type"] == "AWS::Lambda::EventInvokeConfig"
            and _name(r["Properties"]["FunctionName"]) == logical_id
        ):
            destination = r["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if destination:  # asynchronous invocations it gave up on (SAM grants this itself)
                needs[_name(destination)].add("sqs:SendMessage")
        if r["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        props = r["Properties"]
        if _name(props["FunctionName"]) != logical_id or "Topics" not in props:
            continue
        needs[_name(props["EventSourceArn"])] |= MSK_CLUSTER_ACTIONS
        for topic in props["Topics"]:
            needs[f"topic:{_name(topic)}"] |= MSK_TOPIC_ACTIONS
        group = props["AmazonManagedKafkaEventSourceConfig"]["ConsumerGroupId"]
        needs[f"group:{group}"] |= MSK_GROUP_ACTIONS
        destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if destination:
            needs[_name(destination)].add("sqs:SendMessage")
    return needs


def granted(stack, function: dict) -> tuple[Grants, set[str]]:
    role = stack.template["Resources"][_name(function["Properties"]["Role"])]
    grants: Grants = defaultdict(set)
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow" and "Condition" not in statement, statement
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                grants[_name(resource)] |= set(actions)
    managed = set()
    for arn in role["Properties"].get("ManagedPolicyArns", []):
        text = arn["Fn::Sub"] if isinstance(arn, dict) else arn
        managed.add(text.rsplit("/", 1)[-1])
    return grants, managed


def _env(function: dict) -> dict[str, str]:
    variables = function["Properties"].get("Environment", {}).get("Variables", {})
    return {k: _name(v) for k, v in variables.items() if isinstance(v, dict)}


def needed(stack, logical_id: str, function: dict) -> Grants:
    env = _env(function)
    needs = code_needs(FUNCTIONS / _snake(logical_id) / "app.py", env)
    for resource, actions in template_needs(stack, logical_id, env).items():
        needs[resource] = needs.get(resource, set()) | actions
    return {k: v for k, v in needs.items() if v}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_every_function_is_checked(stack):
    apps = {p.parent.name for p in FUNCTIONS.glob("*/app.py")}
    assert {_snake(f) for f in _functions(stack)} == apps


def test_each_role_grants_exactly_what_the_code_calls(stack):
    mismatches = {}
    for logical_id, function in _functions(stack).items():
        want = needed(stack, logical_id, function)
        have, managed = granted(stack, function)
        have = {k: v for k, v in have.items() if v}
        assert managed <= ALLOWED_MANAGED, (logical_id, managed - ALLOWED_MANAGED)
        if want != have:
            mismatches[logical_id] = {
                "missing": {
                    r: sorted(a - have.get(r, set())) for r, a in want.items() if a - have.get(r, set())
                },
                "extra": {
                    r: sorted(a - want.get(r, set())) for r, a in have.items() if a - want.get(r, set())
                },
            }
    assert not mismatches, mismatches


def test_the_derivation_sees_the_narrow_cases(stack):
    """Guards the derivation itself: a scan that found nothing would agree with an empty role."""
    functions = _functions(stack)
    lock = needed(stack, "LockAccount", functions["LockAccount"])
    assert lock["AccountsTable"] == {"dynamodb:UpdateItem"}
    assert lock["AccessAttemptsTable"] == {"dynamodb:PutItem", "dynamodb:Query"}
    assert needed(stack, "AssembleOrder", functions["AssembleOrder"])["SalesTicketsTable"] == {
        "dynamodb:UpdateItem"
    }
    assert needed(stack, "AuditLog", functions["AuditLog"])["AuditArchiveBucket/*"] == {"s3:PutObject"}
    assert needed(stack, "SendAccountConfirmation", functions["SendAccountConfirmation"])[
        "SenderEmailAddress"
    ] == {"ses:SendEmail"}
    assert needed(stack, "RequestAccount", functions["RequestAccount"]) == {
        "KafkaClusterArn": MSK_PRODUCER_CLUSTER_ACTIONS,
        "topic:CustomerAccountsTopic": MSK_PRODUCER_TOPIC_ACTIONS,
    }
    assert needed(stack, "FulfilOrder", functions["FulfilOrder"])["AssembliesTable"] == {"dynamodb:PutItem"}
    # A transaction's items, a batch send and what BatchMessages calls at the batch's end.
    assemble = needed(stack, "AssembleOrder", functions["AssembleOrder"])
    assert assemble["OrdersTable"] == {"dynamodb:PutItem"}
    assert assemble["FulfilmentRequestsQueue"] == {"sqs:SendMessage"}
    assert assemble["StorefrontBus"] == {"events:PutEvents"}


def test_a_broader_grant_is_caught(stack):
    functions = _functions(stack)
    have, _ = granted(stack, functions["LockAccount"])
    have["AccountsTable"].add("dynamodb:Scan")
    assert have != needed(stack, "LockAccount", functions["LockAccount"])


def test_business_tables_are_retained_with_point_in_time_recovery(stack):
    for logical_id in (
        "AccountsTable",
        "AccessAttemptsTable",
        "SupplyOrdersTable",
        "OrdersTable",
        "SalesTicketsTable",
    ):
        table = stack.template["Resources"][logical_id]
        assert table.get("DeletionPolicy") == "Retain", logical_id
        assert table.get("UpdateReplacePolicy") == "Retain", logical_id
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
