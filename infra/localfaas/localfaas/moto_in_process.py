"""moto's in-process mock (`mock_aws`) answering the functions' calls for less work a call, same answers.

The one place where localfaas changes moto's code; written against moto 5.2.5 (MOTO_VERSION), and
tests/test_moto_in_process.py fails when the installed moto is another version or when the code
patched here has changed, so that the patch is checked again rather than trusted. Past 400 lines
because it is that one place: every patch is installed and undone with the others, against the one
moto version, so that reading this module is reading all localfaas does to moto. Seven patches:

- Routing. moto's stubber (moto.core.botocore_stubber.BotocoreStubber.process_request) tries every
  service's URL pattern (183 in 5.2.5) on every request, then builds each candidate backend's URL
  map (`BaseBackend.urls`, url bases times paths) and compiles its entries. Here the services whose
  pattern matches a host are remembered per host, and a service's compiled URL map once; the rest is
  moto's own code in moto's order (passthrough and whitelist settings are read on every call, a
  service whose URLs do not match falls through to the next candidate, as SES and SES v2 share a host).
  A host is remembered only when the URL's path cannot take part in a pattern's match: every
  pattern ends in an AWS domain or an address, so a path that names no AWS domain is routed by moto's
  own loop.
- DynamoDB update expressions. moto parses an UpdateItem's UpdateExpression twice a call (the
  response layer for the placeholders it uses, the backend to validate and run it), and a function
  sends the same few expression strings again and again. The parse is a pure function of the string;
  what uses it does not change it (the validator works on its own deep copy,
  moto.dynamodb.parsing.validators.Validator, and the response layer only reads it), so parsed
  expressions are kept by string. An expression that fails to parse is not kept: it fails each time
  with moto's own error.
- DynamoDB update expressions' checks. moto's UpdateExpressionValidator runs ten passes over a copy
  of the expression's tree per validation; the first three only check it (no more than one clause of
  each kind, no overlapping paths, no key attribute updated), each a function of the expression, its
  ExpressionAttributeNames and the table's key attributes, and returns the tree as it was. Once an
  expression has passed them with the same names on a table with the same keys, they are not run
  again for it; the seven passes that depend on the item and the values run every time.
- DynamoDB condition expressions (ConditionExpression, FilterExpression, KeyConditionExpression
  parsed by moto.dynamodb.comparisons.ConditionExpressionParser): their lexing, a regex scan of the
  string one token at a time, is kept by string; each call gets fresh copies of the tokens (tuples
  with an empty list of children), and everything after lexing (names and values substituted, the
  tree built) is moto's, per call.
- Action names. moto's response layer lists a response class's functions on every call (to check
  that the requested action is one); they are listed once per class here.
- SQS retention. ReceiveMessage checks each message it returns against the queue's
  MessageRetentionPeriod through get_queue_attributes, which builds every attribute of the queue,
  the three ApproximateNumberOfMessages* counts included (each a scan of the queue), to read one:
  a receive of 10 scanned the queue 30 times (46 ms a receive at a depth of 100, the business day's
  audit queue 80 ms). Here the check reads the queue's own `message_retention_period`, the attribute
  get_queue_attributes returns (Queue._set_attributes sets it, an int, from the defaults or the
  queue's attributes); the comparison is moto's.
- DynamoDB TransactWriteItems' rollback. All or nothing: if any action fails, none is applied
  (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
  moto gets there by deep-copying every table the request names before it starts and putting the
  copies back on failure: O(table size) a call (two tables of 1,000 items: 57 of the call's 59 ms
  here). What its writes can change is only the item at each of the request's keys
  (Table.put_item, delete_item, update_item's in-place update), an empty partition its get_item
  adds to a table with a range key, the order in which a dict holds the items a Delete takes one
  from (no read shows it, scans and queries sort, but moto's copy has it), and a stream's records.
  Here those items are copied instead and put back where moto puts its copies back, which leaves
  every table as moto's copy would; a request on a table with a stream is moto's own code. moto's
  quirks are kept: a table named only by ARN is not copied nor restored, and an action with two
  operations fails the request there, the actions before it applied.

Not changed: what moto answers, in which account and region, and what it records.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["MOTO_VERSION", "answers", "install", "installed"]

MOTO_VERSION = "5.2.5"
# The paths where a moto pattern could match across the host into the path (see the docstring).
_DOMAIN_IN_PATH = re.compile(r"amazonaws|\.aws|169\.254")
_lock = threading.Lock()
_installed: dict[str, Any] = {}
log = logging.getLogger(__name__)


def installed() -> bool:
    return bool(_installed)


def install() -> Callable[[], None]:
    """Patch this process's moto; returns what undoes it. Installs are counted: moto's own code is
    back when every install has been undone (stacks of one process start and stop in any order).

    Another moto than MOTO_VERSION is left as it is (slower, never wrong): the patches copy and rely
    on that version's code, and are read again against a new one before MOTO_VERSION moves."""
    import moto

    if moto.__version__ != MOTO_VERSION:
        _say_not_patched(moto.__version__)
        return lambda: None
    with _lock:
        if not _installed:
            _install_routing()
            _install_update_expression_memo()
            _install_action_names_memo()
            _install_condition_lexing_memo()
            _install_update_checks_memo()
            _install_sqs_retention_check()
            _install_transaction_rollback_by_item()
        _installed["count"] = _installed.get("count", 0) + 1
    undone = threading.Event()

    def undo() -> None:
        with _lock:
            if undone.is_set():
                return
            undone.set()
            _installed["count"] -= 1
            if _installed["count"] == 0:
                _uninstall()

    return undo


