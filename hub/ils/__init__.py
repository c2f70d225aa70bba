"""The SIP2 leg: which member's own library system hears of a loan, the calls made live and
those queued, and the drainer that delivers the queue.

docs/architecture.md, "The hub's rooms", says what this wing may import and why."""
