"""Who is trusted: the alliance CA, kiosk and worker certificates, the PIN pepper file, and
the broker's TLS configuration and roles that enforce them.

docs/architecture.md, "The hub's rooms", says what this wing may import and why."""
