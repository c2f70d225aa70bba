"""Hub commits per second under a QoS 1 flood, next to the broker's bare QoS 1 rate.

The ratio is the figure: the hub cannot commit faster than the broker delivers, so
`commits_per_s / bare_qos1_per_s` says how much of the broker's capacity one worker's
ledger (SQLite WAL with synchronous=FULL, or PostgreSQL) turns into durable commits.
Both are measured in the same run, on the same broker: the secure (TLS) broker by
default, the worker with its own certificate and signing key and the flooding kiosk an
enrolled one, as deployed.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.endpoints import Endpoint
from bench.kiosk_link import bare_qos1_publish_s, bench_client
from contract import messages, topics
from hub.ledger import catalogue
from hub.ledger.ledger import Ledger
from hub.rules.registry import load_registry
from hub.worker.service import HubService


def bare_qos1(endpoint: Endpoint, n: int) -> float:
    """Messages/s: publish n QoS 1 messages, a subscriber counts them all (the same
    baseline the backlog figure uses)."""
    return n / bare_qos1_publish_s(endpoint, n)


def hub_commits(endpoint: Endpoint, db_url: str, n: int) -> float:
    """Commits/s: n return txns published as fast as paho goes, until all n acks are in."""
    registry = load_registry()
    with Ledger.open(db_url) as led:
        if led.is_empty():
            led.seed_demo(registry, per_member=max(1, n // len(registry.members) + 1))
    items = [
        i.barcode
        for i in catalogue.generate_items(
            registry, per_member=max(1, n // len(registry.members) + 1)
        )
    ]
    kiosk_id = f"bench-{secrets.token_hex(3)}"
    endpoint.kiosk_tls(kiosk_id)  # enrolled (TLS) before the worker reads its first txn
    config = endpoint.hub_settings("bench")
    service = HubService(endpoint.url, db_url, registry, "bench", config=config).start()
    acked = 0
    all_in = threading.Event()

    def on_ack(*_: Any) -> None:
        nonlocal acked
        acked += 1
        if acked >= n:
            all_in.set()

    kiosk = bench_client(endpoint, kiosk_id, on_ack, subscribe=topics.topic(kiosk_id, "ack"))
    # Returns a chute's pace apart (3 s, under `[hub] returns_per_minute`), up to now.
    start = datetime.now(UTC) - timedelta(seconds=3 * n)
    payloads = [
        messages.encode(
            messages.Txn.model_validate(
                {
                    "txn_id": f"{kiosk_id}-{k:08d}",
                    "kiosk_id": kiosk_id,
                    "library_id": "capital",
                    "kind": "return",
                    "item": items[k % len(items)],
                    "at": (start + timedelta(seconds=3 * k)).isoformat(),
                    "mode": "offline",
                }
            )
        )
        for k in range(n)
    ]
    try:
        t0 = time.perf_counter()
        for raw in payloads:
            kiosk.publish(topics.topic(kiosk_id, "txn"), raw, qos=1)
        if not all_in.wait(300):
            raise TimeoutError(f"only {acked}/{n} acks arrived")
        return n / (time.perf_counter() - t0)
    finally:
        kiosk.disconnect()
        kiosk.loop_stop()
        service.retire()


def measure(endpoint: Endpoint, db_url: str, n: int = 2000) -> dict[str, float]:
    """{"bare_qos1_per_s", "commits_per_s", "ratio"} for one ledger, same broker, same run."""
    bare = bare_qos1(endpoint, n)
    commits = hub_commits(endpoint, db_url, n)
    return {
        "bare_qos1_per_s": round(bare, 1),
        "commits_per_s": round(commits, 1),
        "ratio": round(commits / bare, 3),
    }


def run_all(
    n: int = 2000,
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/test",
    endpoint: Endpoint | None = None,
) -> dict[str, Any]:
    """Both ledgers on one broker (a private secure one unless `endpoint` is given);
    PostgreSQL is reported as skipped, with the reason, when no server answers or it
    refuses us."""
    import tempfile

    from bench.endpoints import secure_endpoint
    from hub.pki.broker_admin import port_answers

    results: dict[str, Any] = {"broker": (endpoint.label if endpoint else "TLS")}
    own = None if endpoint else secure_endpoint()
    target = endpoint or own
    assert target is not None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = measure(target, f"sqlite:///{tmp}/bench.sqlite", n)
        host_port = postgres_url.split("@")[-1].split("/")[0]
        host, _, port = host_port.partition(":")
        if not port_answers(host, int(port or 5432)):
            results["postgresql"] = {"skipped": f"no PostgreSQL server answers at {host_port}"}
            return results
        schema = f"bench_{secrets.token_hex(4)}"
        try:
            import psycopg

            results["postgresql"] = measure(target, f"{postgres_url}?schema={schema}", n)
        except Exception as exc:  # an unreachable or refusing server is a result, not a crash
            results["postgresql"] = {"skipped": f"{type(exc).__name__}: {exc}"[:300]}
        finally:
            with suppress(Exception), psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        if own is not None:
            own.close()
    return results


if __name__ == "__main__":
    import json

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(json.dumps(run_all(count), indent=2))
