"""In-package fakes of the ports, for tests and examples (like httpx's MockTransport).

They implement the real Protocols with plain dicts and lists, follow the same
contract as the local adapters (``tests/contract`` runs one suite against
both), and the ledger can inject faults, dlt-style, to exercise retries.
"""

from salesflow.adapters.memory.ledger import InMemoryOrderLedger
from salesflow.adapters.memory.notifier import InMemoryNotifier
from salesflow.adapters.memory.object_store import InMemoryObjectStore

__all__ = ["InMemoryNotifier", "InMemoryObjectStore", "InMemoryOrderLedger"]
