"""Builds as `sam build` lays them out: each function and layer in .aws-sam/build/<LogicalId>/ with
its requirements.txt installed beside its code, for its declared Python, cached; a worker runs each
function on that Python. The per-runtime apps install one small pure-Python package (tabulate 0.9.0,
which the project's environment does not have) and the AWS SDK for each Python other than the host's;
the packages are installed once per session into a cache of the session's own (about 1 s each with
uv, several with pip), every later build reuses them."""

from __future__ import annotations

import itertools
import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from infra.localfaas.tests.sam_app import write_app, write_files
from localfaas.build import BuildError, build_stack
from localfaas.cli import main
from localfaas.python_runtimes import HOST_VERSION, _find
from localfaas.runtime import InProcessRuntime, WorkerProcessRuntime
from localfaas.template import TemplateError, load_stack

VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
PRESENT = [v for v in VERSIONS if v == HOST_VERSION or _find(v) is not None]
DEPENDENCY = "tabulate==0.9.0"

HANDLER = """\
import sys

import boto3
import tabulate


def handler(event, context):
    return {
        "version": "%d.%d" % sys.version_info[:2],
        "tabulate": tabulate.__version__,
        "tabulate_file": tabulate.__file__,
        "boto3": boto3.__version__,
    }
"""


def _function(version: str) -> str:
    logical_id = "Py" + version.replace(".", "")
    return f"""\
  {logical_id}:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {logical_id}/
      Handler: app.handler
      Runtime: python{version}
"""


@pytest.fixture(scope="session")
def package_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One package cache for the session: the first build installs, every other one reuses."""
    cache = tmp_path_factory.mktemp("localfaas-packages")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOCALFAAS_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture(scope="session")
def runtimes_app(tmp_path_factory: pytest.TempPathFactory, package_cache: Path) -> Path:
    """A SAM app with one function per Python present here, each needing tabulate; built once."""
    root = tmp_path_factory.mktemp("runtimes-app")
    files = {}
    for version in PRESENT:
        logical_id = "Py" + version.replace(".", "")
        files[f"{logical_id}/app.py"] = HANDLER
        files[f"{logical_id}/requirements.txt"] = DEPENDENCY + "\n"
    template = "Transform: AWS::Serverless-2016-10-31\nResources:\n" + "".join(map(_function, PRESENT))
    path = write_app(root, template, files)
    first = build_stack(load_stack(path))
    assert sorted(first.assembled) == sorted("Py" + v.replace(".", "") for v in PRESENT)
    return path


def _invoke(capsys: pytest.CaptureFixture[str], template: Path, function: str, *flags: str) -> dict:
    capsys.readouterr()
    status = main(["invoke", function, "--template", str(template), "--runtime", "worker", *flags])
    out, err = capsys.readouterr()
    assert status == 0, err
    return json.loads(out)


@pytest.mark.parametrize("version", PRESENT)
def test_a_worker_runs_each_function_on_its_declared_python_with_its_dependency(
    capsys: pytest.CaptureFixture[str], runtimes_app: Path, version: str
) -> None:
    logical_id = "Py" + version.replace(".", "")
    answer = _invoke(capsys, runtimes_app, logical_id)

    assert answer["version"] == version
    assert answer["tabulate"] == "0.9.0"
    # Imported from the function's own build folder, laid out as `sam build` lays it out.
    build_folder = runtimes_app.parent / ".aws-sam" / "build" / logical_id
    assert Path(answer["tabulate_file"]).is_relative_to(build_folder)
    assert (build_folder / "app.py").is_file() and (build_folder / "tabulate").is_dir()
    assert answer["boto3"]  # Lambda's Python runtimes bundle the AWS SDK, other Pythons too


def test_the_project_environment_does_not_have_the_test_dependency() -> None:
    # Otherwise the test above could pass without the build installing anything.
    with pytest.raises(ImportError):
        __import__("tabulate")


def test_a_second_build_installs_and_copies_nothing(runtimes_app: Path) -> None:
    again = build_stack(load_stack(runtimes_app))

    assert again.installed == [] and again.assembled == []
    assert sorted(again.up_to_date) == sorted("Py" + v.replace(".", "") for v in PRESENT)


def test_the_build_command_says_what_it_built_and_what_was_up_to_date(
    runtimes_app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["build", "--template", str(runtimes_app)]) == 0

    out = capsys.readouterr().out
    assert out.strip() == (
        f"built 0 folder(s) in {runtimes_app.parent / '.aws-sam' / 'build'} (0 with packages installed), "
        f"{len(PRESENT)} up to date"
    )


def test_a_changed_source_is_copied_again_without_installing(tmp_path: Path, package_cache: Path) -> None:
    template = _app_with_dependency(tmp_path)
    build_stack(load_stack(template))
    (tmp_path / "src" / "app.py").write_text("VALUE = 2\ndef handler(event, context):\n    return VALUE\n")

    again = build_stack(load_stack(template))

    assert again.assembled == ["Fn"] and again.installed == []
    assert "VALUE = 2" in (tmp_path / ".aws-sam" / "build" / "Fn" / "app.py").read_text()


def test_the_build_leaves_out_what_sam_build_leaves_out(tmp_path: Path, package_cache: Path) -> None:
    template = _app_with_dependency(tmp_path)
    write_files(
        tmp_path, {"src/.venv/lib/x.py": "", "src/__pycache__/app.cpython-311.pyc": "", "src/.git/HEAD": ""}
    )

    build_stack(load_stack(template))

    built = tmp_path / ".aws-sam" / "build" / "Fn"
    assert not (built / ".venv").exists() and not (built / "__pycache__").exists()
    assert not (built / ".git").exists() and (built / "app.py").is_file()
    # A copy, not a link: what writes into the build folder leaves the sources alone.
    assert not (built / "app.py").samefile(tmp_path / "src" / "app.py")


def _app_with_dependency(root: Path) -> Path:
    return write_app(
        root,
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Runtime: python3.11
              Architectures: [arm64]
        """,
        {
            "src/app.py": "import tabulate\ndef handler(event, context):\n    return tabulate.__file__\n",
            "src/requirements.txt": DEPENDENCY + "\n",
        },
    )


