"""One member of the shared subscription the hub workers use, as a process a test can
SIGKILL (tests/hub/worker/test_broker_sessions.py).

    python tests/hub/worker/share_member.py PORT CLIENT_ID SESSION_EXPIRY_S [--no-ack] [--tls CA CERT KEY]

It connects with MQTT 5, `clean_start=False` and the given session expiry (0: the
session ends with the connection, as the hub's workers had it before), over TLS as the
identity in CA CERT KEY when given (on the secure broker, a hub worker's: its CN is the
client id); subscribes to `$share/hub/alliance/v1/kiosk/+/txn` at QoS 1 in `on_connect`;
and prints one line per event on stdout: `connected present=0|1`, `ready` (SUBACK, or
`refused` when the broker refuses the subscription), `msg PAYLOAD dup=0|1`.
`--no-ack` never acknowledges a message: they stay in flight at the broker.
"""

from __future__ import annotations

import sys

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TOPIC = "$share/hub/alliance/v1/kiosk/+/txn"


def main(argv: list[str]) -> None:
    port, client_id, expiry = int(argv[0]), argv[1], int(argv[2])
    no_ack = "--no-ack" in argv
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if "--tls" in argv:
        ca, cert, key = argv[argv.index("--tls") + 1 : argv.index("--tls") + 4]
        client.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
    client.manual_ack_set(no_ack)

    def on_connect(c: mqtt.Client, _u: object, flags: object, _rc: object, _p: object) -> None:
        print(f"connected present={int(getattr(flags, 'session_present', False))}", flush=True)
        c.subscribe(TOPIC, 1)

    client.on_connect = on_connect
    client.on_subscribe = lambda _c, _u, _mid, codes, _p: print(
        "refused" if any(code.is_failure for code in codes) else "ready", flush=True
    )
    client.on_message = lambda _c, _u, msg: print(
        f"msg {msg.payload.decode()} dup={int(msg.dup)}", flush=True
    )
    session = Properties(PacketTypes.CONNECT)
    session.SessionExpiryInterval = expiry
    client.connect("127.0.0.1", port, clean_start=False, properties=session)
    client.loop_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
