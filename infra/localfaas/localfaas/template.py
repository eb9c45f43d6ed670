"""Load a SAM template the way `sam deploy` + CloudFormation would see it, without AWS.

`load_stack` parses the YAML with CloudFormation's short tags, expands the SAM transform with
aws-sam-translator (so Globals, event sources, EventInvokeConfig, layers and policies come out exactly
as AWS expands them), then resolves intrinsic functions against parameters, pseudo parameters,
conditions and deterministic physical names. Local `CodeUri`/`ContentUri` paths are kept: the
translator insists on S3 locations, so they go through it as placeholders and come back as folders.

A CodeUri naming a file or a .zip, and InlineCode, become folders as localfaas.code_artifacts says.

Not emulated: nested stacks and serverless applications, container-image functions (listed in
`Stack.warnings` and left out of `functions`), layers that live outside the template, Fn::ImportValue.

Past 400 lines because loading is one pipeline (parse, stash local artifacts, parameters, SAM
translation, resolution, function specs) whose steps hand each other private structures; the
parameter rules are the part to move out when it grows.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from localfaas.code_artifacts import PackageError, inline_package, package_folder
from localfaas.intrinsics import NO_VALUE, Resolver, TemplateError, unresolvable
from localfaas.resource_types import Identity, Place, physical_name, type_info
from localfaas.translation_cache import parsed, translated

__all__ = [
    "FunctionNotFound",
    "FunctionSpec",
    "Resource",
    "Stack",
    "TemplateError",
    "layer_import_dirs",
    "load_stack",
]

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# Placeholder bucket for local artifacts while the template goes through the SAM translator.
_ARTIFACTS = "localfaas-local-artifact"
_PYTHON_RUNTIME = re.compile(r"^python3\.\d+$")


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function as the runtime needs it, everything resolved."""

    logical_id: str
    function_name: str
    arn: str
    handler: str
    code_dir: Path
    layer_dirs: tuple[Path, ...] = ()
    runtime: str = "python3.11"
    environment: dict[str, str] = field(default_factory=dict)
    timeout: int = 3
    memory_size: int = 128
    architectures: tuple[str, ...] = ("x86_64",)
    dead_letter_arn: str | None = None
    # MaximumRetryAttempts, MaximumEventAgeInSeconds, DestinationConfig, as the template sets them.
    event_invoke_config: dict[str, Any] | None = None
    logging_config: dict[str, Any] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    # The code came as a deployment package (a .zip, another file, InlineCode): `sam build` leaves
    # it as it is. Otherwise code_dir is a source folder that localfaas.build can build.
    packaged: bool = False
    # Built dependencies put after the runtime's own packages (the in-process runtime, which shares
    # one interpreter and its libraries among all functions; see localfaas.build).
    package_dirs: tuple[Path, ...] = ()

    def with_env_vars(self, env_vars: Mapping[str, Mapping[str, Any]]) -> FunctionSpec:
        """This function with SAM CLI's env-vars applied: the variables under "Parameters" apply to every
        function, then those under its FunctionName, then under its logical id (the most specific wins).
        As in SAM, only variables the template declares are replaced; none are added.
        https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-using-invoke.html
        """
        overrides: dict[str, str] = {}
        for scope in ("Parameters", self.function_name, self.logical_id):
            overrides.update({k: _override_text(v) for k, v in (env_vars.get(scope) or {}).items()})
        if not overrides:
            return self
        return replace(self, environment={k: overrides.get(k, v) for k, v in self.environment.items()})


