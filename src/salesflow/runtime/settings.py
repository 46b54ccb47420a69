"""Settings: defaults, then ``DIR/salesflow.toml``, then ``SALESFLOW_*`` environment variables.

Every setting has a default, so salesflow starts with no configuration at all.
Nested settings take a double underscore in the environment:
``SALESFLOW_ORDERS__CHUNK_RECORDS=50000`` sets ``[orders] chunk_records``.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from salesflow.domain.errors import ConfigError

DEFAULT_HOME = Path("salesflow-data")
CONFIG_NAME = "salesflow.toml"


class OrdersSettings(BaseModel):
    chunk_records: int = Field(
        8_000, ge=1, description="records per transaction (rounded up to whole 256 KB read blocks)"
    )
    max_record_mb: int = Field(16, ge=1, description="a single record (or line) larger than this is refused")
    retries: int = Field(3, ge=0, description="retries of a failed write before records go to the queue")
    retry_base_seconds: float = Field(0.05, ge=0)
    retry_max_seconds: float = Field(2.0, ge=0)
    subprocess_min_mb: int = Field(8, ge=0, description="objects this large are read by worker processes (0: never)")
    workers: int = Field(2, ge=1, description="reader processes for a large object")


class WatchSettings(BaseModel):
    scan_seconds: float = Field(30.0, gt=0, description="reconciliation scan interval")
    settle_seconds: float = Field(0.5, ge=0, description="an object must be unchanged this long before it is read")


class BatchConfig(BaseModel):
    settle_seconds: float = Field(2.0, ge=0, description="start a batch once no raw-data file arrived this long")
    max_files: int = Field(100, ge=1, description="... or once this many files are pending")
    item_key: list[str] = Field(["order_item_id"], min_length=1, description="columns that identify an item")
    columns: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="per table: canonical column = name in the file"
    )


class StreamSettings(BaseModel):
    buffer_mb: float = Field(5.0, gt=0, description="flush the buffer to the lake once it holds this much")
    buffer_seconds: float = Field(1.0, gt=0, description="... or once its oldest change waited this long")
    compact_files: int = Field(50, ge=2, description="compact an hour of the lake once it has more files")
    retention_hours: int = Field(24, ge=0, description="vacuum keeps replaced lake files this long")
    poll_seconds: float = Field(0.1, gt=0, description="how often an idle stream looks for new changes")
    read_rows: int = Field(10_000, ge=1, description="changes read from the change log at a time")


class ConsoleSettings(BaseModel):
    """The web console that `salesflow run` serves."""

    host: str = Field("127.0.0.1", description="address to bind; anything but loopback is warned about")
    port: int = Field(8765, ge=0, le=65535)
    enabled: bool = Field(True, description="serve the console while `salesflow run` watches")
    max_upload_mb: int = Field(1024, ge=1, description="a larger upload is refused with 413 while it streams")
    page_size: int = Field(50, ge=1, description="rows per page of the executions and dead-letter lists")
    sql_rows_shown: int = Field(1000, ge=1, description="rows of a SQL result drawn as a table (CSV has all)")
    poll_seconds: float = Field(2.0, gt=0, description="how often the overview page asks for fresh counts")

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb << 20


class NotifySettings(BaseModel):
    webhooks: list[str] = Field(default_factory=list, description="URLs that get every notice as a JSON POST")
    timeout_seconds: float = Field(5.0, gt=0)
    dlq_depth: int = Field(1000, ge=1, description="tell when more dead letters than this are pending")
    stream_lag_seconds: float = Field(60.0, gt=0, description="tell when the lake is further behind than this")
    check_seconds: float = Field(10.0, gt=0, description="how often `salesflow run` checks both")


# -- the AWS face (issue 7): where `salesflow run --face aws` and the Lambdas find their services ---------


class AwsSettings(BaseModel):
    """Names of the AWS resources (as the CDK app in deploy/ creates them) and where to reach them.

    ``endpoint_url`` points every client at an emulator (moto on 127.0.0.1) instead of AWS.
    """

    region: str = Field("us-east-1", description="AWS region of every resource")
    endpoint_url: str | None = Field(None, description="e.g. http://127.0.0.1:5000 for moto; None for AWS itself")
    bucket: str = Field("salesflow-data", description="the S3 bucket: orders/, raw-data/, processed/, lake/")
    orders_table: str = Field("salesflow-orders", description="DynamoDB orders table (partition key order_id)")
    executions_table: str = Field("salesflow-executions", description="DynamoDB executions, checkpoints, letters")
    dead_letter_queue: str = Field("salesflow-dead-letters", description="SQS queue of refused records")
    topic_arn: str | None = Field(None, description="SNS topic for notices; None: notices are only logged")
    order_kpi_table: str = Field("OrderKPI", description="DynamoDB table, partition key order_date")
    category_kpi_table: str = Field("CategoryKPI", description="DynamoDB table, partition category, sort order_date")
    athena_workgroup: str = Field("salesflow", description="Athena workgroup for `salesflow sql --face aws`")
    athena_database: str = Field("salesflow", description="Glue database of the lake's tables")
    athena_output: str | None = Field(None, description="s3://... for query results (None: the workgroup's)")


class Settings(BaseSettings):
    """All settings of one salesflow home."""

    model_config = SettingsConfigDict(env_prefix="SALESFLOW_", env_nested_delimiter="__", extra="forbid")

    home: Path = DEFAULT_HOME
    orders: OrdersSettings = OrdersSettings()
    watch: WatchSettings = WatchSettings()
    batch: BatchConfig = BatchConfig()
    notify: NotifySettings = NotifySettings()
    stream: StreamSettings = StreamSettings()
    console: ConsoleSettings = ConsoleSettings()
    aws: AwsSettings = AwsSettings()  # the AWS face only; the embedded face ignores it

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit arguments beat the environment, which beats the file.
        return init_settings, env_settings, _TomlSource(settings_cls)

    @property
    def bucket(self) -> Path:
        return self.home / "bucket"

    @property
    def database(self) -> Path:
        return self.home / "salesflow.db"

    @property
    def lake(self) -> Path:
        return self.home / "lake"


class _TomlSource(PydanticBaseSettingsSource):
    """The values of DIR/salesflow.toml, read by load_settings (which knows DIR)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return _FILE_VALUES.get() or {}


_FILE_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("salesflow_file_values", default=None)


def load_settings(home: Path | None = None) -> Settings:
    """Settings for a home (default: $SALESFLOW_HOME, else ./salesflow-data).

    Raises ConfigError naming the file or variable to fix.
    """
    home = home or Path(os.environ.get("SALESFLOW_HOME") or DEFAULT_HOME)
    token = _FILE_VALUES.set(_read_toml(home / CONFIG_NAME))
    try:
        return Settings(home=home)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"bad setting ({problems}); check {home / CONFIG_NAME} and SALESFLOW_* variables") from None
    finally:
        _FILE_VALUES.reset(token)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}; fix the file or remove it to use the defaults") from None
