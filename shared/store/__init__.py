"""Versioned caption records on SQLite or PostgreSQL (see records.py), with migrations and exports."""

from shared.store.convert import to_record
from shared.store.engine import StoreError
from shared.store.records import RecordStore, Totals, Version

__all__ = ["RecordStore", "StoreError", "Totals", "Version", "to_record"]