@dataclass(frozen=True)
class Resource:
    """A resolved resource: what the template says, after SAM expansion and intrinsics."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    physical_name: str
    metadata: dict[str, Any] = field(default_factory=dict)


class FunctionNotFound(KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "function not found"


class Stack:
    """The loaded template: parameters, resources, physical names and runnable functions."""

    def __init__(
        self,
        template_path: Path,
        place: Place,
        template: dict[str, Any],
        parameters: dict[str, Any],
        artifacts: dict[str, Path],
    ) -> None:
        self.template_path = template_path
        self.region = place.region
        self.account_id = place.account_id
        self.stack_name = place.stack_name
        self.place = place
        self.template = template  # translated (plain CloudFormation), intrinsics unresolved
        # Declared parameters with a known value (an SSM-typed one without override has none).
        self.parameters = {
            k: v for k, v in parameters.items() if not k.startswith("AWS::") and isinstance(v, str | list)
        }
        self.warnings: list[str] = []
        self.sam_layer_ids: list[str] = []  # AWS::Serverless::LayerVersion ids, before translation
        self._artifacts = artifacts
        self._raw: dict[str, dict[str, Any]] = template.get("Resources") or {}
        self._props: dict[tuple[str, str], Any] = {}
        self._in_progress: set[tuple[str, str]] = set()
        self._names: dict[str, str] = {}
        self.resolver = Resolver(
            parameters,
            template.get("Conditions") or {},
            template.get("Mappings") or {},
            self._ref_resource,
            self._get_att,
            place.region,
        )
        self.conditions = {name: self.resolver.condition(name) for name in template.get("Conditions") or {}}
        active = [lid for lid, res in self._raw.items() if self._is_active(lid, res)]
        self.physical_names = {lid: self._name(lid) for lid in active}
        self.resources = {lid: self._resolve_resource(lid) for lid in active}
        self.functions = self._functions()

    # ---- lookups ------------------------------------------------------------------------------------

    def function(self, name_or_logical_id: str) -> FunctionSpec:
        """Find a function by logical id, function name or ARN (a version/alias qualifier is ignored)."""
        wanted = name_or_logical_id
        if wanted.startswith("arn:") and wanted.count(":") >= 6:
            wanted = wanted.split(":")[6]
        for spec in self.functions.values():
            if wanted in (spec.logical_id, spec.function_name):
                return spec
        known = ", ".join(sorted(self.functions)) or "none"
        raise FunctionNotFound(
            f"function {name_or_logical_id!r} not found in {self.template_path.name}; known functions: {known}"
        )

    def resources_of_type(self, resource_type: str) -> list[Resource]:
        return [self.resource(lid) for lid, res in self.resources.items() if res["Type"] == resource_type]

    def resource(self, logical_id: str) -> Resource:
        res = self.resources[logical_id]
        return Resource(
            logical_id,
            res["Type"],
            res.get("Properties", {}),
            self.physical_names[logical_id],
            res.get("Metadata") or {},
        )

    @property
    def event_source_mappings(self) -> list[Resource]:
        return self.resources_of_type("AWS::Lambda::EventSourceMapping")

    @property
    def rules(self) -> list[Resource]:
        return self.resources_of_type("AWS::Events::Rule")

    @cached_property
    def outputs(self) -> dict[str, Any]:
        """Resolved Outputs values, computed on first use (an output may use what localfaas lacks)."""
        values = {}
        for name, output in (self.template.get("Outputs") or {}).items():
            if "Condition" in output and not self.resolver.condition(output["Condition"], ("Outputs", name)):
                continue
            values[name] = self.resolver.resolve(output.get("Value"), ("Outputs", name, "Value"))
        return values

    # ---- resolution ---------------------------------------------------------------------------------

    def _is_active(self, logical_id: str, resource: Any) -> bool:
        if logical_id.startswith("Fn::ForEach"):
            raise TemplateError(
                "Fn::ForEach (AWS::LanguageExtensions) is not supported by localfaas",
                ("Resources", logical_id),
            )
        if not isinstance(resource, dict) or "Type" not in resource:
            raise TemplateError("a resource needs a Type", ("Resources", logical_id))
        condition = resource.get("Condition")
        return condition is None or self.resolver.condition(condition, ("Resources", logical_id, "Condition"))

    def _prop(self, logical_id: str, name: str) -> Any:
        """One resolved property, on demand: what Ref/GetAtt of another resource needs."""
        key = (logical_id, name)
        if key not in self._props:
            if key in self._in_progress:
                raise TemplateError("circular reference", ("Resources", logical_id, "Properties", name))
            self._in_progress.add(key)
            try:
                raw = (self._raw[logical_id].get("Properties") or {}).get(name)
                value = self.resolver.resolve(raw, ("Resources", logical_id, "Properties", name))
            finally:
                self._in_progress.discard(key)
            self._props[key] = None if value is NO_VALUE else value
        return self._props[key]

    def _name(self, logical_id: str) -> str:
        if logical_id not in self._names:
            res_type = self._raw[logical_id]["Type"]
            self._names[logical_id] = physical_name(
                res_type, logical_id, lambda p: self._prop(logical_id, p), self.place
            )
        return self._names[logical_id]

    def _identity(self, logical_id: str, path: tuple[str, ...]) -> Identity:
        resource = self._raw.get(logical_id)
        if resource is None:
            raise TemplateError(
                f"{logical_id!r} is neither a parameter nor a resource of this template", path
            )
        if not self._is_active(logical_id, resource):
            raise TemplateError(f"resource {logical_id} is not created: its condition is false", path)
        return Identity(
            logical_id,
            resource["Type"],
            self._name(logical_id),
            lambda p: self._prop(logical_id, p),
            self.place,
        )

    def _ref_resource(self, logical_id: str, path: tuple[str, ...]) -> Any:
        identity = self._identity(logical_id, path)
        return type_info(identity.type).ref(identity)

    def _get_att(self, logical_id: str, attribute: str, path: tuple[str, ...]) -> Any:
        identity = self._identity(logical_id, path)
        getter = type_info(identity.type).attributes.get(attribute)
        if getter is None:
            raise TemplateError(
                f"Fn::GetAtt {logical_id}.{attribute}: attribute {attribute!r} of {identity.type} "
                "is not supported by localfaas",
                path,
            )
        return getter(identity)

    def _resolve_resource(self, logical_id: str) -> dict[str, Any]:
        raw = self._raw[logical_id]
        resolved = {k: v for k, v in raw.items() if k != "Properties"}
        resolved["Properties"] = {}
        for name in raw.get("Properties") or {}:
            value = self._prop(logical_id, name)
            if value is not None:
                resolved["Properties"][name] = value
        return resolved

    # ---- functions ----------------------------------------------------------------------------------

    def _artifact(self, value: Any, logical_id: str, prop: str) -> Path | None:
        """The local folder behind Code/Content: a translated placeholder or a plain path."""
        if isinstance(value, str) and not value.startswith("s3://"):
            return (self.template_path.parent / value).resolve()
        if isinstance(value, dict) and value.get("S3Bucket") == _ARTIFACTS:
            return self._artifacts[value["S3Key"]]
        self.warnings.append(f"{logical_id}: {prop} is not a local path, so localfaas cannot run it")
        return None

    def _layers(self) -> dict[str, tuple[Path, str | None]]:
        """Layer ARN -> (content folder, Metadata.BuildMethod) for layers declared in the template."""
        layers = {}
        for layer in self.resources_of_type("AWS::Lambda::LayerVersion"):
            content = self._artifact(layer.properties.get("Content"), layer.logical_id, "Content")
            if content is not None:
                arn = self._ref_resource(layer.logical_id, ())
                content = self._package_folder(content, layer.logical_id, "ContentUri")
                layers[arn] = (content, layer.metadata.get("BuildMethod"))
        return layers

    def layer_versions(self) -> dict[str, tuple[str, Path, str | None]]:
        """Layer ARN -> (logical id, content folder, Metadata.BuildMethod), for the template's layers.

        The logical id is the template's own: the SAM translator adds a hash of the content to an
        AWS::Serverless::LayerVersion's, which `sam build` does not use for its folder."""
        ids = {
            self._ref_resource(layer.logical_id, ()): self._sam_logical_id(layer.logical_id)
            for layer in self.resources_of_type("AWS::Lambda::LayerVersion")
        }
        return {arn: (ids[arn], content, method) for arn, (content, method) in self._layers().items()}

    def _sam_logical_id(self, logical_id: str) -> str:
        for original in self.sam_layer_ids:
            if logical_id.startswith(original) and re.fullmatch(r"[0-9a-f]{10}", logical_id[len(original) :]):
                return original
        return logical_id

    def _functions(self) -> dict[str, FunctionSpec]:
        layers = self._layers()
        invoke_configs = self.resources_of_type("AWS::Lambda::EventInvokeConfig")
        functions = {}
        for fn in self.resources_of_type("AWS::Lambda::Function"):
            spec = self._function_spec(fn, layers, invoke_configs)
            if spec is not None:
                functions[fn.logical_id] = spec
        return functions

    def _function_spec(
        self, fn: Resource, layers: dict, invoke_configs: list[Resource]
    ) -> FunctionSpec | None:
        props = fn.properties
        if props.get("PackageType") == "Image":
            self.warnings.append(f"{fn.logical_id}: container-image functions need Docker; skipped")
            return None
        code = props.get("Code")
        if isinstance(code, dict) and isinstance(code.get("ZipFile"), str):  # InlineCode
            code_dir, packaged = inline_package(code["ZipFile"]), True
        else:
            code_dir = self._artifact(code, fn.logical_id, "Code")
            if code_dir is None:
                return None
            packaged = code_dir.is_file()
            code_dir = self._package_folder(code_dir, fn.logical_id, "CodeUri")
            if not code_dir.exists():
                self.warnings.append(f"{fn.logical_id}: CodeUri {code_dir} does not exist")
        if "Handler" not in props:
            raise TemplateError("a zip function needs a Handler", ("Resources", fn.logical_id, "Properties"))
        runtime = str(props.get("Runtime", ""))
        arn = self.place.arn("lambda", f"function:{fn.physical_name}")
        return FunctionSpec(
            logical_id=fn.logical_id,
            function_name=fn.physical_name,
            arn=arn,
            handler=str(props["Handler"]),
            code_dir=code_dir,
            layer_dirs=self._layer_dirs(fn, layers, runtime),
            runtime=runtime,
            environment={
                k: _env_text(v) for k, v in (props.get("Environment") or {}).get("Variables", {}).items()
            },
            timeout=int(props.get("Timeout", 3)),
            memory_size=int(props.get("MemorySize", 128)),
            architectures=tuple(props.get("Architectures") or ("x86_64",)),
            dead_letter_arn=(props.get("DeadLetterConfig") or {}).get("TargetArn"),
            event_invoke_config=_invoke_config(fn.physical_name, arn, invoke_configs),
            logging_config=dict(props.get("LoggingConfig") or {}),
            reserved_concurrency=_optional_int(props.get("ReservedConcurrentExecutions")),
            packaged=packaged,
        )

    def _package_folder(self, path: Path, logical_id: str, prop: str) -> Path:
        try:
            return package_folder(path)
        except PackageError as e:
            raise TemplateError(str(e), ("Resources", logical_id, "Properties", prop)) from None

    def _layer_dirs(self, fn: Resource, layers: dict, runtime: str) -> tuple[Path, ...]:
        dirs: list[Path] = []
        for arn in fn.properties.get("Layers") or []:
            if arn not in layers:
                self.warnings.append(
                    f"{fn.logical_id}: layer {arn} is not in this template; not on the import path"
                )
                continue
            content, build_method = layers[arn]
            dirs.extend(layer_import_dirs(content, build_method, runtime))
        return tuple(dirs)


