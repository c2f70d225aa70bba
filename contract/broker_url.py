"""Broker URLs, read one way by the kiosk, the hub and the tools."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

_PLAIN = ("mqtt", "tcp")
_TLS = ("mqtts", "ssl")


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """`mqtt://host[:1883]` or `mqtts://host[:8883]`; ValueError in plain words otherwise.

    `tcp://` and `ssl://` (paho's and Mosquitto's spellings) are read as the same two.
    """
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in _PLAIN + _TLS or not parts.hostname:
        raise ValueError(f"{url!r} is not an mqtt:// or mqtts:// URL")
    tls = parts.scheme in _TLS
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    return BrokerAddress(parts.hostname, port, tls)
