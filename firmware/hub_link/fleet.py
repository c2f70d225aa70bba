"""What the alliance's fleet view sees of the kiosk, and what it asks of it.

What a caller may rely on:
- The kiosk's state on `.../state` is retained, QoS 1. The last will (`state_message`
  without a time) says "offline"; on every (re)connect the current state ("online" or
  "maintenance", set with `publish_state`, with `at`) is published again; `say_offline`
  publishes "offline" before a clean stop and waits for the broker to take it.
- Telemetry on `.../telemetry`, QoS 0: right after each (re)connect, then every
  `interval_s` while connected. It is the `telemetry` source's message (or a bare one
  with the uptime) with the outbox's backlog filled in.
- A valid command on `.../cmd` is posted as `CommandReceived`; an invalid one is logged
  and ignored, and so is, with a `verifier`, one the hub did not sign for this kiosk, a
  retained one and a replayed one (firmware.hub_link.trust). `publish_command_result` sends on `.../cmd/result`, QoS 1.
- An `update` command is never posted to the core: when it passed the verifier it is
  handed to `order_update` (firmware.update_order: an updater that outlives the kiosk)
  and answered at once with `{"update": "started"|"ordered"}`; the update's own result
  comes later in telemetry (`last_update`). Without the hub's key (no verifier, or one
  not verifying) an update is refused (`ok: false`, `updates-need-signed-commands`):
  anyone who can publish on the broker could otherwise install code on the kiosk.
- On each (re)connect the blocklist is asked for (when `fetch_blocklist`); its answer is
  posted as `BlocklistUpdated`; no answer changes nothing (the core keeps its last list).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt

from contract import messages
from contract.messages import Command, CommandResult, KioskState, Response, Telemetry
from contract.topics import topic
from firmware import update_order
from firmware.core.events import BlocklistUpdated, CommandReceived
from firmware.health import state_dir
from firmware.hub_link.connection import Connection
from firmware.hub_link.outbox import Backlog
from firmware.hub_link.requests import Requests
from firmware.hub_link.trust import HubVerifier

log = logging.getLogger(__name__)

State = Literal["online", "offline", "maintenance"]


def state_message(
    state: State, firmware: str, library_id: str, at: datetime | None = None
) -> bytes:
    """The payload on `.../state` (the last will is the "offline" one without `at`)."""
    return messages.encode(KioskState(state=state, firmware=firmware, library_id=library_id, at=at))


class Fleet:
    """Retained state, telemetry, commands and the blocklist fetch of one kiosk."""

    def __init__(
        self,
        connection: Connection,
        requests: Requests,
        kiosk_id: str,
        library_id: str,
        post: Callable[[object], None],
        wake: Callable[[], None],
        *,
        firmware_version: str,
        telemetry_interval_s: float = 30.0,
        telemetry: Callable[[], Telemetry] | None = None,
        backlog: Callable[[], Backlog] | None = None,
        fetch_blocklist: bool = True,
        clock: Callable[[], float] = time.monotonic,
        verifier: HubVerifier | None = None,
        data_dir: Path | None = None,
        order_update: Callable[..., dict[str, Any]] = update_order.order_update,
    ) -> None:
        self._connection = connection
        self._data_dir = data_dir if data_dir is not None else state_dir()
        self._order_update = order_update
        self._verifier = verifier
        self._requests = requests
        self._library_id = library_id
        self._post = post
        self._wake = wake
        self._firmware = firmware_version
        self._interval_s = telemetry_interval_s
        self._telemetry = telemetry
        self._backlog = backlog
        self._fetch_blocklist = fetch_blocklist
        self._clock = clock
        self._topics = {
            leaf: topic(kiosk_id, leaf) for leaf in ("state", "telemetry", "cmd/result")
        }
        self._state: Literal["online", "maintenance"] = "online"
        self._started_at = clock()
        self._next_telemetry_at = self._started_at + telemetry_interval_s
        connection.on_message(topic(kiosk_id, "cmd"), self._on_command)
        connection.when_up(self._link_up)

    def start(self, now: float) -> None:
        """Uptime counts from `now`; the first periodic telemetry is due an interval later."""
        self._started_at = now
        self._next_telemetry_at = now + self._interval_s

    def publish_state(self, state: Literal["online", "maintenance"]) -> None:
        """Set the retained state (kept, and sent again on every reconnect)."""
        self._state = state
        if self._connection.connected:
            self._publish_state(state)

    def publish_command_result(self, result: CommandResult) -> None:
        self._connection.publish(self._topics["cmd/result"], messages.encode(result), qos=1)

    def say_offline(self, timeout: float) -> None:
        """Before a clean stop: the retained state becomes "offline"."""
        if not self._connection.connected:
            return
        info = self._publish_state("offline")
        if info is not None:
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout)

    def pump(self, now: float) -> float:
        """Send telemetry when due; returns when it is next due."""
        if now >= self._next_telemetry_at:
            self._next_telemetry_at = now + self._interval_s
            self._send_telemetry()
        return self._next_telemetry_at

    # ---- helpers ----

    def _link_up(self) -> None:
        self._publish_state(self._state)
        self._next_telemetry_at = self._clock()  # say how we are right after (re)connecting
        if self._fetch_blocklist:
            self._requests.ask("blocklist", messages.Blocklist(op="blocklist"), self._blocklist)
        self._wake()

    def _blocklist(self, response: Response) -> None:
        if response.ok and response.blocked_hashes is not None:
            self._post(
                BlocklistUpdated(
                    frozenset(response.blocked_hashes),
                    response.offline_max_items,
                    response.blocklist_salt,
                )
            )

    def _on_command(self, msg: mqtt.MQTTMessage) -> None:
        cmd = messages.parse(Command, msg.payload)  # ProtocolError: logged, ignored
        if self._verifier is not None and not self._verifier.accepts(msg, "cmd", cmd.cmd_id):
            return
        if cmd.cmd == "update":
            props = getattr(msg, "properties", None)
            pairs = tuple(getattr(props, "UserProperty", None) or ()) if props is not None else ()
            signed = update_order.SignedCommand(bytes(msg.payload), tuple(tuple(p) for p in pairs))
            self.publish_command_result(self._update(cmd, signed))
            return
        self._post(CommandReceived(cmd.cmd, cmd.cmd_id))

    def _update(self, cmd: Command, signed: update_order.SignedCommand) -> CommandResult:
        def refused(error: str, **detail: Any) -> CommandResult:
            log.warning("update %s refused: %s", cmd.cmd_id, error)
            return CommandResult(cmd_id=cmd.cmd_id, ok=False, detail={"error": error, **detail})

        if self._verifier is None or not self._verifier.verifying:
            return refused("updates-need-signed-commands", hint="set [hub] hub_public_key")
        if self._data_dir is None:
            return refused("no-state-directory", hint="not an installed kiosk (no STATE_DIRECTORY)")
        assert cmd.bundle_url is not None and cmd.sha256 is not None  # the model requires them
        try:
            detail = self._order_update(
                self._data_dir, cmd.bundle_url, cmd.sha256, cmd.cmd_id, signed=signed
            )
        except OSError as exc:
            return refused("could-not-start-updater", detail=f"{type(exc).__name__}: {exc}"[:200])
        log.info("update %s ordered: %s", cmd.cmd_id, cmd.bundle_url)
        return CommandResult(cmd_id=cmd.cmd_id, ok=True, detail=detail)

    def _publish_state(self, state: State) -> mqtt.MQTTMessageInfo | None:
        payload = state_message(state, self._firmware, self._library_id, datetime.now(UTC))
        try:
            return self._connection.publish(self._topics["state"], payload, qos=1, retain=True)
        except (ValueError, RuntimeError):
            log.exception("could not publish the kiosk state")
            return None

    def _send_telemetry(self) -> None:
        if not self._connection.connected:
            return
        backlog = self._backlog() if self._backlog is not None else Backlog()
        extra: dict[str, Any] = {
            "journal_pending": backlog.pending,
            "journal_oldest_pending_s": backlog.oldest_pending_s,
            "backlog_draining": backlog.draining,
            "at": datetime.now(UTC),
        }
        report = update_order.last_update(self._data_dir)
        if report is not None:
            extra["last_update"] = report
        try:
            base = self._telemetry() if self._telemetry is not None else None
        except Exception:
            log.exception("telemetry source failed")
            base = None
        if base is None:
            extra["uptime_s"] = round(self._clock() - self._started_at, 1)
            msg = Telemetry(**extra)
        else:
            msg = base.model_copy(update=extra)
        self._connection.publish(self._topics["telemetry"], messages.encode(msg), qos=0)
