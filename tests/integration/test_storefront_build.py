"""The storefront built as `sam build` lays it out: each reaction in its own folder, the shared layer
(functions/common with its requirements.txt) under python/; a second build changes nothing, so the
business day does not rebuild when nothing changed. The layer's packages are installed once per
machine (about 5 s with uv) into localfaas's cache, which `localfaas run` and `up` share."""

from __future__ import annotations

from pathlib import Path

import pytest

from localfaas.build import build_stack
from localfaas.template import load_stack

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("storefront-build")
    build_stack(load_stack(TEMPLATE), folder)
    return folder


def test_each_reaction_has_its_own_build_folder_and_the_layer_its_python_folder(build_dir: Path) -> None:
    stack = load_stack(TEMPLATE)

    for logical_id, spec in stack.functions.items():
        assert (build_dir / logical_id / "app.py").is_file(), logical_id
        assert (build_dir / logical_id / "app.py").read_text() == (spec.code_dir / "app.py").read_text()
    layer = build_dir / "StorefrontLayer" / "python"
    assert (layer / "storefront" / "__init__.py").is_file()
    assert (layer / "aws_lambda_powertools").is_dir() and (layer / "sqlalchemy").is_dir()


def test_a_second_build_of_the_storefront_installs_and_copies_nothing(build_dir: Path) -> None:
    again = build_stack(load_stack(TEMPLATE), build_dir)

    assert again.installed == [] and again.assembled == []
    assert len(again.up_to_date) == len(load_stack(TEMPLATE).functions) + 1  # and the layer


def test_built_functions_run_from_their_build_on_a_worker_and_from_their_sources_in_process(
    build_dir: Path,
) -> None:
    stack = load_stack(TEMPLATE)
    built = build_stack(stack, build_dir)
    spec = stack.function("AuditLog")

    on_worker = built.apply(spec, shared_interpreter=False)
    in_process = built.apply(spec, shared_interpreter=True)

    assert on_worker.code_dir == build_dir / "AuditLog"
    assert on_worker.layer_dirs == (build_dir / "StorefrontLayer" / "python",)
    # One interpreter: the host's own packages win, the build's come after them.
    assert (in_process.code_dir, in_process.layer_dirs) == (spec.code_dir, spec.layer_dirs)
    assert in_process.package_dirs == (build_dir / "AuditLog", build_dir / "StorefrontLayer" / "python")
