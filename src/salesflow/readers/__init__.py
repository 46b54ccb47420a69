"""Turn a byte stream into blocks of records: fast, exact, with flat memory.

Readers know nothing of buckets or tables; they take any binary file object.
"""

from salesflow.readers.documents import check_document, read_document
from salesflow.readers.lines import read_lines
from salesflow.readers.types import Block, FormatName, detect_format

__all__ = ["Block", "FormatName", "check_document", "detect_format", "read_document", "read_lines"]
