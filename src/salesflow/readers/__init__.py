"""Turn a byte stream into blocks of records: fast, exact, with flat memory.

Readers know nothing of buckets or tables; they take any binary file object.
Two ways to read: sequentially (``read_document``, ``read_lines``), or
planned (``plan_*`` maps the object into spans of whole records in one cheap
pass, then ``read_*_span`` parses any span on its own, so several processes
can share one object).
"""

from salesflow.readers.documents import check_document, plan_document, read_document, read_document_span
from salesflow.readers.lines import plan_lines, read_lines, read_lines_span
from salesflow.readers.types import Block, FormatName, Span, Unreadable, detect_format

__all__ = [
    "Block",
    "FormatName",
    "Span",
    "Unreadable",
    "check_document",
    "detect_format",
    "plan_document",
    "plan_lines",
    "read_document",
    "read_document_span",
    "read_lines",
    "read_lines_span",
]