@functools.cache
def _say_not_patched(version: str) -> None:
    log.warning(
        "moto %s: localfaas's in-process cuts are off (written against moto %s); calls are answered "
        "by moto as it is",
        version,
        MOTO_VERSION,
    )


def _uninstall() -> None:
    stubber_class = _installed.pop("stubber_class", None)
    if stubber_class is not None:
        stubber_class.process_request = _installed.pop("process_request")
    parser = _installed.pop("update_expression_parser", None)
    if parser is not None:
        parser.make = _installed.pop("update_expression_make")
    validator = _installed.pop("update_validator", None)
    if validator is not None:
        del validator.__init__, validator.validate  # back to what moto's class inherits or defines
        for name, value in _installed.pop("update_validator_own", {}).items():
            setattr(validator, name, value)
    condition_parser = _installed.pop("condition_parser", None)
    if condition_parser is not None:
        condition_parser._lex_condition_expression = _installed.pop("lex_condition_expression")
    sqs_backend = _installed.pop("sqs_backend", None)
    if sqs_backend is not None:
        sqs_backend.is_message_valid_based_on_retention_period = _installed.pop("sqs_retention_check")
    dynamodb_backend = _installed.pop("dynamodb_backend", None)
    if dynamodb_backend is not None:
        dynamodb_backend.transact_write_items = _installed.pop("transact_write_items")
    responses = _installed.pop("responses_module", None)
    if responses is not None:
        responses.method_names_from_class = _installed.pop("method_names_from_class")
    _installed.clear()


# -- routing ------------------------------------------------------------------------------------------


def _install_routing() -> None:
    # On the class, so that a wrapper on the instance (localfaas.sdk_hooks guards moto's stubber
    # against refused requests) calls this through the class whenever it was put there.
    from moto.core.botocore_stubber import BotocoreStubber

    routes = _ROUTES
    _installed["stubber_class"] = BotocoreStubber
    _installed["process_request"] = vars(BotocoreStubber)["process_request"]

    def process_request(self: Any, request: Any) -> Any:
        return routes.process_request(request)

    process_request.__doc__ = "moto's BotocoreStubber.process_request, routed by localfaas.moto_in_process."
    BotocoreStubber.process_request = process_request


