"""The broker a bench step runs against, and the identities its clients connect as.

By default every step runs on the alliance's secure setup (`hub.lab.lab.Lab`, issue 10
item 7): a local CA in a temporary directory, its TLS broker (client certificates, the
dynamic-security roles), each kiosk enrolled, each hub-side client a hub worker
identity, the hub signing what it sends. `plain_endpoint()` is the old anonymous
Mosquitto, kept only so the end-to-end figures can be shown beside their plain-TCP
counterparts from the same run (what TLS costs).

On the TLS broker the certificate's CN is the client id, so every concurrent client
needs its own identity; a kiosk may only publish its own `state, txn, req, telemetry,
cmd/result` and read its own `ack, resp, cmd`; a hub identity reads every kiosk's
inbound topics and writes `ack, resp, cmd`. The bench's helper clients therefore always
use the alliance topics, on both brokers, so a baseline and its figure go through the
same topics and the same broker type.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties

from contract import signing
from firmware.hub_link.connection import TlsFiles
from hub.lab.broker_process import MosquittoProcess
from hub.lab.lab import Lab
from hub.pki.pin_pepper import write_pepper_file

LIBRARY_ID = "capital"


@dataclass
class Endpoint:
    """A running broker; `lab` is its PKI when it is the secure (TLS) broker."""

    broker: MosquittoProcess
    lab: Lab | None = None
    _dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    _signing_key: signing.Ed25519PrivateKey | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.broker.url

    @property
    def secure(self) -> bool:
        return self.lab is not None

    @property
    def label(self) -> str:
        return "TLS" if self.secure else "plain TCP"

    @property
    def workdir(self) -> Path:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="bench-endpoint-")
        return Path(self._dir.name)

    # ---- kiosks ----------------------------------------------------------------------

    def kiosk_bundle_dir(self, kiosk_id: str, library_id: str = LIBRARY_ID) -> Path | None:
        """Kiosk `kiosk_id`'s enrolment bundle (enrolled on first use); None on plain."""
        if self.lab is None:
            return None
        return self.lab.kiosk(kiosk_id, library_id).cert.parent

    def kiosk_tls(self, kiosk_id: str, library_id: str = LIBRARY_ID) -> TlsFiles | None:
        """The TLS files a kiosk's `HubLink` connects with; None on plain."""
        if self.lab is None:
            return None
        bundle = self.lab.kiosk(kiosk_id, library_id)
        return TlsFiles(ca=bundle.ca, cert=bundle.cert, key=bundle.key)

    def hub_public_key(self) -> signing.Ed25519PublicKey | None:
        """What a kiosk verifies the hub's acks and answers with; None on plain."""
        if self.lab is None:
            return None
        return signing.load_public_key(self.lab.pki.hub_signing_pub)

    # ---- the hub side ----------------------------------------------------------------

    def hub_config(self, worker: str = "1", **settings: object) -> Path:
        """A `python -m hub --config` file: on TLS the lab's (the worker's certificate,
        the signing key, the PKI, so only enrolled kiosks are served), on plain a PIN pepper
        file and the `[hub]` settings given."""
        if self.lab is not None:
            return self.lab.hub_config(worker, **settings)
        path = self.workdir / f"hub-{worker}.toml"
        pepper = self.workdir / "pin-pepper"  # the hub refuses to keep it inside the ledger
        if not pepper.exists():
            write_pepper_file(pepper)
        settings = {"pin_pepper_file": str(pepper), **settings}
        lines = ["[hub]", *(f"{key} = {value!r}" for key, value in settings.items())]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def hub_settings(self, worker: str, **settings: object) -> Any:
        """The `HubConfig` an in-process `HubService` named `worker` runs with."""
        from hub.config import load_config

        return load_config(self.hub_config(worker, **settings))

    def sign(self, props: Properties, kiosk_id: str, leaf: str, message_id: str | bytes, payload: bytes) -> None:
        """Sign a stand-in hub's `ack`/`resp` as the hub does (nothing on plain, where the
        bench kiosks hold no hub key and verify nothing)."""
        if self.lab is None:
            return
        if self._signing_key is None:
            self._signing_key = signing.load_private_key(self.lab.pki.hub_signing_key)
        ttl = signing.DEFAULT_TTL_S.get(leaf, signing.DEFAULT_TTL_S["resp"])
        signature = signing.sign(
            self._signing_key, kiosk_id, leaf, message_id, payload, exp=int(time.time()) + ttl
        )
        for pair in signature.user_properties():
            props.UserProperty = pair  # paho appends each pair

    # ---- helper clients --------------------------------------------------------------

    def client(self, name: str, *, hub: bool = False, library_id: str = LIBRARY_ID) -> mqtt.Client:
        """A paho MQTT 5 client (not connected). On TLS it is identity `name`: hub worker
        `name` (CN `hub-NAME`) when `hub`, else kiosk `name` (enrolled on first use), and
        its client id is that CN, as the broker would make it anyway. On plain the id is
        `name` with a random tail."""
        if self.lab is None:
            return mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"{name}-{secrets.token_hex(3)}",
                protocol=mqtt.MQTTv5,
            )
        if hub:
            who = self.lab.hub_worker(name)
            ca, cert, key, cn = who.ca, who.cert, who.key, who.name
        else:
            bundle = self.lab.kiosk(name, library_id)
            ca, cert, key, cn = bundle.ca, bundle.cert, bundle.key, name
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cn, protocol=mqtt.MQTTv5)
        client.tls_set(ca_certs=str(ca), certfile=str(cert), keyfile=str(key))
        return client

    # ---- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        if self.lab is not None:
            self.lab.close()
            shutil.rmtree(self.lab.root, ignore_errors=True)
        self.broker.close()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def secure_endpoint() -> Endpoint:
    """A fresh lab (local CA) in a temporary directory and its TLS broker, started."""
    root = Path(tempfile.mkdtemp(prefix="bench-lab-"))
    lab = Lab(root)
    try:
        broker = lab.broker().start()
    except BaseException:
        lab.close()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return Endpoint(broker, lab)


def plain_endpoint() -> Endpoint:
    """A private anonymous Mosquitto on loopback (no TLS, nothing signed), started."""
    return Endpoint(MosquittoProcess().start())
