"""Lambda functions: one code asset (the salesflow package), one dependency layer, one role each.

Bundling needs no Docker: the code asset is `src/` filtered down to the `salesflow` package, and
the layer is a folder that `make deploy` fills with `pip install --target` for the Lambda platform
(deploy/layer-requirements.txt). `make synth` and the tests use whatever the folder holds, an empty
placeholder included, so synthesis stays fast and offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import Aws, Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .foundation import Foundation

REPO = Path(__file__).resolve().parents[2]
LAYER_DIR = REPO / "deploy" / "build" / "layer"
HANDLERS = "salesflow.aws.handlers"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# Only the package itself goes into the function code; everything else stays out of the asset.
_CODE_EXCLUDE = ["*", "!salesflow", "!salesflow/**", "**/__pycache__", "**/*.pyc", "salesflow/samples"]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One handler module and its sizing."""

    module: str
    memory_mb: int = 512
    timeout: Duration = field(default_factory=lambda: Duration.seconds(60))


def ensure_layer_dir() -> Path:
    """The layer folder, created empty (with a note) when `make deploy` has not filled it yet."""
    python = LAYER_DIR / "python"
    python.mkdir(parents=True, exist_ok=True)
    note = LAYER_DIR / "python" / "SALESFLOW_LAYER.txt"
    if not any(p.name != note.name for p in python.iterdir()) and not note.exists():
        note.write_text("Empty placeholder: `make deploy` installs deploy/layer-requirements.txt here.\n")
    return LAYER_DIR


def layer_is_empty() -> bool:
    """True when the layer folder holds no installed package (synthesis only, never deploy)."""
    python = LAYER_DIR / "python"
    return not python.exists() or all(p.name == "SALESFLOW_LAYER.txt" for p in python.iterdir())


class Functions(Construct):
    """Builds the functions; each gets its own role, log group (with retention) and environment."""

    def __init__(self, scope: Construct, construct_id: str, base: Foundation) -> None:
        super().__init__(scope, construct_id)
        self._base = base
        self._code = lambda_.Code.from_asset(str(REPO / "src"), exclude=_CODE_EXCLUDE)
        self._layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(ensure_layer_dir())),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="salesflow's runtime dependencies (deploy/layer-requirements.txt)",
        )

    def make(self, spec: FunctionSpec, extra_env: dict[str, str] | None = None) -> lambda_.Function:
        """A function running `salesflow.aws.handlers.<module>.handler` with salesflow's AWS settings."""
        base = self._base
        name = spec.module.replace("_", " ").title().replace(" ", "")
        log_group = logs.LogGroup(self, f"{name}Logs", retention=LOG_RETENTION)
        env = {
            "SALESFLOW_HOME": "/tmp/salesflow",
            "SALESFLOW_AWS__REGION": Aws.REGION,
            "SALESFLOW_AWS__BUCKET": base.bucket.bucket_name,
            "SALESFLOW_AWS__ORDERS_TABLE": base.orders.table_name,
            "SALESFLOW_AWS__DEAD_LETTER_QUEUE": base.dead_letters.queue_name,
            "SALESFLOW_AWS__TOPIC_ARN": base.notices.topic_arn,
            "SALESFLOW_AWS__ORDER_KPI_TABLE": base.order_kpi.table_name,
            "SALESFLOW_AWS__CATEGORY_KPI_TABLE": base.category_kpi.table_name,
            "POWERTOOLS_SERVICE_NAME": "salesflow",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            **(extra_env or {}),
        }
        return lambda_.Function(
            self,
            name,
            runtime=lambda_.Runtime.PYTHON_3_11,
            architecture=lambda_.Architecture.ARM_64,
            handler=f"{HANDLERS}.{spec.module}.handler",
            code=self._code,
            layers=[self._layer],
            memory_size=spec.memory_mb,
            timeout=spec.timeout,
            environment=env,
            log_group=log_group,
            description=f"salesflow {spec.module}",
        )