class _Routes:
    """moto 5.2.5's BotocoreStubber.process_request, with what it finds per host and service kept."""

    def __init__(self) -> None:
        self._services_by_host: dict[tuple[str, str], list[str]] = {}
        self._urls_by_service: dict[tuple[str, bool], list[tuple[re.Pattern[str], Any]]] = {}

    def services(self, scheme: str, host: str, clean_url: str) -> list[str]:
        import moto.backend_index as backend_index

        if _DOMAIN_IN_PATH.search(clean_url.split(host, 1)[-1]):
            return [s for s, pattern in backend_index.backend_url_patterns if pattern.match(clean_url)]
        key = (scheme, host)
        found = self._services_by_host.get(key)
        if found is None:
            found = [s for s, pattern in backend_index.backend_url_patterns if pattern.match(clean_url)]
            self._services_by_host[key] = found
        return found

    def urls(self, service: str) -> list[tuple[re.Pattern[str], Any]]:
        import moto.backends as backends
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.core.base_backend import BackendDict
        from moto.settings import enable_iso_regions

        key = (service, enable_iso_regions())  # the URL map has more entries with ISO regions on
        found = self._urls_by_service.get(key)
        if found is None:
            backend_dict = backends.get_backend(service)  # type: ignore[call-overload]
            if isinstance(backend_dict, BackendDict):
                regions = backend_dict[DEFAULT_ACCOUNT_ID]
                backend = regions["us-east-1"] if "us-east-1" in regions else regions["aws"]
            else:
                backend = backend_dict["global"]
            found = [(re.compile(url), handler) for url, handler in backend.urls.items()]
            self._urls_by_service[key] = found
        return found

    def process_request(self, request: Any) -> Any:
        from moto.core.botocore_stubber import normalize_request
        from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
        from moto.core.exceptions import HTTPException, ServiceNotWhitelisted
        from moto.core.utils import get_equivalent_url_in_aws_domain
        from moto.moto_api import recorder

        parsed_url, _ = get_equivalent_url_in_aws_domain(request.url)
        clean_url = f"{parsed_url.scheme}://{parsed_url.netloc}{parsed_url.path}"
        if passthrough_url(clean_url):
            return None
        for service in self.services(parsed_url.scheme, parsed_url.netloc, clean_url):
            if passthrough_service(service):
                return None
            if not service_whitelisted(service):
                raise ServiceNotWhitelisted(service)
            for pattern, method_to_execute in self.urls(service):
                if pattern.match(clean_url):
                    normalized_request = normalize_request(request)
                    try:
                        recorder._record_request(normalized_request)
                        return method_to_execute(
                            normalized_request, normalized_request.raw_url, normalized_request.headers
                        )
                    except HTTPException as e:
                        return e.code, e.get_headers(), e.get_body()
        if _UNKNOWN_AWS_URL.match(clean_url):
            return 404, {}, "Not yet implemented"
        return None


_UNKNOWN_AWS_URL = re.compile(r"https?://.+\.amazonaws.com/.*")
_ROUTES = _Routes()


def answers(url: str) -> bool:
    """Whether moto's in-process mock is on and takes a request to `url` (an AWS endpoint of a
    service moto has, not passed through), so that nothing outside this process sees it."""
    from moto.core.config import passthrough_service, passthrough_url
    from moto.core.models import botocore_stubber
    from moto.core.utils import get_equivalent_url_in_aws_domain

    if not botocore_stubber.enabled:
        return False
    parsed_url, _ = get_equivalent_url_in_aws_domain(url)
    clean_url = f"{parsed_url.scheme}://{parsed_url.netloc}{parsed_url.path}"
    if passthrough_url(clean_url):
        return False
    services = _ROUTES.services(parsed_url.scheme, parsed_url.netloc, clean_url)
    return bool(services) and not passthrough_service(services[0])


# -- DynamoDB update expressions ----------------------------------------------------------------------


def _install_update_expression_memo() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    original = vars(UpdateExpressionParser)["make"]  # a classmethod
    # Bound to the class as moto calls it; a staticmethod, so that the cache is not bound again.
    UpdateExpressionParser.make = staticmethod(functools.lru_cache(maxsize=4096)(UpdateExpressionParser.make))
    _installed["update_expression_parser"] = UpdateExpressionParser
    _installed["update_expression_make"] = original


# -- a response class's action names ------------------------------------------------------------------


