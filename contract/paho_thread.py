"""paho's network thread, kept alive through paho's own errors.

paho runs every read, write, keepalive and reconnect of a client on one thread
(`loop_start`). An exception that escapes paho's loop ends that thread, and nothing says
so: the client looks merely disconnected, or still connected, and never reads, writes or
reconnects again, while the program around it goes on. An unattended kiosk is then
offline until someone restarts it; a hub worker keeps its session in the share group
and the broker queues every other request for a worker that reads nothing. paho 2.2
does raise there: a race in its reconnect handling ("RuntimeError: OrderedDict mutated
during iteration", or a deque, while another thread publishes) killed one kiosk's
thread in a fleet run of 1,000 kiosks through broker restarts (bench/fleet.py).

`keep_alive(client, connect, on_error)` makes the loop paho's thread runs
(`loop_forever`, which `loop_start` calls on it) start again after such an error, on the
same thread: it says what happened (`on_error`: log it, count it, tell the rest of the
program the link is down, since paho's own `on_disconnect` never ran), waits
`restart_wait_s`, calls `connect` (the caller's own `connect_async`, so the loop's first
step is a new connection, the old socket closed) and runs paho's loop again, with its
own retries, until `loop_stop` or `disconnect` ends it as usual. The session is
persistent (clean_start=False everywhere here), so what was in flight is sent again
after the reconnect, as after any lost connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

RESTART_WAIT_S = 1.0  # a paho error that repeats at once costs one log line a second


def keep_alive(
    client: mqtt.Client,
    connect: Callable[[], object],
    on_error: Callable[[BaseException], None],
    restart_wait_s: float = RESTART_WAIT_S,
) -> None:
    """Restart `client`'s network loop after an error escapes it (see the module doc).
    Call once, before `loop_start`; `connect` is the caller's `connect_async` call."""
    run_loop = client.loop_forever
    stopped = threading.Event()  # loop_stop or disconnect asked the loop to end

    def loop_forever(timeout: float = 1.0, retry_first_connection: bool = False) -> Any:
        while True:
            try:
                return run_loop(timeout=timeout, retry_first_connection=retry_first_connection)
            except Exception as exc:  # paho's own error: the thread would end here
                on_error(exc)
                if stopped.wait(restart_wait_s):
                    return mqtt.MQTTErrorCode.MQTT_ERR_UNKNOWN
                retry_first_connection = True
                connect()

    real_start, real_stop, real_disconnect = client.loop_start, client.loop_stop, client.disconnect

    def loop_start() -> Any:
        stopped.clear()
        return real_start()

    def loop_stop() -> Any:
        stopped.set()
        return real_stop()

    def disconnect(*args: Any, **kwargs: Any) -> Any:
        stopped.set()
        return real_disconnect(*args, **kwargs)

    client.loop_forever = loop_forever  # type: ignore[method-assign]
    client.loop_start = loop_start  # type: ignore[method-assign]
    client.loop_stop = loop_stop  # type: ignore[method-assign]
    client.disconnect = disconnect  # type: ignore[method-assign]
