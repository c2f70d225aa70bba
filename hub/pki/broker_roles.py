"""Who may do what on the alliance broker: Mosquitto's dynamic-security roles.

Mosquitto 2.0.11's `acl_file` cannot refuse a subscription (it only filters deliveries),
so a kiosk could join the hub's `$share/hub` group and swallow its turns; and nothing
in it can cut a connection that is already open. The dynamic-security plugin does both:
it answers SUBSCRIBE with 0x87 for anything a role does not grant (`$share/...` is
checked as written), and deleting a client disconnects it at once (measured,
docs/security.md). Its `%u` substitution does not work in 2.0.11 topics, so every
kiosk gets a role of its own with its literal topics.

- `kiosk-ID` (one per enrolled, unrevoked kiosk): write its own `state, txn, req,
  telemetry, cmd/result`; subscribe to and receive its own `ack, resp, cmd`.
- `hub` (every hub worker `hub-NAME` and the `hub` tool identity): subscribe to every
  kiosk's inbound topics, plain or through `$share/hub/`, receive them, and write every
  kiosk's `ack, resp, cmd`.
- `broker-admin` (the `hub` tool identity only): the plugin's control topic, which
  `hub.pki.broker_admin` uses to admit and expel kiosks while the broker runs.

Everything else is refused (`defaultACLAccess`), for clients the plugin does not know
too: a certificate whose CN is not listed may connect but can do nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contract.topics import HUB_TO_KIOSK, KIOSK_TO_HUB, PREFIX, topic

HUB_ROLE = "hub"
ADMIN_ROLE = "broker-admin"
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
CONTROL_RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
SHARE_PREFIX = "$share/hub/"


def kiosk_role_name(kiosk_id: str) -> str:
    return f"kiosk-{kiosk_id}"


def _acl(acltype: str, topic_filter: str) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic_filter, "priority": 0, "allow": True}


def kiosk_role(kiosk_id: str) -> dict[str, Any]:
    """Kiosk `kiosk_id`'s role: its own topics, literally (the id is a checked CN)."""
    acls = [_acl("publishClientSend", topic(kiosk_id, leaf)) for leaf in KIOSK_TO_HUB]
    for leaf in HUB_TO_KIOSK:
        acls.append(_acl("subscribeLiteral", topic(kiosk_id, leaf)))
        acls.append(_acl("publishClientReceive", topic(kiosk_id, leaf)))
    return {"rolename": kiosk_role_name(kiosk_id), "acls": acls}


def hub_role() -> dict[str, Any]:
    every_kiosk = f"{PREFIX}/kiosk/+"
    acls = []
    for leaf in KIOSK_TO_HUB:
        acls.append(_acl("subscribePattern", f"{every_kiosk}/{leaf}"))
        acls.append(_acl("subscribePattern", f"{SHARE_PREFIX}{every_kiosk}/{leaf}"))
        acls.append(_acl("publishClientReceive", f"{every_kiosk}/{leaf}"))
    acls += [_acl("publishClientSend", f"{every_kiosk}/{leaf}") for leaf in HUB_TO_KIOSK]
    return {"rolename": HUB_ROLE, "acls": acls}


def admin_role() -> dict[str, Any]:
    return {
        "rolename": ADMIN_ROLE,
        "acls": [
            _acl("publishClientSend", CONTROL_TOPIC),
            _acl("subscribeLiteral", CONTROL_RESPONSE_TOPIC),
            _acl("publishClientReceive", CONTROL_RESPONSE_TOPIC),
        ],
    }


def _client(username: str, *roles: str) -> dict[str, Any]:
    return {"username": username, "roles": [{"rolename": r, "priority": 0} for r in roles]}


def dynamic_security(
    kiosk_ids: Iterable[str], hub_workers: Iterable[str], admin: str
) -> dict[str, Any]:
    """The plugin's whole configuration (its JSON file) for these identities."""
    kiosk_ids = sorted(set(kiosk_ids))
    clients = [_client(admin, HUB_ROLE, ADMIN_ROLE)]
    clients += [_client(name, HUB_ROLE) for name in sorted(set(hub_workers) - {admin})]
    clients += [_client(k, kiosk_role_name(k)) for k in kiosk_ids]
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": clients,
        "groups": [],
        "roles": [hub_role(), admin_role(), *(kiosk_role(k) for k in kiosk_ids)],
    }
