"""The storefront's template.yaml, resolved and provisioned on moto by localfaas."""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from localfaas.provision import provision
from localfaas.template import Stack, load_stack

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
REGION = "us-east-1"
_module_numbers = itertools.count()


def storefront_stack() -> Stack:
    return load_stack(TEMPLATE, stack_name="storefront-test", region=REGION)


def provision_stack(stack: Stack) -> None:
    provision(
        stack.resources, stack.physical_names, lambda service: boto3.client(service, region_name=REGION)
    )


def load_handler(stack: Stack, function: str) -> ModuleType:
    """Import the function's app.py afresh, as a cold start does (its environment must be set)."""
    spec_path = stack.function(function).code_dir / "app.py"
    name = f"handler_{function}_{next(_module_numbers)}"
    spec = importlib.util.spec_from_file_location(name, spec_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_event(relative_path: str) -> dict[str, Any]:
    return json.loads((EVENTS / relative_path).read_text())
