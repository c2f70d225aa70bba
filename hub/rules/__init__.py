"""The alliance's rules: the registry of members and card schemes, and the loan rules.
Pure: they know no database, no broker, no other wing.

docs/architecture.md, "The hub's rooms", says what this wing may import and why."""