def _install_action_names_memo() -> None:
    # BaseResponse.call_action lists its class's functions (inspect.getmembers, over every attribute
    # of a response class and its bases) on every call, to check that the action is one of them;
    # a class's functions are the same from one call to the next.
    import moto.core.responses as responses

    original = responses.method_names_from_class
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(original)
    _installed["responses_module"] = responses
    _installed["method_names_from_class"] = original


# -- DynamoDB condition expressions -------------------------------------------------------------------

_LEXED_KEPT = 4096


def _install_condition_lexing_memo() -> None:
    from collections import deque

    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = vars(ConditionExpressionParser)["_lex_condition_expression"]
    lexed: dict[str, tuple[Any, ...]] = {}

    def _lex_condition_expression(self: Any) -> deque[Any]:
        expression = self.condition_expression
        tokens = lexed.get(expression)
        if tokens is None:
            tokens = tuple(original(self))  # a string that does not lex raises here, every time
            if len(lexed) >= _LEXED_KEPT:
                lexed.clear()
            lexed[expression] = tokens
        return deque(token._replace(children=list(token.children)) for token in tokens)

    ConditionExpressionParser._lex_condition_expression = _lex_condition_expression
    _installed["condition_parser"] = ConditionExpressionParser
    _installed["lex_condition_expression"] = original


# -- DynamoDB update expressions' checks --------------------------------------------------------------

_CHECKS_KEPT = 4096


