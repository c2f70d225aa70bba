"""The demo kiosk's network path: a cuttable proxy (hal_sim.tcp_proxy) between the
simulated kiosk and its broker, which the simulator's `hub down` / `hub up` (console
and panel) cut and restore.

Why a proxy and not the link object: a kiosk in the field does not lose its hub link
object, it loses its route. Cutting the route shows what a reader and a technician
really see: the link notices by itself (MQTT keepalive, a few seconds), the kiosk
serves readers offline, every worker keeps beating, and the link reconnects on its
own when the route is back. The product's assembly (firmware/assembly.py) knows
nothing of this: the simulator tools point the kiosk's `[hub] broker` at the proxy.

What a caller may rely on:
- `DemoRoute.open(broker_url)` listens on 127.0.0.1 and forwards to the broker;
  `kiosk_url` is the address the kiosk is given: the same scheme (TLS passes through
  untouched), the broker's host when it is a loopback name (so a certificate for
  `localhost` or 127.0.0.1 still matches), else 127.0.0.1 (then the broker's
  certificate must name 127.0.0.1, as the lab's does).
- `down()` black-holes the route (connections accepted, nothing passes: a dropped 4G
  route); `down(refuse=True)` refuses it (every connection closed: the kiosk knows at
  once); `up()` restores it. `close()` ends the proxy.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.broker_url import parse_broker_url
from firmware.config import KioskConfig
from hal_sim.tcp_proxy import CuttableProxy

_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass
class DemoRoute:
    proxy: CuttableProxy
    broker_url: str  # the broker itself
    kiosk_url: str  # the proxy, as the kiosk connects to it

    @classmethod
    def open(cls, broker_url: str) -> DemoRoute:
        address = parse_broker_url(broker_url)
        proxy = CuttableProxy(address.host, address.port)
        host = address.host if address.host in _LOOPBACK_NAMES else "127.0.0.1"
        scheme = "mqtts" if address.tls else "mqtt"
        return cls(proxy, broker_url, f"{scheme}://{host}:{proxy.port}")

    def routed(self, config: KioskConfig) -> KioskConfig:
        """`config` with its broker replaced by this route's end."""
        hub = config.hub.model_copy(update={"broker": self.kiosk_url})
        return config.model_copy(update={"hub": hub})

    @property
    def state(self) -> str:
        """The route now: "up", "black hole" or "refused"."""
        return self.proxy.mode

    def down(self, *, refuse: bool = False) -> None:
        if refuse:
            self.proxy.cut()
        else:
            self.proxy.black_hole()

    def up(self) -> None:
        self.proxy.restore()

    def close(self) -> None:
        self.proxy.close()
