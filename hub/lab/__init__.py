"""A secure alliance on one machine for `make run`, the tests and the bench: the lab's PKI
and enrolled identities, private Mosquitto brokers, and a private PostgreSQL cluster. The production worker never
imports it.

docs/architecture.md, "The hub's rooms", says what this wing may import and why."""