def layer_import_dirs(content: Path, build_method: str | None, runtime: str) -> list[Path]:
    """Where a layer's Python code is importable from, as Lambda puts /opt/python on sys.path.

    With a python BuildMethod, `sam build` copies the folder itself under python/, so the folder is
    the import root; otherwise the layer must already hold python/ (and maybe its site-packages).
    https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths
    """
    if build_method and _PYTHON_RUNTIME.match(str(build_method)):
        return [content]
    candidates = [content / "python", content / "python" / "lib" / runtime / "site-packages"]
    return [path for path in candidates if path.is_dir()]


def _invoke_config(name: str, arn: str, configs: list[Resource]) -> dict[str, Any] | None:
    for config in configs:
        target = str(config.properties.get("FunctionName", ""))
        if target in (name, arn):
            keys = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig", "Qualifier")
            return {k: config.properties[k] for k in keys if k in config.properties}
    return None


def _env_text(value: Any) -> str:
    # Lambda environment variables are strings; CloudFormation turns YAML scalars into text.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise TemplateError(f"environment variable values must be strings, got {value!r}")
    return str(value)


def _override_text(value: Any) -> str:
    # An env-vars file is JSON: true/false as Lambda would see them from YAML, null as empty.
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


# ---- loading ----------------------------------------------------------------------------------------


