"""The process settings salesflow sets on import (see salesflow/__init__.py), and that a
user's own values win. Each case runs in a fresh interpreter: they take effect at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SHOW = (
    "import json, os, salesflow, polars;"
    "print(json.dumps({k: os.environ.get(k) for k in ('OPENBLAS_NUM_THREADS', '_RJEM_MALLOC_CONF')}))"
)


def _settings(**env: str) -> dict[str, str | None]:
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "_RJEM_MALLOC_CONF")}
    result = subprocess.run(
        [sys.executable, "-c", SHOW], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_salesflow_sets_one_blas_thread_and_eager_page_return_for_polars() -> None:
    found = _settings()
    assert found["OPENBLAS_NUM_THREADS"] == "1"
    # polars puts its own defaults first; the last value of a setting is the one jemalloc uses
    assert found["_RJEM_MALLOC_CONF"] is not None
    assert found["_RJEM_MALLOC_CONF"].split(",")[-1] == "muzzy_decay_ms:0"


def test_values_the_user_set_stay() -> None:
    found = _settings(OPENBLAS_NUM_THREADS="4", _RJEM_MALLOC_CONF="muzzy_decay_ms:2000")
    assert found["OPENBLAS_NUM_THREADS"] == "4"
    assert found["_RJEM_MALLOC_CONF"] is not None
    assert found["_RJEM_MALLOC_CONF"].split(",")[-1] == "muzzy_decay_ms:2000"
