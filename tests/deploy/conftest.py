"""Shared fixtures for the CDK app's tests: deploy/ on the path, one synthesis per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
if str(DEPLOY) not in sys.path:
    sys.path.insert(0, str(DEPLOY))


@pytest.fixture(scope="session")
def template() -> Any:
    """The synthesised stack as an `aws_cdk.assertions.Template` (synthesis takes a few seconds)."""
    from aws_cdk import assertions
    from salesflow_stacks.app import build_app

    _app, stack = build_app(outdir=None)
    return assertions.Template.from_stack(stack)