def load_stack(
    template_path: str | Path,
    parameter_overrides: dict[str, Any] | None = None,
    *,
    region: str = "us-east-1",
    account_id: str = "123456789012",
    stack_name: str = "localfaas",
    endpoint_url: str | None = None,
) -> Stack:
    """Parse, SAM-expand and resolve `template_path`; raise TemplateError naming what is wrong."""
    path = Path(template_path).resolve()
    place = _place(region, account_id, stack_name, endpoint_url)
    template = _parse(path)
    artifacts = _stash_local_artifacts(template, path.parent)
    parameters = _parameter_values(template.get("Parameters") or {}, parameter_overrides or {}, place)
    sam_layer_ids = [
        lid
        for lid, res in template["Resources"].items()
        if isinstance(res, dict) and res.get("Type") == "AWS::Serverless::LayerVersion"
    ]
    if _uses_sam(template):
        template = translated(
            template, _translation_inputs(parameters, place), partial(_translate, template, parameters, place)
        )
    stack = Stack(path, place, template, parameters, artifacts)
    stack.sam_layer_ids = sam_layer_ids
    return stack


def _translation_inputs(parameters: dict[str, Any], place: Place) -> dict[str, Any]:
    """What a translation depends on beside the template (the key of its cache entry)."""
    values = {k: v for k, v in parameters.items() if isinstance(v, str | list)}
    where = [place.region, place.account_id, place.stack_name, place.partition, place.url_suffix]
    return {"parameters": values, "place": where}


