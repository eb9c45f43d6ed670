"""Small SAM applications written into a test's tmp_path: a template and handler files."""

from __future__ import annotations

import textwrap
from pathlib import Path

from localfaas.template import FunctionSpec


def write_files(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def write_app(root: Path, template: str, files: dict[str, str] | None = None) -> Path:
    """Write template.yaml and the given files under root; return the template's path."""
    write_files(root, {"template.yaml": template, **(files or {})})
    return root / "template.yaml"


def function_spec(
    code_dir: Path, name: str = "Fn", handler: str = "app.handler", **overrides: object
) -> FunctionSpec:
    """A FunctionSpec as load_stack would make it, without a template."""
    fields: dict[str, object] = {
        "logical_id": name,
        "function_name": f"localfaas-{name}",
        "arn": f"arn:aws:lambda:us-east-1:123456789012:function:localfaas-{name}",
        "handler": handler,
        "code_dir": code_dir,
        **overrides,
    }
    return FunctionSpec(**fields)  # type: ignore[arg-type]
