"""The hub worker: the MQTT service, the intake that checks and routes each kiosk message,
the answers to requests, the guards against a misbehaving kiosk, and `assembly`, which
builds a hub.

docs/architecture.md, "The hub's rooms", says what this wing may import and why."""