def _place(region: str, account_id: str, stack_name: str, endpoint_url: str | None) -> Place:
    partition, suffix = "aws", "amazonaws.com"
    if region.startswith("cn-"):
        partition, suffix = "aws-cn", "amazonaws.com.cn"
    elif region.startswith("us-gov-"):
        partition = "aws-us-gov"
    return Place(region, account_id, stack_name, partition, suffix, endpoint_url)


def _parse(path: Path) -> dict[str, Any]:
    try:
        template = parsed(path.read_text(), _yaml_parse)
    except FileNotFoundError:
        raise TemplateError(f"template {path} does not exist") from None
    except Exception as e:
        from yaml import YAMLError  # here: a parse read from the cache imports no YAML at all

        if not isinstance(e, YAMLError):
            raise
        raise TemplateError(f"template {path} is not valid YAML: {e}") from None
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"template {path} has no Resources section")
    return template


def _yaml_parse(text: str) -> Any:
    from samtranslator.yaml_helper import (
        yaml_parse,
    )  # CloudFormation's tags (!Ref, !Sub, ...) as SAM reads them

    return yaml_parse(text)


def _uses_sam(template: dict[str, Any]) -> bool:
    transform = template.get("Transform")
    transforms = transform if isinstance(transform, list) else [transform]
    return SAM_TRANSFORM in transforms


def _stash_local_artifacts(template: dict[str, Any], base_dir: Path) -> dict[str, Path]:
    """Swap local CodeUri/ContentUri paths for placeholder S3 URIs the translator accepts."""
    artifacts: dict[str, Path] = {}

    def stash(props: Any, key: str) -> None:
        value = props.get(key) if isinstance(props, dict) else None
        if isinstance(value, str) and not value.startswith("s3://"):
            token = str(len(artifacts))
            artifacts[token] = (base_dir / value).resolve()
            props[key] = f"s3://{_ARTIFACTS}/{token}"

    stash((template.get("Globals") or {}).get("Function"), "CodeUri")
    for resource in template["Resources"].values():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties")
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function":
            stash(props, "CodeUri")
        elif kind == "AWS::Serverless::LayerVersion":
            stash(props, "ContentUri")
        elif kind in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi", "AWS::Serverless::StateMachine"):
            stash(props, "DefinitionUri")
    return artifacts