def test_the_in_process_runtime_uses_the_build_folder_and_says_once_it_keeps_its_python(
    tmp_path: Path, package_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = _app_with_dependency(tmp_path)
    text = template.read_text().replace("python3.11", "python3.9")
    template.write_text(text)
    stack = load_stack(template)
    built = build_stack(stack)
    spec = built.apply(stack.function("Fn"), shared_interpreter=True)

    with InProcessRuntime() as runtime:
        results = [runtime.invoke(spec, {}) for _ in range(2)]

    assert all(r.ok for r in results), results[0].error
    assert Path(results[0].payload).is_relative_to(tmp_path / ".aws-sam" / "build" / "Fn")
    err = capsys.readouterr().err
    assert err.count(f"runs every function on this Python {HOST_VERSION}, Fn's Runtime python3.9") == 1
    assert err.count("Fn declares Architectures arm64") == 1


def test_a_runtime_without_its_python_here_falls_back_to_the_hosts_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(
        tmp_path,
        {"src/app.py": "import sys\ndef handler(e, c):\n    return '%d.%d' % sys.version_info[:2]\n"},
    )
    spec = load_stack(
        write_app(
            tmp_path,
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
            "    Properties: {CodeUri: src/, Handler: app.handler, Runtime: python3.99}\n",
        )
    ).function("Fn")

    with WorkerProcessRuntime() as runtime:
        result = runtime.invoke(spec, {})

    assert result.payload == HOST_VERSION
    assert "Runtime python3.99 has no python3.99 on this machine; its functions run on the host's Python" in (
        capsys.readouterr().err
    )


# ---- layers and BuildMethod ---------------------------------------------------------------------


def test_a_python_layer_is_built_under_python_and_its_packages_import_from_there(
    tmp_path: Path, package_cache: Path
) -> None:
    template = write_app(
        tmp_path,
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Shared:
            Type: AWS::Serverless::LayerVersion
            Properties:
              ContentUri: shared/
              CompatibleRuntimes: [python3.11]
            Metadata:
              BuildMethod: python3.11
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Runtime: python3.11
              Layers: [!Ref Shared]
        """,
        {
            "shared/helper.py": "import tabulate\nWHERE = tabulate.__file__\n",
            "shared/requirements.txt": DEPENDENCY + "\n",
            "src/app.py": "import helper\ndef handler(event, context):\n    return [helper.__file__, helper.WHERE]\n",
        },
    )
    stack = load_stack(template)
    built = build_stack(stack)
    layer = tmp_path / ".aws-sam" / "build" / "Shared" / "python"

    with WorkerProcessRuntime() as runtime:
        result = runtime.invoke(built.apply(stack.function("Fn"), shared_interpreter=False), {})

    assert result.ok, result.error
    assert [Path(p).parent for p in result.payload] == [layer, layer / "tabulate"]


def test_a_makefile_build_runs_make_with_the_artifacts_dir(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    template = write_app(
        tmp_path,
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Runtime: python3.11
            Metadata:
              BuildMethod: makefile
        """,
        {
            "src/Makefile": "build-Fn:\n\tsed 's/SOURCE/MADE/' app.py > $(ARTIFACTS_DIR)/app.py\n",
            "src/app.py": "def handler(event, context):\n    return 'SOURCE'\n",
        },
    )
    stack = load_stack(template)
    built = build_stack(stack)

    with WorkerProcessRuntime() as runtime:
        result = runtime.invoke(built.apply(stack.function("Fn"), shared_interpreter=False), {})

    assert result.payload == "MADE"


def test_a_build_method_localfaas_cannot_do_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = write_app(
        tmp_path,
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src/, Handler: app.handler, Runtime: python3.11}
            Metadata: {BuildMethod: esbuild}
        """,
        {"src/app.py": "def handler(e, c):\n    return 1\n"},
    )
    with pytest.raises(BuildError, match="Fn: BuildMethod esbuild is not supported"):
        build_stack(load_stack(template))

    assert main(["build", "--template", str(template)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "BuildMethod esbuild is not supported" in err


def test_a_requirement_that_cannot_be_installed_fails_the_build_naming_the_function(
    tmp_path: Path, package_cache: Path
) -> None:
    template = _app_with_dependency(tmp_path)
    (tmp_path / "src" / "requirements.txt").write_text("tabulate==0.0.0.0.1\n")

    with pytest.raises(BuildError, match=r"installing Fn's .*requirements.txt failed"):
        build_stack(load_stack(template))


def test_skip_build_runs_the_sources_as_they_are(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = write_app(
        tmp_path,
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: src/, Handler: app.handler, Runtime: python3.11}\n",
        {"src/app.py": "import os\ndef handler(e, c):\n    return os.environ['LAMBDA_TASK_ROOT']\n"},
    )

    assert _invoke(capsys, template, "Fn", "--skip-build") == str(tmp_path / "src")
    assert not (tmp_path / ".aws-sam").exists()
    assert _invoke(capsys, template, "Fn") == str(tmp_path / ".aws-sam" / "build" / "Fn")


# ---- CodeUri as a file or a zip, InlineCode -----------------------------------------------------


def _single(root: Path, code: str) -> Path:
    return write_app(
        root,
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        f"    Properties:\n      Runtime: python3.11\n{code}",
    )


def test_a_codeuri_zip_runs_from_what_it_holds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with zipfile.ZipFile(tmp_path / "package.zip", "w") as archive:
        archive.writestr("pkg/__init__.py", "")
        archive.writestr("pkg/app.py", "def handler(event, context):\n    return {'from': 'zip', **event}\n")
    template = _single(tmp_path, "      CodeUri: package.zip\n      Handler: pkg/app.handler\n")

    assert _invoke(capsys, template, "Fn", "--event", _event(tmp_path)) == {"from": "zip", "n": 1}


def test_a_codeuri_naming_one_file_runs_it_as_the_packages_only_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(tmp_path, {"handlers/one.py": "def handler(event, context):\n    return 'one file'\n"})
    template = _single(tmp_path, "      CodeUri: handlers/one.py\n      Handler: one.handler\n")

    assert _invoke(capsys, template, "Fn") == "one file"
    assert load_stack(template).warnings == []


def test_inline_code_runs_as_index_py(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = _single(
        tmp_path,
        "      Handler: index.handler\n      InlineCode: |\n"
        "        def handler(event, context):\n            return {'inline': __file__.endswith('index.py')}\n",
    )
    stack = load_stack(template)

    assert stack.warnings == []
    assert _invoke(capsys, template, "Fn") == {"inline": True}


def test_a_codeuri_zip_that_is_not_one_is_a_template_error(tmp_path: Path) -> None:
    (tmp_path / "broken.zip").write_text("not a zip")
    template = _single(tmp_path, "      CodeUri: broken.zip\n      Handler: app.handler\n")

    with pytest.raises(TemplateError, match=r"broken\.zip is not a valid zip file"):
        load_stack(template)


def _event(root: Path) -> str:
    (root / "event.json").write_text('{"n": 1}')
    return str(root / "event.json")


def test_the_worker_keeps_to_the_standard_library() -> None:
    # It runs on every Python a function may declare, where none of localfaas's dependencies are.
    import ast

    for module in ("worker.py", "context.py"):
        source = Path(sys.modules["localfaas.runtime"].__file__).with_name(module).read_text()
        imported = {
            (node.module or "").split(".")[0]
            if isinstance(node, ast.ImportFrom)
            else alias.name.split(".")[0]
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        assert imported - {"__future__", "localfaas"} <= set(sys.stdlib_module_names), module


def test_uv_is_given_pips_own_indexes_and_picks_the_best_match_over_them_as_pip_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localfaas import pip_settings

    uv = tmp_path / "uv"
    uv.write_text("#!/bin/sh\n")
    uv.chmod(0o755)
    monkeypatch.setenv("LOCALFAAS_UV", str(uv))
    listed = (
        "global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'\n"
        "global.find-links='/opt/wheels'\n"
        ":env:.index-url='https://mirror.example/simple'\n"
        "global.index-url='https://ignored.example/simple'\n"
    )
    monkeypatch.setattr(
        pip_settings.subprocess, "run", lambda *a, **k: type("Done", (), {"stdout": listed})()
    )
    pip_settings.pip_settings.cache_clear()
    try:
        command, installer = pip_settings.installer_command("/usr/bin/python3.12")
    finally:
        pip_settings.pip_settings.cache_clear()

    assert installer == "uv" and command[:5] == [str(uv), "pip", "install", "--python", "/usr/bin/python3.12"]
    pairs = list(itertools.pairwise(command))
    assert ("--index-url", "https://mirror.example/simple") in pairs  # the environment wins, as in pip
    assert ("--extra-index-url", "file:///opt/a/simple") in pairs and (
        "--extra-index-url",
        "file:///opt/b/simple",
    ) in pairs
    assert ("--find-links", "/opt/wheels") in pairs and ("--index-strategy", "unsafe-best-match") in pairs
