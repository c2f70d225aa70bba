"""Test clients on the lab's secure broker (tests/conftest.py `lab`, `broker`): each one
connects as a lab identity, since the broker names clients by their certificates."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware.hub_link.connection import TlsFiles
from hub.config import HubConfig, load_config
from hub.lab.broker_process import MosquittoProcess, TlsMosquittoProcess
from hub.lab.lab import Lab
from hub.pki.pki import ClientIdentity


def identity_for(lab: Lab, name: str, library_id: str = "capital") -> ClientIdentity:
    """The lab identity a test client connects as: `hub-NAME` is hub worker NAME, any
    other name a kiosk of `library_id` (enrolled on first use)."""
    if name.startswith("hub-"):
        return lab.hub_worker(name.removeprefix("hub-"))
    bundle = lab.kiosk(name, library_id)
    return ClientIdentity(name, bundle.ca, bundle.cert, bundle.key)


def secure_client(
    lab: Lab, broker: MosquittoProcess, name: str, library_id: str = "capital"
) -> mqtt.Client:
    """A paho MQTT 5 client (not connected) with client id `name`, over TLS as that
    lab identity when `broker` is a TLS broker."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    if isinstance(broker, TlsMosquittoProcess):
        who = identity_for(lab, name, library_id)
        client.tls_set(ca_certs=str(who.ca), certfile=str(who.cert), keyfile=str(who.key))
    return client


def hub_settings(lab: Lab, worker: str = "1", **settings: object) -> HubConfig:
    """A hub worker's settings on the lab: its TLS identity, the signing key and the PKI
    (only enrolled kiosks are served), plus any other `[hub]` settings given."""
    return load_config(lab.hub_config(worker, **settings))


def kiosk_tls(lab: Lab, kiosk_id: str, library_id: str = "capital") -> TlsFiles:
    """The TLS files a kiosk's `HubLink` connects with (enrolled on first use)."""
    bundle = lab.kiosk(kiosk_id, library_id)
    return TlsFiles(ca=bundle.ca, cert=bundle.cert, key=bundle.key)