def _parameter_values(declared: dict[str, Any], overrides: dict[str, Any], place: Place) -> dict[str, Any]:
    """Pseudo parameters, then each declared parameter from its override or Default.

    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html
    """
    values: dict[str, Any] = {
        "AWS::Region": place.region,
        "AWS::AccountId": place.account_id,
        "AWS::StackName": place.stack_name,
        "AWS::StackId": place.arn(
            "cloudformation", f"stack/{place.stack_name}/{place.unique_id('AWS::StackId')}"
        ),
        "AWS::Partition": place.partition,
        "AWS::URLSuffix": place.url_suffix,
        "AWS::NotificationARNs": [],
    }
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        # CloudFormation's own answer to such a stack update, with the names a user may have meant.
        raise TemplateError(
            f"Parameters: [{', '.join(unknown)}] do not exist in the template "
            f"(its parameters: {', '.join(declared) or 'none'})"
        )
    for name, decl in declared.items():
        decl = decl if isinstance(decl, dict) else {}
        values[name] = _parameter_value(name, decl, overrides)
    return values


def _parameter_value(name: str, decl: dict[str, Any], overrides: dict[str, Any]) -> Any:
    path = ("Parameters", name)
    kind = str(decl.get("Type", "String"))
    if name in overrides:
        raw = overrides[name]
    elif "Default" in decl:
        raw = decl["Default"]
        if kind.startswith("AWS::SSM::Parameter::Value"):
            return unresolvable(
                f"parameter {name} ({kind}) is read from SSM Parameter Store key {raw!r}; "
                "pass its value as a parameter override"
            )
    else:
        raise TemplateError(f"Parameters: [{name}] must have values", path)
    text = ",".join(_env_text(v) for v in raw) if isinstance(raw, list) else _env_text(raw)
    problem = _parameter_constraint_violated(name, kind, decl, text)
    if problem:
        raise TemplateError(problem, path)
    if kind == "CommaDelimitedList" or kind.startswith("List<"):
        return text.split(",") if text else []
    return text


def _parameter_constraint_violated(name: str, kind: str, decl: dict[str, Any], text: str) -> str | None:
    """CloudFormation's wording for a value its parameter's constraints refuse, else None."""
    allowed = decl.get("AllowedValues")
    if allowed is not None and text not in [_env_text(v) for v in allowed]:
        return f"Parameter '{name}' must be one of AllowedValues"
    pattern = decl.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, text):
        return f"Parameter '{name}' must match pattern {pattern}"
    if kind == "Number":
        try:
            number = float(text)
        except ValueError:
            return f"Parameter '{name}' must be a number"
        if "MinValue" in decl and number < float(decl["MinValue"]):
            return f"Parameter '{name}' must be a number not less than {decl['MinValue']}"
        if "MaxValue" in decl and number > float(decl["MaxValue"]):
            return f"Parameter '{name}' must be a number not greater than {decl['MaxValue']}"
    if "MinLength" in decl and len(text) < int(decl["MinLength"]):
        return f"Parameter '{name}' must contain at least {decl['MinLength']} characters"
    if "MaxLength" in decl and len(text) > int(decl["MaxLength"]):
        return f"Parameter '{name}' must contain at most {decl['MaxLength']} characters"
    return None


def _translate(template: dict[str, Any], parameters: dict[str, Any], place: Place) -> dict[str, Any]:
    """Expand AWS::Serverless-2016-10-31 with aws-sam-translator, offline."""
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    # The translator asks a boto3 session for the region; no call is made with it.
    session = boto3.session.Session(region_name=place.region)
    translator = Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=session)
    values = {
        k: (",".join(v) if isinstance(v, list) else v)
        for k, v in parameters.items()
        if isinstance(v, str | list)
    }
    try:
        return translator.translate(
            copy.deepcopy(template),
            parameter_values=values,
            passthrough_metadata=True,
            # Names the translator does not bundle would be looked up in IAM; offline we have none.
            get_managed_policy_map=dict,
        )
    except InvalidDocumentException as e:
        raise TemplateError("; ".join(cause.message for cause in e.causes)) from None
    finally:
        # The translator times itself into metrics for CloudWatch; its publisher here drops them.
        # Left unpublished, each translation warned "There are unpublished metrics" when freed.
        translator.metrics.publish()
