"""Every command of `salesflow`, run through the Typer app on a home in tmp_path.

Exit codes: 0 success, 1 a failed run (or an order that was not there to delete), 2 bad input.
Errors go to stderr; `--json` prints JSON alone on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from salesflow import __version__
from tests.integration.conftest import cli, good_record, home_state, write_config, write_document, write_lines

MARKUP_NAME = "[bold red]x[/]"
MARKUP_EMAIL = "<script>"

MIXED = [
    good_record("A1"),  # 0: stored
    {"contact-info": {"name": "Bo", "email": "bo-at-example"}, "order-info": {"order-id": "B2", "qty": 1}},
    {"contact-info": {"name": "Ci", "email": "ci@"}, "order-info": {"order-id": "C3", "qty": 0}},
    {"order-info": {"order-id": "D4", "qty": 1}},  # 3: missing_contact_info
    {"contact-info": {"name": "Ed"}, "order-info": {"order-id": "E5", "qty": 1, "unit-price": "-1"}},
]
MALFORMED_LINE = '{"contact-info": {"name": "Cy"'
LINES = [
    good_record("L1"),
    MALFORMED_LINE,
    {"contact-info": {"name": MARKUP_NAME, "email": MARKUP_EMAIL}, "order-info": {"order-id": "M3", "qty": 1}},
]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home whose bucket got orders/mixed.json and orders/lines.jsonl by `put`, then `run --once`."""
    home = tmp_path / "home"
    write_config(home)  # settle_seconds = 0: the files are complete when put
    mixed = write_document(tmp_path / "mixed.json", MIXED)
    lines = write_lines(tmp_path / "lines.jsonl", LINES)
    assert cli(home, "put", str(mixed)).code == 0
    assert cli(home, "put", str(lines)).code == 0
    assert cli(home, "run", "--once").code == 0
    return home


def letters(home: Path, *options: str) -> list[dict[str, Any]]:
    result = cli(home, "dlq", "list", "--json", *options)
    assert result.code == 0, result.stderr
    found: list[dict[str, Any]] = result.json()
    return found


def letter_id(home: Path, key: str, position: int) -> str:
    [letter] = [x for x in letters(home, "--key", key) if x["position"] == position]
    return str(letter["id"])


def order(home: Path, order_id: str) -> dict[str, Any]:
    result = cli(home, "orders", "show", order_id, "--json")
    assert result.code == 0, result.stderr
    found: dict[str, Any] = result.json()
    return found


# -- put ------------------------------------------------------------------------------


def test_put_copies_a_json_file_under_orders_by_default(tmp_path: Path) -> None:
    source = write_document(tmp_path / "in" / "day-1.json", [good_record("1")])

    result = cli(tmp_path / "home", "put", str(source))

    assert result.code == 0, result.stderr
    assert "orders/day-1.json" in result.stderr
    bucket = tmp_path / "home" / "bucket"
    assert (bucket / "orders" / "day-1.json").read_bytes() == source.read_bytes()
    assert [p.name for p in (bucket / "orders").iterdir()] == ["day-1.json"]  # no temp file left behind


def test_put_with_a_key_puts_any_file_there(tmp_path: Path) -> None:
    source = tmp_path / "notes.csv"
    source.write_text("a,b\n")

    result = cli(tmp_path / "home", "put", str(source), "inbox/2026/notes.csv")

    assert result.code == 0, result.stderr
    assert (tmp_path / "home" / "bucket" / "inbox" / "2026" / "notes.csv").read_text() == "a,b\n"


def test_put_refuses_a_missing_file(tmp_path: Path) -> None:
    result = cli(tmp_path / "home", "put", str(tmp_path / "nowhere.json"))

    assert result.code == 2
    assert "nowhere.json is not a file" in result.stderr
    assert result.stdout == ""


def test_put_refuses_a_non_json_name_without_a_key(tmp_path: Path) -> None:
    source = tmp_path / "notes.csv"
    source.write_text("a,b\n")

    result = cli(tmp_path / "home", "put", str(source))

    assert result.code == 2
    assert "give a KEY for notes.csv" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "home" / "bucket" / "orders" / "notes.csv").exists()


# -- run ------------------------------------------------------------------------------


