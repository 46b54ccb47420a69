"""Read a state machine definition out of a synthesised template (Fn::Join parts become markers)."""

from __future__ import annotations

import json
import re
from typing import Any


def _marker(part: Any) -> str:
    if "Ref" in part:
        return f"__REF_{part['Ref']}__"
    if "Fn::GetAtt" in part:
        return f"__ATT_{part['Fn::GetAtt'][0]}__"
    return "__TOKEN__"


def definition(resource: dict[str, Any]) -> dict[str, Any]:
    """The ASL of an AWS::StepFunctions::StateMachine resource, with references as `__REF_Name__` text."""
    body = resource["Properties"]["DefinitionString"]
    if isinstance(body, dict):
        body = "".join(p if isinstance(p, str) else _marker(p) for p in body["Fn::Join"][1])
    # A reference standing where a number goes (MaxConcurrency: {"Ref": ...}) becomes a string.
    body = re.sub(r"(?<=[:\[,])(__(?:REF|ATT)_\w+__)", r'"\1"', body)
    return dict(json.loads(body))


def states(asl: dict[str, Any]) -> dict[str, Any]:
    """Every state, including those inside Map processors, by name."""
    found: dict[str, Any] = {}
    for name, state in asl["States"].items():
        found[name] = state
        inner = state.get("ItemProcessor") or state.get("Iterator")
        if inner:
            found.update(states(inner))
    return found
