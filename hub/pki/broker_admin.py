"""Admit and expel identities on a running alliance broker, through the
dynamic-security plugin's control topic (`hub.pki.broker_roles`), as the `hub` tool identity.

Enrolment writes the PKI; the broker learns of it here without a restart: admitting a
kiosk creates its role and client, expelling one deletes them, which disconnects the
kiosk at once (a revoked certificate's open connection would otherwise stay up until
the broker restarts and reads the new CRL).
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from contract.broker_url import parse_broker_url
from hub.pki.broker_roles import (
    CONTROL_RESPONSE_TOPIC,
    CONTROL_TOPIC,
    HUB_ROLE,
    kiosk_role,
    kiosk_role_name,
)
from hub.pki.pki import ClientIdentity


def port_answers(host: str, port: int, timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# Answers that mean "already as asked": admitting twice or expelling twice is no error.
_ALREADY = ("already exists", "not found")


class BrokerAdminError(RuntimeError):
    """The broker could not be reached or refused a command; the message says which."""


class BrokerAdmin:
    """One control connection: `with BrokerAdmin(url, identity) as admin: admin.run(...)`."""

    def __init__(self, url: str, identity: ClientIdentity, timeout_s: float = 10.0) -> None:
        self._address = parse_broker_url(url)
        self._identity = identity
        self._timeout_s = timeout_s
        self._ready = threading.Event()
        self._answer = threading.Event()
        self._responses: list[dict[str, Any]] = []
        self._client: mqtt.Client | None = None

    def __enter__(self) -> BrokerAdmin:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{self._identity.name}-admin-{secrets.token_hex(3)}",
            protocol=mqtt.MQTTv5,
        )
        if self._address.tls:
            client.tls_set(
                ca_certs=str(self._identity.ca),
                certfile=str(self._identity.cert),
                keyfile=str(self._identity.key),
            )
        client.on_connect = lambda c, *_: c.subscribe(CONTROL_RESPONSE_TOPIC, qos=1)
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client
        try:
            client.connect(self._address.host, self._address.port, keepalive=30)
        except OSError as exc:
            raise BrokerAdminError(f"broker {self._address.url} unreachable: {exc}") from exc
        client.loop_start()
        if not self._ready.wait(self._timeout_s):
            self.__exit__()
            raise BrokerAdminError(
                f"broker {self._address.url}: no control access within {self._timeout_s}s "
                f"(is it the alliance broker, and {self._identity.cert} the hub's certificate?)"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        if not any(r.is_failure for r in reasons):
            self._ready.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._responses = json.loads(msg.payload).get("responses", [])
        except (ValueError, AttributeError):
            self._responses = [{"error": "unreadable response"}]
        self._answer.set()

    def run(self, commands: list[dict[str, Any]]) -> None:
        """Send `commands` in one message; BrokerAdminError on any error but "already"."""
        assert self._client is not None, "use BrokerAdmin as a context manager"
        self._answer.clear()
        self._client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
        if not self._answer.wait(self._timeout_s):
            raise BrokerAdminError(f"broker {self._address.url}: no control answer")
        for sent, answer in zip(commands, self._responses, strict=False):
            error = answer.get("error")
            if error and not any(word in error.lower() for word in _ALREADY):
                raise BrokerAdminError(f"broker refused {sent['command']}: {error}")

    def admit_kiosk(self, kiosk_id: str) -> None:
        role = kiosk_role(kiosk_id)
        commands = [{"command": "createRole", "rolename": role["rolename"]}]
        commands += [{"command": "addRoleACL", "rolename": role["rolename"], **acl} for acl in role["acls"]]
        commands.append(
            {"command": "createClient", "username": kiosk_id, "roles": [{"rolename": role["rolename"]}]}
        )
        self.run(commands)

    def expel_kiosk(self, kiosk_id: str) -> None:
        """Delete the kiosk's client (the broker disconnects it now) and its role."""
        self.run(
            [
                {"command": "deleteClient", "username": kiosk_id},
                {"command": "deleteRole", "rolename": kiosk_role_name(kiosk_id)},
            ]
        )

    def admit_hub_worker(self, name: str) -> None:
        self.run([{"command": "createClient", "username": name, "roles": [{"rolename": HUB_ROLE}]}])
