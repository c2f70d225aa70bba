"""The operator's commands (`python -m hub status|pki|pin|flags|exceptions|command`):
short-lived clients of the ledger, the PKI and the broker. Nothing below imports them.

docs/architecture.md, "The hub's rooms", says what this wing may import and why."""
