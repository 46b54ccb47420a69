"""Read-only SQL over the lake with Athena: ``salesflow sql --face aws``.

A query runs in a workgroup (whose result location and byte limit the CDK app
sets), is polled with backoff until it ends, and its rows are read page by page.
Like the embedded face's DuckDB engine, anything but one SELECT is refused here,
before Athena sees it: no INSERT, CTAS, UNLOAD (which writes to S3), DDL or
MSCK. The workgroup's role is read-only too; this check is the first fence, not
the only one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from salesflow.adapters.aws.clients import translate_errors
from salesflow.adapters.local.duck_sql import QueryResult
from salesflow.domain.errors import PermanentError, ReadOnlyQuery, TransientError

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_LITERALS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_WRITES = re.compile(
    r"\b(INSERT|UNLOAD|CREATE|DROP|ALTER|DELETE|UPDATE|MERGE|MSCK|GRANT|REVOKE|CALL|OPTIMIZE|VACUUM|"
    r"EXECUTE|PREPARE|DEALLOCATE|REFRESH|TRUNCATE|SET|RESET|USE|COMMIT|ROLLBACK|START)\b",
    re.IGNORECASE,
)
_ENDED = {"SUCCEEDED", "FAILED", "CANCELLED"}


def check_select(sql: str) -> str:
    """The one SELECT statement of sql (a trailing ';' dropped). Raises ReadOnlyQuery."""
    bare = _LITERALS.sub("''", _COMMENTS.sub(" ", sql)).strip()
    if bare.endswith(";"):
        bare = bare[:-1].rstrip()
        sql = sql.rstrip().rstrip(";")
    if not bare:
        raise ReadOnlyQuery("no SQL statement given")
    if ";" in bare:
        raise ReadOnlyQuery("one statement at a time: Athena runs a single SELECT")
    first = bare.split(None, 1)[0].upper()
    if first not in ("SELECT", "WITH", "(") or (found := _WRITES.search(bare)):
        word = found.group(1).upper() if first in ("SELECT", "WITH", "(") and found else first
        raise ReadOnlyQuery(f"only SELECT is allowed here, not {word}: salesflow sql is read-only")
    return sql


class AthenaSqlEngine:
    """Runs one SELECT in an Athena workgroup and returns its rows as text (Athena's own types are text)."""

    def __init__(
        self,
        athena: Any,
        workgroup: str,
        database: str,
        output: str | None = None,
        timeout_seconds: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._athena = athena
        self.workgroup = workgroup
        self.database = database
        self.output = output
        self.timeout_seconds = timeout_seconds
        self._sleep = sleep

    def query(self, sql: str) -> QueryResult:
        """Raises ReadOnlyQuery for anything but a SELECT or a failed query; TransientError on a timeout."""
        params: dict[str, Any] = {
            "QueryString": check_select(sql),
            "WorkGroup": self.workgroup,
            "QueryExecutionContext": {"Database": self.database},
        }
        if self.output:
            params["ResultConfiguration"] = {"OutputLocation": self.output}
        with translate_errors("starting an Athena query"):
            query_id = self._athena.start_query_execution(**params)["QueryExecutionId"]
        self._wait(query_id)
        return self._results(query_id)

    def _wait(self, query_id: str) -> None:
        waited, pause = 0.0, 0.1
        while True:
            with translate_errors(f"polling Athena query {query_id}"):
                status = self._athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                return
            if state in _ENDED:
                raise ReadOnlyQuery(
                    f"Athena query {state.lower()}: {status.get('StateChangeReason', 'no reason given')}"
                )
            if waited >= self.timeout_seconds:
                with translate_errors(f"stopping Athena query {query_id}"):
                    self._athena.stop_query_execution(QueryExecutionId=query_id)
                raise TransientError(f"Athena query {query_id} ran over {self.timeout_seconds:.0f} s; stopped it")
            self._sleep(pause)
            waited += pause
            pause = min(pause * 2, 2.0)

    def _results(self, query_id: str) -> QueryResult:
        columns: list[str] = []
        rows: list[tuple[Any, ...]] = []
        paginator = self._athena.get_paginator("get_query_results")
        try:
            with translate_errors(f"reading Athena query {query_id}"):
                for page in paginator.paginate(QueryExecutionId=query_id):
                    result = page["ResultSet"]
                    if not columns:
                        columns = [c["Name"] for c in result.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
                    for row in result.get("Rows", []):
                        rows.append(tuple(cell.get("VarCharValue") for cell in row["Data"]))
        except PermanentError as exc:
            raise ReadOnlyQuery(str(exc)) from exc
        # A SELECT's first row is its header, repeated by Athena as data.
        if rows and columns and list(rows[0]) == columns:
            rows = rows[1:]
        return QueryResult(columns, rows)
