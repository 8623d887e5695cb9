"""Read CloudFormation / SAM YAML templates into plain dicts.

Short-form intrinsics come back in their long form (``!Ref X`` -> ``{"Ref": "X"}``,
``!GetAtt A.B`` -> ``{"Fn::GetAtt": ["A", "B"]}``, ``!Sub s`` -> ``{"Fn::Sub": "s"}``), the shape
the SAM translator, moto and the local stack all expect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# Tags CloudFormation accepts in short form. Anything else is a typo, not a new intrinsic.
_FUNCTION_TAGS = frozenset(
    {
        "And",
        "Base64",
        "Cidr",
        "Equals",
        "FindInMap",
        "GetAZs",
        "GetAtt",
        "If",
        "ImportValue",
        "Join",
        "Length",
        "Not",
        "Or",
        "Select",
        "Split",
        "Sub",
        "ToJsonString",
        "Transform",
    }
)
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader reading scalars and mappings the way CloudFormation does."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # CloudFormation rejects duplicate keys; PyYAML would silently keep the last one.
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# CloudFormation keeps 2010-09-09 a string; YAML 1.1 would turn it into a date.
_TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_intrinsic(loader: _TemplateLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)

    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix not in _FUNCTION_TAGS:
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown CloudFormation tag !{tag_suffix}", node.start_mark
        )
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # The attribute part may itself contain dots (Endpoint.Address), the resource never does.
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{tag_suffix}": value}


_TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: str | Path) -> dict[str, Any]:
    """Parse the template at ``path`` (YAML or JSON) with its short-form tags expanded."""
    text = Path(path).read_text(encoding="utf-8")
    document = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a template must be a mapping at the top level")
    return document
