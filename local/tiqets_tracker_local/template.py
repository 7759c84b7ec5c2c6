"""template.yaml as AWS will see it: expanded by the real SAM translator, intrinsics resolved.

The local stack builds its resources from this, and the template tests check IAM on it, so the
application that runs locally and the one that deploys cannot drift apart.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
LOCAL_ARTIFACTS = "s3://local-artifacts/"
ACCOUNT_ID = "123456789012"
PARTITION = "aws"

_NO_VALUE = object()


def load_sam_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return dict(yaml_parse(path.read_text("utf-8")))


def local_artifact_path(uri: str) -> Path:
    """The local file or folder behind an artifact URI written by `translate`."""
    if not uri.startswith(LOCAL_ARTIFACTS):
        raise ValueError(f"not a local artifact URI: {uri}")
    return PROJECT_ROOT / uri.removeprefix(LOCAL_ARTIFACTS)


def translate(sam_template: Mapping[str, Any], region: str) -> dict[str, Any]:
    """Expand the SAM template into plain CloudFormation with the real SAM translator.

    Local code and definition paths are first swapped for artifact URIs, as `sam package`
    would do with S3 ones; `local_artifact_path` maps them back.
    """
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(dict(sam_template))
    function_globals = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = LOCAL_ARTIFACTS + str(function_globals["CodeUri"])
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(properties.get(key), str):
                properties[key] = LOCAL_ARTIFACTS + properties[key]

    class _NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    previous_region = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region
    try:
        return dict(transform(template, {}, _NoManagedPolicies()))
    finally:
        if previous_region is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous_region


def parameter_refusal(name: str, spec: Mapping[str, Any], value: str) -> str | None:
    """Why CloudFormation would refuse `value` for the parameter, or None. The constraints are
    those of https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/parameters-section-structure.html:
    AllowedValues, AllowedPattern (matching the whole value), Min/MaxLength for strings and
    Min/MaxValue for numbers; the message is the ConstraintDescription where there is one."""

    def refused(plain: str) -> str:
        description = spec.get("ConstraintDescription")
        if description:
            return f"Parameter '{name}' failed to satisfy constraint: {description}"
        return f"Parameter '{name}' {plain}"

    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in {str(option) for option in allowed}:
        return refused(f"must be one of {[str(option) for option in allowed]}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return refused("must be a number")
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return refused(f"must be a number not less than {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return refused(f"must be a number not greater than {spec['MaxValue']}")
        return None
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        return refused(f"must match pattern {pattern}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        return refused(f"must contain at least {spec['MinLength']} characters")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        return refused(f"must contain at most {spec['MaxLength']} characters")
    return None


@dataclass
class Resolver:
    """Resolves the intrinsic functions this template uses against local names."""

    template: Mapping[str, Any]
    parameters: dict[str, str]
    stack_name: str
    region: str
    physical_ids: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_template(
        cls,
        template: Mapping[str, Any],
        *,
        stack_name: str,
        region: str,
        overrides: Mapping[str, str] | None = None,
    ) -> Resolver:
        declared = template.get("Parameters", {})
        unknown = set(overrides or {}) - set(declared)
        if unknown:
            raise ValueError(f"unknown template parameters: {sorted(unknown)}")
        values = {name: str(spec.get("Default", "")) for name, spec in declared.items()}
        values.update(overrides or {})
        refusals = [
            refusal
            for name, spec in declared.items()
            if (refusal := parameter_refusal(name, spec, values[name]))
        ]
        if refusals:
            raise ValueError("; ".join(refusals))
        resolver = cls(template, values, stack_name, region)
        resolver._name_resources()
        return resolver

    def _name_resources(self) -> None:
        prefix = f"arn:{PARTITION}"
        where = f"{self.region}:{ACCOUNT_ID}"
        for logical, resource in self.template["Resources"].items():
            kind = resource["Type"]
            name = f"{self.stack_name}-{logical}"
            if kind == "AWS::DynamoDB::Table":
                self.physical_ids[logical] = name
                self.arns[logical] = f"{prefix}:dynamodb:{where}:table/{name}"
            elif kind == "AWS::S3::Bucket":
                name = name.lower()
                self.physical_ids[logical] = name
                self.arns[logical] = f"{prefix}:s3:::{name}"
            elif kind == "AWS::Events::EventBus":
                name = str(self.resolve(resource["Properties"].get("Name", name)))
                self.physical_ids[logical] = name
                self.arns[logical] = f"{prefix}:events:{where}:event-bus/{name}"
            elif kind == "AWS::Lambda::Function":
                self.physical_ids[logical] = name
                self.arns[logical] = f"{prefix}:lambda:{where}:function:{name}"
            elif kind == "AWS::IAM::Role":
                name = name[:64]
                self.physical_ids[logical] = name
                self.arns[logical] = f"{prefix}:iam::{ACCOUNT_ID}:role/{name}"
            elif kind == "AWS::StepFunctions::StateMachine":
                arn = f"{prefix}:states:{where}:stateMachine:{name}"
                self.physical_ids[logical] = arn  # Ref of a state machine is its ARN
                self.arns[logical] = arn
            elif kind == "AWS::Logs::LogGroup":
                self.physical_ids[logical] = f"/aws/lambda/{name}"
                self.arns[logical] = f"{prefix}:logs:{where}:log-group:/aws/lambda/{name}"
            else:
                self.physical_ids[logical] = name
                self.arns[logical] = f"{prefix}:local:{where}:{logical}"
        # A rule's ARN names its bus (arn:...:rule/<bus>/<rule> on a custom bus), which the
        # first pass named.
        for logical, resource in self.template["Resources"].items():
            if resource["Type"] == "AWS::Events::Rule":
                bus = self.resolve(resource["Properties"].get("EventBusName", "default"))
                name = self.physical_ids[logical]
                rule = f"{bus}/{name}" if bus != "default" else name
                self.arns[logical] = f"{prefix}:events:{where}:rule/{rule}"

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Fn::GetAtt":
                logical, attribute = (
                    argument if isinstance(argument, list) else argument.split(".", 1)
                )
                return self._get_att(logical, attribute)
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(argument[0])
            if key == "Fn::And":
                return all(self.resolve(item) for item in argument)
            if key == "Fn::Or":
                return any(self.resolve(item) for item in argument)
            if key == "Condition":
                return self.condition(argument)
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in self.resolve(items))
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": PARTITION,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical_ids:
            return self.physical_ids[name]
        raise KeyError(f"Ref to an unknown name: {name}")

    def _get_att(self, logical: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arns[logical]
        if attribute == "Name":
            if self.template["Resources"][logical]["Type"] == "AWS::StepFunctions::StateMachine":
                # Its Ref is its ARN; its Name the last part of that.
                return self.arns[logical].rsplit(":", 1)[-1]
            return self.physical_ids[logical]
        raise KeyError(f"GetAtt {logical}.{attribute} is not simulated locally")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        local_values = {key: self.resolve(item) for key, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local_values:
                return str(local_values[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return self._get_att(logical, attribute)
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)
