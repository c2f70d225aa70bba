"""The contract the kiosk, the hub, the UI and the tools share, and nothing else.

It imports nothing of theirs (`make lint` checks it): MQTT topics and payloads
(`topics`, `messages`), broker URLs, card schemes and their number formats, check
digits and barcode classification, masking for logs, screen names and touch intents,
the alliance's member directory (`data/`), and the files the kiosk and its root updater
pass each other (`health_file`, `update_files`, written with `atomic_files`).
"""