def _install_update_checks_memo() -> None:
    from moto.dynamodb.parsing.validators import (
        ActionCountValidator,
        OverlappingPathsValidator,
        UpdateExpressionValidator,
        UpdateHashRangeKeyValidator,
    )

    checks = (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator)
    init, validate = UpdateExpressionValidator.__init__, UpdateExpressionValidator.validate
    # Trees by id, kept alive while their verdict is, so that an id is never another tree's.
    passed: dict[tuple[int, tuple[tuple[str, str], ...], tuple[str, ...]], Any] = {}

    def __init__(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        init(self, expression, *args, **kwargs)
        names = tuple(sorted((self.expression_attribute_names or {}).items()))
        self._localfaas_checks = ((id(expression), names, tuple(self.table.table_key_attrs)), expression)

    def validated(self: Any) -> Any:
        key, expression = self._localfaas_checks
        first = tuple(type(p) for p in self.processors[: len(checks)])
        if first != checks:  # not the processors this was written for: moto's own validation
            return validate(self)
        n = self.node_to_validate
        if key not in passed:
            for processor in self.processors[: len(checks)]:
                n = processor.traverse(n)
            if len(passed) >= _CHECKS_KEPT:
                passed.clear()
            passed[key] = expression
        for processor in self.processors[len(checks) :]:
            n = processor.traverse(n)
        return n

    _installed["update_validator"] = UpdateExpressionValidator
    _installed["update_validator_own"] = {
        name: vars(UpdateExpressionValidator)[name]
        for name in ("__init__", "validate")
        if name in vars(UpdateExpressionValidator)
    }
    UpdateExpressionValidator.__init__ = __init__
    UpdateExpressionValidator.validate = validated


# -- SQS retention --------------------------------------------------------------------------------


def _install_sqs_retention_check() -> None:
    from moto.sqs import models
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period
        return not retention_period + message.sent_timestamp / 1000 <= models.unix_time()  # moto's clock

    _installed["sqs_backend"] = SQSBackend
    _installed["sqs_retention_check"] = vars(SQSBackend)["is_message_valid_based_on_retention_period"]
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


# -- DynamoDB TransactWriteItems' rollback ------------------------------------------------------------


def _install_transaction_rollback_by_item() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    original = vars(DynamoDBBackend)["transact_write_items"]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            return original(self, transact_items)  # refused before anything is copied
        tables = {}  # the tables moto 5.2.5 copies: those named, by name (not ARN), in the request
        for item in transact_items:
            _, op = next(iter(item.items()))
            table_name = op.get("TableName")
            if table_name and table_name in self.tables:
                tables[table_name] = self.tables[table_name]
        if any(t.stream_shard is not None for t in tables.values()):
            return original(self, transact_items)  # stream records to take back: moto's copies
        return _transact_write_items(
            self, transact_items, _ItemsBefore(self, tables.values(), transact_items)
        )

    _installed["dynamodb_backend"] = DynamoDBBackend
    _installed["transact_write_items"] = original
    DynamoDBBackend.transact_write_items = transact_write_items


_ABSENT = object()


class _ItemsBefore:
    """The state of what a transaction's writes can change in moto's tables (Table.put_item,
    delete_item and the item update_item changes in place, at the transaction's keys): each item as
    a deep copy, or its absence; in a table with a range key, whether the key's partition was there
    (moto's get_item adds an empty one); and the order of a dict a Delete takes an item from.
    restore() leaves them as moto's swap back to its copy of each table would."""

    def __init__(self, backend: Any, tables: Any, transact_items: list[dict[str, Any]]) -> None:
        import copy

        copied = {id(t) for t in tables}
        # (table, hash, range) -> the item before (a copy, or the item itself for a ConditionCheck's,
        # which nothing writes), or _ABSENT. Keyed as the table's dicts are: two requests' keys that
        # moto's check for one operation an item lets through (`{"N": "1"}` and `{"N": "1.0"}`) are one.
        self._items: dict[tuple[int, Any, Any], tuple[Any, Any, Any, Any]] = {}
        self._partitions: dict[tuple[int, Any], Any] = {}  # partitions not there before, to remove
        self._orders: dict[int, tuple[Any, list[Any]]] = {}  # a dict a Delete takes from: its order
        for item in transact_items:
            op_type, op = next(iter(item.items()))
            try:
                table = backend.get_table(op["TableName"])
                hash_key, range_key = backend.get_keys_value(table, op["Item" if op_type == "Put" else "Key"])
            except Exception:  # noqa: S112 -- moto fails this one before it writes anything
                continue
            if id(table) not in copied:
                continue  # moto copies only the tables named by name, and restores only those
            if range_key is not None and hash_key not in table.items:
                self._partitions[(id(table), hash_key)] = table
                continue
            held = table.items[hash_key] if range_key is not None else table.items
            current = held.get(range_key if range_key is not None else hash_key, _ABSENT)
            if current is not _ABSENT and op_type == "Delete":
                self._orders.setdefault(id(held), (held, list(held)))
            key = (id(table), hash_key, range_key)
            kept = self._items.get(key)
            if kept is None or (kept[3] is current and op_type != "ConditionCheck"):
                writes = current is not _ABSENT and op_type != "ConditionCheck"
                self._items[key] = (table, hash_key, range_key, copy.deepcopy(current) if writes else current)

    def restore(self) -> None:
        for table, hash_key, range_key, before in self._items.values():
            held = table.items.get(hash_key) if range_key is not None else table.items
            key = range_key if range_key is not None else hash_key
            if held is None:
                continue
            if before is _ABSENT:
                held.pop(key, None)
            else:
                held[key] = before
        for (_, hash_key), table in self._partitions.items():
            table.items.pop(hash_key, None)
        for held, order in self._orders.values():
            if list(held) != order:  # an item put back after its Delete went to the end
                in_order = {key: held[key] for key in order if key in held}
                held.clear()
                held.update(in_order)


def _transact_write_items(backend: Any, transact_items: list[dict[str, Any]], before: _ItemsBefore) -> None:
    """moto 5.2.5's DynamoDBBackend.transact_write_items after its copy of each table, `before`
    restored where moto puts its copies back."""
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import get_filter_expression

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException  # moto raises it here, the writes before it kept
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")
            if op_type == "Put":
                attrs = op["Item"]
                table = backend.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            check_unicity(table_name, key)
            current = backend.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression, expression_attribute_names, expression_attribute_values
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            if op_type == "Put":
                backend.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                backend.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                backend.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            before.restore()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
        except Exception as e:  # moto reports any other failure as the reason of the item
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]
    if any(code is not None for code, _, _ in errors):
        before.restore()
        raise TransactionCanceledException(errors)
