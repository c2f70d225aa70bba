"""`python -m hub command KIOSK CMD`: send one signed command to a kiosk and print its
result in words (a self-test's device lines, maintenance on or off, the update ordered
or refused); `--json` prints the kiosk's `CommandResult` as it came (docs/mqtt-contract.md,
"cmd").

It does not start a hub worker (a worker joins the shared subscriptions and would take
a share of the kiosks' traffic): it is a short-lived client of its own, clean session,
that subscribes to the kiosk's `cmd/result`, publishes the command (signed with
`[hub] signing_key`, as a worker signs it) and waits for the answer. On the alliance's
TLS broker it connects as the `hub` tool identity from `pki_dir` (the `hub` role may
write every kiosk's `cmd`), else with `[hub.tls]`.

Exit codes: 0 the kiosk answered ok, 1 it answered not ok, did not answer in time (the
message says so and what to check) or the broker could not be reached, 2 a bad setting.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract import messages, topics
from contract.broker_url import parse_broker_url
from hub.cli.table import display_width, pad
from hub.config import ConfigError, HubConfig
from hub.worker.intake import KIOSK_ID_RE
from hub.worker.signer import HubSigner

COMMANDS = ("selftest", "maintenance_on", "maintenance_off", "reload_config", "update")


def add_parser(subs: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subs.add_parser(
        "command", parents=parents, help="send a signed command to a kiosk and wait for its result"
    )
    p.add_argument("kiosk_id", metavar="KIOSK")
    p.add_argument("cmd", choices=COMMANDS)
    p.add_argument("--bundle-url", metavar="URL", help="update: where the kiosk fetches the bundle")
    p.add_argument(
        "--sha256", metavar="HEX", help="update: the bundle's sha256 (release printed it)"
    )
    p.add_argument(
        "--timeout", type=float, default=15.0, metavar="S", help="how long to wait for the result"
    )


def build_command(args: argparse.Namespace) -> messages.Command:
    fields: dict[str, Any] = {
        "cmd": args.cmd,
        "cmd_id": f"c{int(time.time() * 1000)}-{secrets.token_hex(3)}",
    }
    if args.cmd == "update":
        fields.update(bundle_url=args.bundle_url, sha256=(args.sha256 or "").lower() or None)
    try:
        return messages.Command.model_validate(fields)
    except ValueError as exc:
        raise ConfigError(f"command {args.cmd}: {exc}".splitlines()[0] + (
            " (update needs --bundle-url http(s)://... or file://... and --sha256 of 64 hex digits)"
            if args.cmd == "update" else ""
        )) from None  # fmt: skip


def run(config: HubConfig, args: argparse.Namespace) -> int:
    if not KIOSK_ID_RE.match(args.kiosk_id):
        raise ConfigError(f"not a kiosk id: {args.kiosk_id!r}")
    command = build_command(args)
    try:
        result = send_command(config, args.kiosk_id, command, args.timeout)
    except OSError as exc:
        print(f"hub: cannot reach the broker at {config.broker}: {exc.strerror or exc} "
              "(is it running? python -m hub status shows the kiosks)", file=sys.stderr)  # fmt: skip
        return 1
    if result is None:
        print(
            f"hub: {args.kiosk_id} did not answer {args.cmd} within {args.timeout:g} s (cmd_id {command.cmd_id}). "
            f"Check that it is running and online (python -m hub status), that it uses the broker at "
            f"{config.broker}, and that it trusts the key this hub signs with ([hub] signing_key); "
            "a longer --timeout for a slow self-test.",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False))
    else:
        print(describe_result(args.kiosk_id, args.cmd, result))
    return 0 if result.ok else 1


def describe_result(kiosk_id: str, cmd: str, result: messages.CommandResult) -> str:
    """The kiosk's answer to `cmd` as lines an operator reads (docs/commands.md)."""
    detail = result.detail
    if cmd == "selftest" and isinstance(detail.get("devices"), list):
        devices = [d for d in detail["devices"] if isinstance(d, dict)]
        failed = [d for d in devices if not d.get("ok")]
        head = (
            f"{kiosk_id}: self-test passed, all {len(devices)} devices ok"
            if result.ok
            else f"{kiosk_id}: self-test FAILED, {len(failed)} of {len(devices)} devices"
        )
        width = max((display_width(str(d.get("device", "?"))) for d in devices), default=0)
        lines = [head]
        for d in devices:
            name = pad(str(d.get("device", "?")), width)
            if d.get("ok"):
                lines.append(f"  PASS  {name}  {d.get('detail') or ''}".rstrip())
            else:
                lines.append(f"  FAIL  {name}  {d.get('code', '?')}: {d.get('hint') or ''}".rstrip())
                if d.get("detail"):
                    lines.append(f"        {' ' * width}  ({d['detail']})")
        return "\n".join(lines)
    if cmd in ("maintenance_on", "maintenance_off") and "maintenance" in detail:
        if detail["maintenance"]:
            return (f"{kiosk_id}: maintenance mode on: readers see the out-of-service screen "
                    f"(python -m hub command {kiosk_id} maintenance_off ends it)")  # fmt: skip
        return f"{kiosk_id}: maintenance mode off: serving readers"
    if cmd == "update" and result.ok:
        how = "ordered (the updater service starts)" if detail.get("update") == "ordered" else (
            f"started (updater pid {detail.get('pid', '?')})")  # fmt: skip
        return (f"{kiosk_id}: update {how}; its outcome arrives in the kiosk's telemetry: "
                "python -m hub status shows LAST UPDATE")  # fmt: skip
    if not result.ok:
        error = detail.get("error", "no reason given")
        extra = "; ".join(f"{k}: {v}" for k, v in detail.items() if k not in ("error", "cmd"))
        words = "not supported by this kiosk" if error == "unsupported" else str(error)
        return f"{kiosk_id}: {cmd} refused: {words}" + (f" ({extra})" if extra else "")
    extra = ", ".join(f"{k}: {v}" for k, v in detail.items())
    return f"{kiosk_id}: {cmd} done" + (f" ({extra})" if extra else "")


