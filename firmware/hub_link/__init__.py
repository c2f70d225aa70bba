"""The kiosk's link to the alliance hub over MQTT 5: `HubLink` (see `link.py` for what a
caller may rely on) and the parts it is made of, one job each:

- `connection`: the paho client, TLS, TCP_NODELAY, the persistent session, the
  subscriptions, `LinkChanged`;
- `requests`: request/response and the only request timeouts in the kiosk;
- `outbox`: the journal's rows to the hub and the one resend rule;
- `fleet`: retained state and last will, telemetry, commands, the blocklist fetch.
"""

from firmware.hub_link.connection import SESSION_EXPIRY_S, TlsFiles
from firmware.hub_link.link import HubLink

__all__ = ["SESSION_EXPIRY_S", "HubLink", "TlsFiles"]