def test_run_once_exits_0_when_every_execution_succeeded_and_1_when_one_failed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    good = write_document(tmp_path / "good.json", [good_record("1"), {"order-info": {}}])
    assert cli(home, "put", str(good)).code == 0

    first = cli(home, "run", "--once")
    assert first.code == 0, first.stderr
    assert "1 execution(s) this run" in first.stderr

    broken = tmp_path / "broken.json"
    broken.write_text('{"orders": [{"contact-info": {"name": "A"}')
    assert cli(home, "put", str(broken)).code == 0
    second = cli(home, "run", "--once")
    assert second.code == 1
    assert "orders/broken.json" in second.stderr

    assert cli(home, "run", "--once").code == 0  # nothing pending: nothing failed


# -- executions ----------------------------------------------------------------------


def test_executions_lists_shows_and_filters(home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("[1, 2")
    cli(home, "put", str(broken))
    assert cli(home, "run", "--once").code == 1

    result = cli(home, "executions", "--json")
    assert result.code == 0
    rows = {row["key"]: row for row in result.json()}
    assert set(rows) == {"orders/mixed.json", "orders/lines.jsonl", "orders/broken.json"}
    mixed = rows["orders/mixed.json"]
    assert {
        "id",
        "pipeline",
        "key",
        "status",
        "records",
        "stored",
        "rejected",
        "started_at",
        "finished_at",
        "error",
    } <= set(mixed)
    assert (mixed["pipeline"], mixed["status"], mixed["records"], mixed["stored"], mixed["rejected"]) == (
        "orders",
        "succeeded",
        5,
        1,
        4,
    )

    failed = cli(home, "executions", "--status", "failed", "--json").json()
    assert [(row["key"], row["status"]) for row in failed] == [("orders/broken.json", "failed")]
    assert failed[0]["error"]

    shown = cli(home, "executions", "show", mixed["id"], "--json")
    assert shown.code == 0
    assert shown.json()["rejected_by_reason"] == {
        "invalid_email": 2,
        "invalid_quantity": 1,
        "missing_contact_info": 1,
        "invalid_price": 1,
    }
    table = cli(home, "executions", "show", mixed["id"])
    assert table.code == 0
    assert "rejected_by_reason" in table.stdout
    assert "orders/mixed.json" in table.stdout

    unknown = cli(home, "executions", "show", "ex-000000000000")
    assert unknown.code == 2
    assert "ex-000000000000" in unknown.stderr


# -- the dead-letter queue -------------------------------------------------------------


def test_dlq_list_filters_and_json_is_only_an_array(home: Path) -> None:
    result = cli(home, "dlq", "list", "--json")
    assert result.code == 0
    everything = json.loads(result.stdout)  # nothing else on stdout, or this would not parse
    assert isinstance(everything, list)
    assert [(x["key"], x["position"], x["reasons"], x["status"]) for x in everything] == [
        ("orders/lines.jsonl", 2, ["malformed_json"], "pending"),  # objects are processed in key order
        ("orders/lines.jsonl", 3, ["invalid_email"], "pending"),
        ("orders/mixed.json", 1, ["invalid_email"], "pending"),
        ("orders/mixed.json", 2, ["invalid_quantity", "invalid_email"], "pending"),
        ("orders/mixed.json", 3, ["missing_contact_info"], "pending"),
        ("orders/mixed.json", 4, ["invalid_price"], "pending"),
    ]
    assert everything[0]["record"] == MALFORMED_LINE  # the line as it arrived
    assert everything[2]["record"] == MIXED[1]  # the record as it arrived

    assert [(x["key"], x["position"]) for x in letters(home, "--reason", "invalid_email")] == [
        ("orders/lines.jsonl", 3),
        ("orders/mixed.json", 1),
        ("orders/mixed.json", 2),
    ]
    assert [x["position"] for x in letters(home, "--key", "orders/lines.jsonl")] == [2, 3]
    assert [x["position"] for x in letters(home, "--key", "orders/lines.jsonl", "--reason", "invalid_email")] == [3]
    cli(home, "dlq", "discard", letter_id(home, "orders/mixed.json", 3), "--why", "test")
    assert [x["position"] for x in letters(home, "--status", "discarded")] == [3]
    assert len(letters(home, "--status", "pending")) == 5
    assert letters(home, "--reason", "write_failed") == []


def test_dlq_show_prints_one_letter(home: Path) -> None:
    letter = letter_id(home, "orders/mixed.json", 4)

    shown = cli(home, "dlq", "show", letter, "--json")
    assert shown.code == 0
    found = shown.json()
    assert (found["key"], found["position"], found["reasons"], found["status"]) == (
        "orders/mixed.json",
        4,
        ["invalid_price"],
        "pending",
    )
    assert found["record"] == MIXED[4]

    table = cli(home, "dlq", "show", letter)
    assert table.code == 0
    assert "invalid_price" in table.stdout
    assert "E5" in table.stdout

    missing = cli(home, "dlq", "show", "99999")
    assert missing.code == 2
    assert "99999" in missing.stderr


def test_dlq_redrive_with_a_fix_moves_the_letter_into_orders_once(home: Path) -> None:
    letter = letter_id(home, "orders/mixed.json", 1)

    result = cli(home, "dlq", "redrive", letter, "--set", "contact-info.email=a@b.co", "--json")

    assert result.code == 0, result.stderr
    assert result.json() == [{"letter_id": int(letter), "status": "redriven", "reasons": []}]
    stored = order(home, "B2")
    assert (stored["customer_email"], stored["source_key"], stored["source_position"]) == (
        "a@b.co",
        "orders/mixed.json",
        1,
    )
    seen = cli(home, "sql", "SELECT order_id, customer_email FROM orders WHERE order_id = 'B2'", "--json")
    assert seen.json() == [{"order_id": "B2", "customer_email": "a@b.co"}]
    shown = cli(home, "dlq", "show", letter, "--json").json()
    assert shown["status"] == "redriven"
    assert [entry["action"] for entry in shown["history"]] == ["redrive"]

    again = cli(home, "dlq", "redrive", letter, "--set", "contact-info.email=a@b.co")
    assert again.code == 2
    assert "redriven already" in again.stderr
    assert [(event, oid) for event, oid, _, _ in home_state(home).changes if oid == "B2"] == [("INSERT", "B2")]


@pytest.mark.parametrize("price", ["2.50", "1234567890123456.78", "12345678901234567.0000000001"])
def test_dlq_redrive_set_keeps_a_price_exact(home: Path, price: str) -> None:
    """Money is Decimal, never float: a price given with --set is stored as typed, like a price
    read from a file (the letter's price "-1" is fixed with this one)."""
    letter = letter_id(home, "orders/mixed.json", 4)

    result = cli(home, "dlq", "redrive", letter, "--set", f"order-info.unit-price={price}", "--json")

    assert result.code == 0, result.stderr
    assert [o["status"] for o in result.json()] == ["redriven"]
    assert order(home, "E5")["price"] == price


def test_dlq_redrive_that_still_fails_stays_pending_with_the_new_reasons(home: Path) -> None:
    letter = letter_id(home, "orders/mixed.json", 2)

    result = cli(home, "dlq", "redrive", letter, "--set", "contact-info.email=ci@example.com", "--json")

    assert result.code == 0, result.stderr
    assert result.json() == [{"letter_id": int(letter), "status": "pending", "reasons": ["invalid_quantity"]}]
    shown = cli(home, "dlq", "show", letter, "--json").json()
    assert (shown["status"], shown["reasons"]) == ("pending", ["invalid_quantity"])
    assert shown["record"]["contact-info"]["email"] == "ci@example.com"
    assert cli(home, "orders", "show", "C3").code == 2


def test_dlq_redrive_by_reason_and_all(home: Path) -> None:
    by_reason = cli(home, "dlq", "redrive", "--reason", "invalid_price", "--set", "order-info.unit-price=3", "--json")
    assert by_reason.code == 0, by_reason.stderr
    assert [(o["status"], o["reasons"]) for o in by_reason.json()] == [("redriven", [])]
    assert order(home, "E5")["price"] == "3"

    everything = cli(home, "dlq", "redrive", "--all", "--json")
    assert everything.code == 0, everything.stderr
    outcomes = everything.json()
    assert {o["letter_id"] for o in outcomes} == {x["id"] for x in letters(home, "--status", "pending")}
    assert len(outcomes) == 5  # every pending letter, each refused again by the same rules
    assert {o["status"] for o in outcomes} == {"pending"}

    nothing = cli(home, "dlq", "redrive")
    assert nothing.code == 2
    assert "--all" in nothing.stderr


def test_dlq_redrive_with_a_record_fixes_a_malformed_line(home: Path) -> None:
    letter = letter_id(home, "orders/lines.jsonl", 2)
    fixed = {"contact-info": {"name": "Cy", "email": "cy@example.com"}, "order-info": {"order-id": "C2", "qty": 2}}

    result = cli(home, "dlq", "redrive", letter, "--record", json.dumps(fixed), "--json")

    assert result.code == 0, result.stderr
    assert [o["status"] for o in result.json()] == ["redriven"]
    stored = order(home, "C2")
    assert (stored["quantity"], stored["source_key"], stored["source_position"]) == (2, "orders/lines.jsonl", 2)

    bad = cli(home, "dlq", "redrive", letter_id(home, "orders/lines.jsonl", 3), "--record", "{not json")
    assert bad.code == 2
    assert "--record" in bad.stderr


def test_dlq_discard_keeps_the_reason_and_refuses_a_second_time(home: Path) -> None:
    letter = letter_id(home, "orders/mixed.json", 3)

    result = cli(home, "dlq", "discard", letter, "--why", "customer cancelled")

    assert result.code == 0, result.stderr
    shown = cli(home, "dlq", "show", letter, "--json").json()
    assert (shown["status"], shown["note"]) == ("discarded", "customer cancelled")
    again = cli(home, "dlq", "discard", letter, "--why", "twice")
    assert again.code == 2
    assert "discarded already" in again.stderr
    assert cli(home, "dlq", "redrive", letter).code == 2  # a discarded letter cannot be redriven


def test_dlq_list_shows_markup_and_html_in_records_literally(home: Path) -> None:
    result = cli(home, "dlq", "list", "--key", "orders/lines.jsonl")

    assert result.code == 0
    assert MARKUP_NAME in result.stdout
    assert MARKUP_EMAIL in result.stdout


# -- orders, sql, status ------------------------------------------------------------------


def test_orders_delete_removes_with_a_change_record_and_fails_for_an_unknown_id(home: Path) -> None:
    result = cli(home, "orders", "delete", "A1")

    assert result.code == 0, result.stderr
    assert cli(home, "orders", "show", "A1").code == 2
    changes = cli(home, "sql", "SELECT event_type FROM changes WHERE order_id = 'A1' ORDER BY sequence", "--json")
    assert changes.json() == [{"event_type": "INSERT"}, {"event_type": "REMOVE"}]
    event, order_id, old_image, new_image = home_state(home).changes[-1]
    assert (event, order_id, new_image) == ("REMOVE", "A1", None)
    assert old_image["order_info"]["order_id"] == "A1"

    unknown = cli(home, "orders", "delete", "NOPE")
    assert unknown.code == 1
    assert "removed 0 of 1" in unknown.stderr


def test_sql_returns_rows_as_a_table_and_as_json(home: Path) -> None:
    table = cli(home, "sql", "SELECT order_id, quantity FROM orders ORDER BY order_id")
    assert table.code == 0, table.stderr
    assert "order_id" in table.stdout
    assert "A1" in table.stdout
    assert "L1" in table.stdout

    rows = cli(home, "sql", "SELECT order_id, quantity FROM orders ORDER BY order_id", "--json")
    assert rows.json() == [{"order_id": "A1", "quantity": 1}, {"order_id": "L1", "quantity": 1}]
    counts = cli(
        home,
        "sql",
        "SELECT (SELECT count(*) FROM dead_letters) AS letters, (SELECT count(*) FROM executions) AS runs",
        "--json",
    )
    assert counts.json() == [{"letters": 6, "runs": 2}]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM orders", "read-only"),
        ("COPY orders TO '{dir}/out.csv'", "read-only"),
        ("ATTACH '{dir}/other.db' AS other", "read-only"),
        ("INSTALL httpfs", "read-only"),
        ("SELECT * FROM read_csv('/etc/passwd')", "Permission Error"),
    ],
)
def test_sql_refuses_anything_that_writes_or_reaches_outside(
    home: Path, tmp_path: Path, query: str, message: str
) -> None:
    result = cli(home, "sql", query.format(dir=tmp_path))

    assert result.code == 2
    assert message in result.stderr
    assert "root:" not in result.stdout + result.stderr
    assert len(home_state(home).orders) == 2
    assert not (tmp_path / "out.csv").exists()
    assert not (tmp_path / "other.db").exists()


def test_status_json_counts_everything(home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("")
    cli(home, "put", str(broken))
    cli(home, "run", "--once")
    later = write_document(tmp_path / "later.json", [good_record("Z9")])
    cli(home, "put", str(later))

    result = cli(home, "status", "--json")

    assert result.code == 0
    status = result.json()
    assert status["orders"] == 2
    assert status["dead_letters"] == {"pending": 6}
    assert status["executions"] == {"succeeded": 2, "failed": 1}
    assert status["pending_objects"] == 1
    assert status["last_error"]["key"] == "orders/broken.json"
    assert "empty" in status["last_error"]["error"]

    table = cli(home, "status")
    assert table.code == 0
    assert "pending objects" in table.stdout


def test_version_prints_the_version(tmp_path: Path) -> None:
    result = cli(tmp_path, "--version")

    assert result.code == 0, result.stderr
    assert result.stdout.strip() == f"salesflow {__version__}"
