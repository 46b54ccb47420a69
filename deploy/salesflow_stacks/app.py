"""Build the CDK app: one `Salesflow` stack (the tests build it the same way)."""

from __future__ import annotations

import os

from aws_cdk import App, Environment

from .stack import SalesflowStack

STACK_NAME = "Salesflow"
# Feature flags this app relies on (ResultWriterV2 renders the Distributed Map's ResultWriter).
CONTEXT = {"@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2": True}


def build_app(outdir: str | None) -> tuple[App, SalesflowStack]:
    """The app and its stack; the account and region come from the CLI's environment when deploying."""
    app = App(outdir=outdir, context=CONTEXT) if outdir else App(context=CONTEXT)
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if account and region else None
    stack = SalesflowStack(
        app, str(app.node.try_get_context("stack_name") or STACK_NAME), env=env, description="salesflow pipelines"
    )
    return app, stack
