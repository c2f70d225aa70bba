"""Checkout through a member's own library system (SIP2) beside the built-in catalogue's,
in one run (issue 12).

On the secure setup (`bench.endpoints`, `hub.lab.lab`): the ILS simulator (`ils_sim`, the
Dongcheng system of `ils_sim/data/dongcheng.toml`, GB18030) on loopback, a
`python -m hub` child whose `[sip2]` tables (`hub.lab.lab.demo_sip2_tables`) send Dongcheng
to it, and an enrolled kiosk sending `checkout_auth` requests as the kiosk's link does
(MQTT 5 ResponseTopic = its own `resp` topic, CorrelationData with a random part), each
answer verified against the hub's signature before it counts. The same reader (a
Dongcheng joint card, looked up and PIN-checked once, as at a kiosk) asks for a
Dongcheng book (answered by the ILS's checkout, 11) and for a Capital Library book
(the hub's own catalogue, no SIP2), interleaved, after a warm-up. No txn follows the
answers, so the ledger is unchanged; the ILS answers a repeat checkout by the same
patron as a renewal ("already checked out to this patron"), so books may repeat.

The ILS's own journal says how many 11s it handled during the timed part: it must be
one per SIP2 request and none for the Capital books.
Run alone: `python -m bench.sip2_checkout [--quick]` prints the figures as JSON.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.e2e_rig import ROOT, HubProcess, summary_ms
from bench.endpoints import Endpoint
from bench.kiosk_link import _close, bench_client
from bench.report import Row, p50_p99_rows
from contract import messages, topics
from firmware.hub_link.trust import HubVerifier

KIOSK_ID = "bench-sip2"
LIBRARY_ID = "capital"  # the kiosk's library: a member whose books the hub keeps itself
# Worker "1", as the end-to-end steps' hub before it (stopped by then): a stopped worker
# keeps its broker session, and Mosquitto goes on handing it its share of the requests
# (hub/worker/service.py), so a worker of another name would see only some of them. Under the
# same name this hub takes that session over and is the group's only member.
HUB_WORKER = "1"
DATA = ROOT / "ils_sim" / "data" / "dongcheng.toml"
# 冯兰, a Dongcheng reader: her card lives in the ILS, her PIN is checked there.
CARD = messages.CardRef(scheme="bj-joint", number="0101000012373")
PIN = "196080"
TIMEOUT_S = 10.0


def dongcheng_items() -> list[str]:
    """Dongcheng's books on the shelf with no hold, from the ILS's data file."""
    from ils_sim.library import load_library

    library = load_library(DATA)
    return [b for b, i in sorted(library.items.items()) if i.status == "available" and not i.holds]


def capital_items() -> list[str]:
    """Capital Library books always on the shelf and loanable in a demo ledger."""
    from hub.ledger import catalogue
    from hub.rules.registry import load_registry

    items = catalogue.generate_items(load_registry(), per_member=catalogue.STABLE_SERIALS)
    return [
        i.barcode
        for i in items
        if i.home_library == LIBRARY_ID
        and i.state == "on_shelf"
        and i.loanable
        and i.hold_for is None
    ]


class Asker:
    """An enrolled kiosk's requests and the hub's signed answers, one at a time."""

    def __init__(self, endpoint: Endpoint, kiosk_id: str) -> None:
        self.kiosk_id = kiosk_id
        self.req_topic = topics.topic(kiosk_id, "req")
        self.resp_topic = topics.topic(kiosk_id, "resp")
        self.verifier = HubVerifier(kiosk_id, endpoint.hub_public_key())
        self.answers: queue.Queue[tuple[float, bytes, mqtt.MQTTMessage]] = queue.Queue()
        self.client = bench_client(endpoint, kiosk_id, self._on_message, subscribe=self.resp_topic)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        corr = bytes(getattr(msg.properties, "CorrelationData", b"") or b"")
        self.answers.put((time.perf_counter(), corr, msg))

    def ask(self, request: Any) -> tuple[float, messages.Response]:
        """Seconds from the publish to the verified, parsed answer, and the answer."""
        wire_id = f"b{time.monotonic_ns()}.{secrets.token_urlsafe(12)}".encode()
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self.resp_topic
        props.CorrelationData = wire_id
        payload = messages.encode(request)
        started = time.perf_counter()
        self.client.publish(self.req_topic, payload, qos=1, properties=props)
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                _at, corr, msg = self.answers.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no answer to {request.op} within {TIMEOUT_S:g} s") from None
            if corr != wire_id:
                continue  # a late answer to an earlier request
            if not self.verifier.accepts(msg, "resp", corr):
                raise RuntimeError(f"the answer to {request.op} is not signed by the hub")
            response = messages.parse(messages.Response, msg.payload)
            return time.perf_counter() - started, response

    def close(self) -> None:
        _close(self.client)


def _why(response: messages.Response) -> str:
    if not response.ok:
        return f"error {response.error}"
    text = response.message.en if response.message is not None else ""
    return f"{response.reason_code} {text}".strip()


def _checkout(asker: Asker, item: str, token: str | None) -> float:
    elapsed, answer = asker.ask(
        messages.CheckoutAuth(
            op="checkout_auth", card=CARD, item=item, library_id=LIBRARY_ID, session_token=token
        )
    )
    if not answer.ok or answer.allowed is not True:
        raise RuntimeError(f"checkout_auth of {item} not allowed: {_why(answer)}")
    return elapsed


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text + "\n")
    path.chmod(0o600)


def measure(endpoint: Endpoint, n: int = 100, warmup: int = 5) -> dict[str, Any]:
    """p50/p99 of checkout_auth → signed answer, n through SIP2 and n from the built-in
    catalogue, interleaved (alternating which goes first), after `warmup` of each."""
    if endpoint.lab is None:
        raise RuntimeError("needs the secure setup (the lab's PKI)")
    from hub.lab.lab import demo_sip2_tables
    from ils_sim.journal import Journal
    from ils_sim.library import load_library
    from ils_sim.server import IlsSimulator, server_tls

    sip2_books, own_books = dongcheng_items(), capital_items()
    if not sip2_books or not own_books:
        raise RuntimeError(f"no books: {len(sip2_books)} Dongcheng, {len(own_books)} Capital")
    with tempfile.TemporaryDirectory(prefix="bench-sip2-") as folder:
        tmp = Path(folder)
        library = load_library(DATA)
        # The ILS's account password: a fresh one, given to the hub in its 0600 file.
        library.login_password = secrets.token_urlsafe(12)
        password_file = tmp / "east.pw"
        _write_secret(password_file, library.login_password)
        journal_file = tmp / "ils.jsonl"
        identity = endpoint.lab.ils_server("east")  # SIP2 over TLS, as the hub requires
        ils = IlsSimulator(
            library,
            encoding="gb18030",
            journal=Journal(journal_file),
            state_file=tmp / "state.json",
            tls=server_tls(identity.cert, identity.key),
        )
        port = ils.start()
        hub: HubProcess | None = None
        asker: Asker | None = None
        try:
            config = endpoint.lab.hub_config(
                HUB_WORKER,
                tables=demo_sip2_tables(port, password_file, identity.ca),
                request_rate_per_s=10000.0,
                request_burst=10000,
            )
            hub = HubProcess(
                endpoint.url, f"sqlite:///{tmp}/hub.sqlite", tmp / "hub.log", config
            ).start()
            asker = Asker(endpoint, KIOSK_ID)
            # As at a kiosk: the tap (reader_lookup), then the PIN, both checked at the ILS.
            _, looked = asker.ask(
                messages.ReaderLookup(op="reader_lookup", card=CARD, library_id=LIBRARY_ID)
            )
            if not looked.ok or looked.state != "valid":
                raise RuntimeError(f"reader_lookup: {looked.state} {_why(looked)}")
            token = looked.session_token
            if looked.pin_required:
                _, pin = asker.ask(messages.PinCheck(op="pin_check", card=CARD, pin=PIN))
                if not pin.ok or pin.pin_ok is not True:
                    raise RuntimeError(f"pin_check: {_why(pin)}")
                token = pin.session_token
            for i in range(warmup):
                _checkout(asker, sip2_books[i % len(sip2_books)], token)
                _checkout(asker, own_books[i % len(own_books)], token)
            before = Journal.read(journal_file)
            sip2_s: list[float] = []
            own_s: list[float] = []
            for i in range(n):
                pair = [
                    (sip2_s, sip2_books[(warmup + i) % len(sip2_books)]),
                    (own_s, own_books[(warmup + i) % len(own_books)]),
                ]
                for times, item in pair if i % 2 == 0 else reversed(pair):
                    times.append(_checkout(asker, item, token))
            after = Journal.read(journal_file)
        except Exception as exc:
            log = tmp / "hub.log"
            tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
            why = f"{type(exc).__name__}: {exc}" + (f"; hub log: {tail}" if tail.strip() else "")
            raise RuntimeError(why) from exc
        finally:
            if asker is not None:
                asker.close()
            if hub is not None:
                hub.stop()
            ils.stop()
        hub_ready_s = hub.ready_s if hub is not None else None
    own_set = set(own_books)
    checkouts = after.requests("11")[len(before.requests("11")) :]
    return {
        "n": n,
        "warmup": warmup,
        "sip2": summary_ms(sip2_s),
        "builtin": summary_ms(own_s),
        "ils_11_timed": len(checkouts),
        "ils_11_ok": sum(1 for r in checkouts if r.ok == "1"),
        "ils_11_of_builtin_books": sum(1 for r in checkouts if r.item in own_set),
        "ils_11_total": after.count("11"),
        "ils_63_total": after.count("63"),
        "ils_logins": after.count("93"),
        "sip2_books": len(sip2_books),
        "builtin_books": len(own_books),
        "hub_ready_s": round(hub_ready_s, 3) if hub_ready_s is not None else None,
    }


def rows(raw: dict[str, Any]) -> list[Row]:
    n = raw["n"]
    sip2_rows = p50_p99_rows(
        "checkout_auth → signed answer, Dongcheng book through SIP2 (ILS sim, GB18030; TLS)",
        raw["sip2"],
        raw["builtin"],
        "built-in catalogue (Capital book, same reader)",
        "ratio = SIP2 / built-in: what the member's own system adds (the hub's rules, then 11 "
        f"over the pooled SIP2 link, mirrored in the ledger); {n} of each, interleaved, "
        f"after {raw['warmup']} of each; every answer allowed and its signature verified",
    )
    return [
        *sip2_rows,
        Row(
            "checkouts the ILS handled (11 in its journal) during the timed SIP2 run",
            f"{raw['ils_11_timed']}/{n}",
            note=f"{raw['ils_11_ok']} answered ok; {raw['ils_11_of_builtin_books']} for the built-in "
            f"catalogue's books; journal in all: {raw['ils_11_total']} × 11, {raw['ils_63_total']} × 63, "
            f"{raw['ils_logins']} × 93 login",
        ),
    ]


if __name__ == "__main__":
    from bench.endpoints import secure_endpoint

    quick = "--quick" in sys.argv[1:]
    with secure_endpoint() as target:
        print(json.dumps(measure(target, 20 if quick else 100, 3 if quick else 5), indent=2))
