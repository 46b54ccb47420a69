"""`salesflow sql` over the lake: the seed's query answers from orders_current, and the sandbox
holds even when a query names a lake view (which lets DuckDB read the lake's folder).

Refused: reading files outside the lake (directly, or with a path that climbs out of it with
`..`), writing files, attaching databases, installing or loading extensions. Each refusal
is exit code 2 with a message on stderr, and nothing leaks to stdout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.integration.conftest import cli

SECRET = "root:x:0:0:secret-marker"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated orders (with updates and deletes), then `run --once`; a CSV and a Parquet file
    beside the lake, in the home, that SQL must not read."""
    home = tmp_path_factory.mktemp("sandbox") / "home"
    generated = cli(home, "generate", "--rate", "400", "--duration", "0.5s", "--seed", "3", "--updates", "0.2",
                    "--deletes", "0.1")  # fmt: skip
    assert generated.code == 0, generated.stderr
    assert cli(home, "run", "--once").code == 0
    (home / "secret.csv").write_text(f"line\n{SECRET}\n")
    shutil.copy(next((home / "lake" / "orders").rglob("*.parquet")), home / "outside.parquet")
    return home


def test_the_seed_query_answers_from_the_lake_as_the_table_does(home: Path) -> None:
    lake = cli(home, "sql", "SELECT product_name, SUM(quantity) FROM orders_current GROUP BY product_name", "--json")
    table = cli(home, "sql", "SELECT product_name, SUM(quantity) FROM orders GROUP BY product_name", "--json")

    assert lake.code == 0, lake.stderr
    found = {row["product_name"]: int(row["sum(quantity)"]) for row in lake.json()}
    assert found == {row["product_name"]: int(row["sum(quantity)"]) for row in table.json()}
    assert len(found) > 5
    assert all(units > 0 for units in found.values())


LAKE_ESCAPES = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_parquet('/etc/hostname')",
    "SELECT count(*) FROM order_changes, read_csv('/etc/passwd')",
    "SELECT count(*) FROM orders_current UNION ALL SELECT count(*) FROM read_parquet('{lake}/../outside.parquet')",
    "SELECT count(*) FROM order_changes UNION ALL SELECT count(*) FROM read_csv('{lake}/orders/../../secret.csv')",
    "SELECT count(*) FROM order_changes UNION ALL SELECT count(*) FROM read_csv('{home}/secret.csv')",
    "SELECT count(*) FROM order_changes UNION ALL SELECT count(*) FROM read_text('{lake}-other/x.csv')",
    "SELECT count(*) FROM order_changes UNION ALL SELECT count(*) FROM glob('/etc/*')",
]


@pytest.mark.parametrize("query", LAKE_ESCAPES)
def test_reading_outside_the_lake_is_refused_even_beside_a_lake_view(home: Path, query: str) -> None:
    result = cli(home, "sql", query.format(lake=home / "lake", home=home), "--json")

    assert result.code == 2
    assert "Permission Error" in result.stderr
    assert result.stdout == ""
    assert SECRET not in result.stderr


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("COPY (SELECT 1) TO '{out}/x.csv'", "COPY"),
        ("COPY (SELECT * FROM order_changes) TO '{lake}/copy.parquet'", "COPY"),
        ("ATTACH '{out}/x.db'", "ATTACH"),
        ("INSTALL httpfs", "LOAD"),  # DuckDB files INSTALL under LOAD
        ("LOAD httpfs", "LOAD"),
        ("SELECT 1; SET enable_external_access = true", "SET"),
        ("CREATE TABLE t AS SELECT * FROM order_changes", "CREATE"),
    ],
)
def test_anything_but_select_is_refused(home: Path, tmp_path: Path, query: str, kind: str) -> None:
    result = cli(home, "sql", query.format(out=tmp_path, lake=home / "lake"))

    assert result.code == 2
    assert f"not {kind}" in result.stderr
    assert "read-only" in result.stderr
    assert list(tmp_path.iterdir()) == []
    assert not (home / "lake" / "copy.parquet").exists()


def test_the_lake_files_themselves_may_be_read(home: Path) -> None:
    """The sandbox is the lake's folder, not nothing: a user may read its Parquet files."""
    query = "SELECT count(*) FROM order_changes UNION ALL SELECT count(*) FROM read_parquet('{}/orders/**/*.parquet')"
    result = cli(home, "sql", query.format(home / "lake"), "--json")

    assert result.code == 0, result.stderr
    [lake, files] = [row["count_star()"] for row in result.json()]
    assert lake == files > 0
