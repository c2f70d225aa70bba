"""The ledger: the book of loans, returns, holds, PINs and what kiosks reported, on SQLite
or PostgreSQL, and the checks a txn passes before it is booked.

docs/architecture.md, "The hub's rooms", says what this wing may import and why."""
