"""The production event store: chained and sealing recorders (SQLite, PostgreSQL), the per-subject
key store, and the fast readers of the notification log.

What auditors do with it (verify the chain, anchor, export, replay, time travel) lives in `audit`.
"""