def send_command(
    config: HubConfig, kiosk_id: str, command: messages.Command, timeout: float
) -> messages.CommandResult | None:
    """Publish `command` to `kiosk_id` and wait up to `timeout` for its result."""
    address = parse_broker_url(config.broker)
    signer = HubSigner.from_config(config)
    result_topic = topics.topic(kiosk_id, "cmd/result")
    cmd_topic = topics.topic(kiosk_id, "cmd")
    subscribed, answered = threading.Event(), threading.Event()
    found: list[messages.CommandResult] = []

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe(result_topic, qos=1)

    def on_subscribe(
        client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        if all(not r.is_failure for r in reasons):
            subscribed.set()

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            result = messages.parse(messages.CommandResult, msg.payload)
        except messages.ProtocolError:
            return
        if result.cmd_id == command.cmd_id:
            found.append(result)
            answered.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"hub-cmd-{secrets.token_hex(4)}",
        protocol=mqtt.MQTTv5,
    )
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    if address.tls:
        ca, cert, key = _tls_files(config)
        client.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
    client.connect(address.host, address.port, keepalive=30, clean_start=True)
    client.loop_start()
    try:
        if not subscribed.wait(min(timeout, 10.0)):
            raise ConfigError(f"could not subscribe to {result_topic} at {config.broker}")
        payload = messages.encode(command)
        props = (
            signer.properties_for(cmd_topic, command, payload)
            if signer
            else Properties(PacketTypes.PUBLISH)
        )
        client.publish(cmd_topic, payload, qos=1, properties=props).wait_for_publish(5.0)
        answered.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return found[0] if found else None


def _tls_files(config: HubConfig) -> tuple[str | None, str | None, str | None]:
    if config.pki_dir is not None:
        from hub.pki.pki import hub_admin_identity

        ident = hub_admin_identity(config.pki_dir)
        return str(ident.ca), str(ident.cert), str(ident.key)
    tls = config.tls
    return (str(tls.ca) if tls.ca else None, str(tls.cert) if tls.cert else None,
            str(tls.key) if tls.key else None)  # fmt: skip
