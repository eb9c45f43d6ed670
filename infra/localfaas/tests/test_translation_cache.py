"""A SAM translation is kept on disk by what it depends on (localfaas.translation_cache), so loading
an unchanged template again does not import aws-sam-translator; any input that changes is a new
entry, and a damaged entry is translated again."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas.template import load_stack

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "hello-${Stage}"
      Runtime: python3.11
      CodeUri: src/
      Handler: app.handler
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALFAAS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "translations"


@pytest.fixture
def template(tmp_path):
    return write_app(tmp_path / "app", TEMPLATE, {"src/app.py": "def handler(e, c): return 1\n"})


def test_a_second_load_reads_the_same_translation_back_owner_only(cache, template):
    first = load_stack(template)
    (entry,) = cache.iterdir()
    second = load_stack(template)
    assert second.template == first.template
    assert second.function("Hello").function_name == "hello-dev"
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700


def test_a_cached_load_does_not_import_the_translator(cache, template):
    load_stack(template)
    probe = (
        "import sys; from localfaas.template import load_stack; "
        f"load_stack({str(template)!r}); "
        "print('samtranslator.translator.translator' in sys.modules)"
    )
    env = {**os.environ, "LOCALFAAS_CACHE_DIR": str(cache.parent)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_changed_parameter_or_template_is_a_new_entry(cache, template):
    load_stack(template)
    prod = load_stack(template, {"Stage": "prod"})
    assert prod.function("Hello").function_name == "hello-prod"
    template.write_text(TEMPLATE.replace("Runtime: python3.11", "Runtime: python3.12"))
    assert load_stack(template).function("Hello").runtime == "python3.12"
    assert len(list(cache.iterdir())) == 3


def test_a_damaged_entry_is_translated_again(cache, template):
    load_stack(template)
    (entry,) = cache.iterdir()
    entry.write_text("{not json")
    assert load_stack(template).function("Hello").function_name == "hello-dev"
    assert json.loads(entry.read_text())["Resources"]["Hello"]["Type"] == "AWS::Lambda::Function"


def test_a_cached_load_reads_the_parse_back_and_imports_no_yaml_parser(cache, template):
    first = load_stack(template)
    (parse,) = (cache.parent / "parsed").iterdir()
    probe = (
        "import sys; from localfaas.template import load_stack; "
        f"stack = load_stack({str(template)!r}); "
        "print('yaml' in sys.modules, 'samtranslator' in sys.modules, stack.function('Hello').function_name)"
    )
    env = {**os.environ, "LOCALFAAS_CACHE_DIR": str(cache.parent)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "hello-dev"]
    assert json.loads(parse.read_text())["Resources"]["Hello"]["Properties"]["FunctionName"] == {
        "Fn::Sub": "hello-${Stage}"
    }
    assert load_stack(template).template == first.template


def test_a_parse_json_cannot_hold_is_parsed_each_time(cache, template):
    # An unquoted date is a datetime.date to YAML: kept as JSON it would come back a string.
    template.write_text(TEMPLATE.replace("Transform:", "AWSTemplateFormatVersion: 2010-09-09\nTransform:"))

    stack = load_stack(template)

    assert stack.function("Hello").function_name == "hello-dev"
    assert not (cache.parent / "parsed").exists()


def test_an_invalid_template_is_still_named_as_not_valid_yaml(cache, template):
    from localfaas.template import TemplateError

    template.write_text("Resources: [unclosed\n")

    with pytest.raises(TemplateError, match="is not valid YAML"):
        load_stack(template)
