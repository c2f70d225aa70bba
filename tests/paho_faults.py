"""A fault inside paho, for tests of contract/paho_thread.py: its loop raises once, on
its own thread, as paho 2.2's reconnect race does ("OrderedDict mutated during
iteration"). The tests reach into paho only to stand in for that bug."""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt


def crash_loop_once(client: mqtt.Client, error: Exception) -> threading.Event:
    """The next turn of `client`'s network loop raises `error`; set once it has."""
    real_loop = client._loop
    raised = threading.Event()

    def loop(timeout: float = 1.0) -> Any:
        if not raised.is_set():
            raised.set()
            raise error
        return real_loop(timeout)

    client._loop = loop  # type: ignore[method-assign]
    return raised
