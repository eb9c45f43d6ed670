"""--parameter-overrides split as SAM CLI splits it, SAM's configuration file read as `sam` reads it
when the flag is absent, and a parameter the template does not declare refused as CloudFormation
refuses it."""

from __future__ import annotations

import argparse
import json

import pytest

from infra.localfaas.tests.sam_app import write_app
from localfaas.cli import main
from localfaas.commands._options import (
    UsageError,
    add_template_flags,
    parameter_overrides,
    template_parameters,
)

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  LogLevel: {Type: String, Default: INFO}
  LockThreshold: {Type: Number, Default: 3}
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      CodeUri: src/
      Handler: app.echo
      Environment:
        Variables:
          LOG_LEVEL: !Ref LogLevel
          LOCK_THRESHOLD: !Ref LockThreshold
"""

APP = """\
import os


def echo(event, context):
    return {name: os.environ[name] for name in ("LOG_LEVEL", "LOCK_THRESHOLD")}
"""

SAMCONFIG = """\
version = 0.1
[default.global.parameters]
parameter_overrides = "LogLevel=WARNING"
[default.deploy.parameters]
parameter_overrides = "LogLevel=DEBUG LockThreshold=5"
[prod.global.parameters]
parameter_overrides = ["LogLevel=ERROR", "LockThreshold=9"]
"""


# -- how SAM splits the flag ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        ["LogLevel=DEBUG LockThreshold=5"],  # samconfig.toml's form: one quoted argument
        ["LogLevel=DEBUG", "LockThreshold=5"],
        ["ParameterKey=LogLevel,ParameterValue=DEBUG ParameterKey=LockThreshold,ParameterValue=5"],
        ["ParameterKey=LogLevel,ParameterValue=DEBUG", "LockThreshold=5"],
        ["  LogLevel=DEBUG   LockThreshold=5  "],
    ],
)
def test_every_form_sam_takes_gives_the_same_overrides(arguments):
    assert parameter_overrides(arguments) == {"LogLevel": "DEBUG", "LockThreshold": "5"}


def test_quoted_values_keep_their_spaces_and_escapes_as_sam_unquotes_them():
    overrides = parameter_overrides(
        ["""Greeting="hello world" Farewell='so long' Path=a\\ b Quote="say \\"hi\\"" Empty="" List=a,b"""]
    )

    assert overrides == {
        "Greeting": "hello world",
        "Farewell": "so long",
        "Path": "a b",
        "Quote": 'say "hi"',
        "Empty": "",
        "List": "a,b",
    }


def test_a_later_key_wins():
    assert parameter_overrides(["LogLevel=INFO", "LogLevel=DEBUG"]) == {"LogLevel": "DEBUG"}


@pytest.mark.parametrize("argument", ["LogLevel", "LogLevel=DEBUG stray", "=DEBUG"])
def test_text_that_is_neither_form_is_named(argument):
    with pytest.raises(UsageError, match="is not Key=Value or ParameterKey=Key,ParameterValue=Value"):
        parameter_overrides([argument])


# -- the configuration file when the flag is absent -----------------------------------------------


def flags(*argv):
    parser = argparse.ArgumentParser()
    add_template_flags(parser)
    return parser.parse_args(argv)


@pytest.fixture
def project(tmp_path):
    write_app(tmp_path, TEMPLATE, {"src/app.py": APP, "samconfig.toml": SAMCONFIG})
    return tmp_path


def test_without_the_flag_the_deploy_table_is_read_before_global(project):
    template = project / "template.yaml"

    assert template_parameters(flags(), template) == {"LogLevel": "DEBUG", "LockThreshold": "5"}
    assert template_parameters(flags(), template, tables=("local_invoke",)) == {"LogLevel": "WARNING"}


def test_the_command_line_replaces_the_file_entirely(project):
    overrides = template_parameters(
        flags("--parameter-overrides", "LockThreshold=7"), project / "template.yaml"
    )

    assert overrides == {"LockThreshold": "7"}


def test_config_env_and_config_file_choose_the_table_and_the_file(project, tmp_path_factory):
    other = tmp_path_factory.mktemp("elsewhere") / "ci.toml"
    other.write_text('[default.deploy.parameters]\nparameter_overrides = "LockThreshold=11"\n')
    template = project / "template.yaml"

    assert template_parameters(flags("--config-env", "prod"), template) == {
        "LogLevel": "ERROR",
        "LockThreshold": "9",
    }
    assert template_parameters(flags("--config-file", str(other)), template) == {"LockThreshold": "11"}


def test_an_unknown_config_env_or_a_missing_file_is_one_line(project):
    template = project / "template.yaml"

    with pytest.raises(UsageError, match=r"no environment 'staging' \(environments: default, prod\)"):
        template_parameters(flags("--config-env", "staging"), template)
    with pytest.raises(UsageError, match=r"cannot read configuration file absent\.toml"):
        template_parameters(flags("--config-file", "absent.toml"), template)


def test_a_project_without_a_configuration_file_has_no_overrides(tmp_path):
    (tmp_path / "template.yaml").write_text(TEMPLATE)

    assert template_parameters(flags(), tmp_path / "template.yaml") == {}


# -- through a command ----------------------------------------------------------------------------


def invoke(capsys, *args):
    code = main(["invoke", "Echo", "--runtime", "in-process", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_invoke_reads_samconfig_and_the_quoted_form(project, capsys, monkeypatch):
    monkeypatch.chdir(project)

    _, from_file, _ = invoke(capsys)
    _, quoted, _ = invoke(capsys, "--parameter-overrides", 'LogLevel="DEBUG" LockThreshold=4')

    assert json.loads(from_file) == {"LOG_LEVEL": "DEBUG", "LOCK_THRESHOLD": "5"}
    assert json.loads(quoted) == {"LOG_LEVEL": "DEBUG", "LOCK_THRESHOLD": "4"}


def test_a_parameter_the_template_lacks_is_one_line_naming_the_template_s(project, capsys, monkeypatch):
    monkeypatch.chdir(project)

    code, out, err = invoke(capsys, "--parameter-overrides", "LogLevel=DEBUG LockTreshold=4")

    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "localfaas invoke: error: Parameters: [LockTreshold] do not exist in the template "
        "(its parameters: LogLevel, LockThreshold)"
    ]
