"""CDK entry point: `make synth` (offline, into deploy/cdk.out/) and `make deploy` (cdk deploy) run this."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from salesflow_stacks.app import build_app  # noqa: E402
from salesflow_stacks.functions import layer_is_empty  # noqa: E402


def main() -> None:
    """Synthesise; refuse to when deploying with an empty dependency layer."""
    app, _ = build_app(outdir=os.environ.get("CDK_OUTDIR") or str(HERE / "cdk.out"))
    if app.node.try_get_context("require_layer") in ("true", True) and layer_is_empty():
        sys.exit("deploy/build/layer is empty: run `make deploy` (it installs deploy/layer-requirements.txt there)")
    app.synth()


if __name__ == "__main__":
    main()
