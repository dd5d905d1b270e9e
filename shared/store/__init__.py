"""Versioned caption records on SQLite or PostgreSQL (see records.py), with migrations and exports."""

from shared.store.records import RecordStore, Totals, Version, to_record

__all__ = ["RecordStore", "Totals", "Version", "to_record"]
