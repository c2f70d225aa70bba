"""Device benchmarks through the simulators: scan -> event latency over the pty, and
the return chute's sustained intake with no missed book. Used by `make bench`.

Run alone: `python -m bench.devices` prints the figures as JSON.
"""

from __future__ import annotations

import json
import queue
import statistics
import time

from drivers.chute import Chute
from drivers.events import BarcodeRead, BookEntered, BookPassed, DeviceEvent
from drivers.scanner import BarcodeScanner
from hal_sim.chute_sim import SimulatedChute
from hal_sim.gpio import SimPinFactory
from hal_sim.scanner_pty import SimulatedScanner

VENDOR_BASELINE_BOOKS_PER_HOUR = 1200.0  # a vendor's fastest stack-intake return station


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def scan_latency(scans: int = 200) -> dict[str, float]:
    """Milliseconds from the scanner writing a barcode to `BarcodeRead` being posted,
    through a real pty and the real pyserial driver."""
    arrivals: queue.Queue[tuple[float, DeviceEvent]] = queue.Queue()

    def post(event: DeviceEvent) -> None:
        arrivals.put((time.perf_counter(), event))

    latencies: list[float] = []
    with SimulatedScanner() as sim, BarcodeScanner(sim.port, post) as scanner:
        if not (sim.wait_opened(5) and scanner.wait_connected(5)):
            raise RuntimeError("the scanner driver never opened the simulated port")
        for number in range(scans):
            code = f"3010100{number:07d}"
            sent = time.perf_counter()
            sim.scan(code)
            arrived, event = arrivals.get(timeout=5)
            if event != BarcodeRead(code, "desk"):
                raise RuntimeError(f"expected {code}, got {event}")
            latencies.append((arrived - sent) * 1000)
    return {
        "scans": float(scans),
        "p50_ms": statistics.median(latencies),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": max(latencies),
    }


def _books_without_a_miss(
    interval_s: float, books: int, min_gap_s: float, book_ms: float, fall_ms: float
) -> float | None:
    """The achieved seconds between books when every book was counted exactly once
    (entered and passed, nothing too close or pulled back), else None."""
    factory = SimPinFactory()
    events: queue.Queue[DeviceEvent] = queue.Queue()
    with Chute(events.put, entry_pin=17, exit_pin=27, pin_factory=factory, min_gap_s=min_gap_s):
        SimulatedChute(factory, 17, 27).feed(books, interval_s * 1000, book_ms, fall_ms)
        seen: list[DeviceEvent] = []
        deadline = time.monotonic() + 1.0
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                seen.append(events.get(timeout=remaining))
            except queue.Empty:
                break
            if sum(isinstance(e, BookPassed) for e in seen) == books:
                time.sleep(0.05)  # anything extra (too close, pulled back) shows up too
                while not events.empty():
                    seen.append(events.get())
                break
    passed = sum(isinstance(e, BookPassed) for e in seen)
    entered = [e.at for e in seen if isinstance(e, BookEntered)]
    if passed != books or len(seen) != 2 * books or len(entered) < 2:
        return None
    return (entered[-1] - entered[0]) / (len(entered) - 1)


def chute_throughput(
    *,
    min_gap_s: float = 0.3,
    start_interval_s: float = 0.5,
    step: float = 0.8,
    books_per_level: int = 8,
    book_ms: float = 40,
    fall_ms: float = 30,
) -> dict[str, float]:
    """Feed books faster and faster (each level `step` times the previous interval)
    until one is missed, merged, or flagged too close; report the fastest rate at which
    every book was counted exactly once, in books per hour, from the achieved spacing
    of the `BookEntered` times (not the nominal one)."""
    interval = start_interval_s
    best_interval: float | None = None
    while interval > 0.001:
        achieved = _books_without_a_miss(interval, books_per_level, min_gap_s, book_ms, fall_ms)
        if achieved is None:
            break
        best_interval = achieved if best_interval is None else min(best_interval, achieved)
        interval *= step
    books_per_hour = 0.0 if best_interval is None else 3600.0 / best_interval
    return {
        "min_gap_s": min_gap_s,
        "book_ms": book_ms,
        "fastest_interval_ms": 0.0 if best_interval is None else best_interval * 1000,
        "books_per_hour": books_per_hour,
        "baseline_books_per_hour": VENDOR_BASELINE_BOOKS_PER_HOUR,
        "ratio_to_baseline": books_per_hour / VENDOR_BASELINE_BOOKS_PER_HOUR,
    }


def run_all() -> dict[str, dict[str, float]]:
    """Every device figure: the configured chute, and one book in flight at a time with no minimum gap."""
    return {
        "scan_to_event": scan_latency(),
        "chute_configured": chute_throughput(),
        "chute_without_min_gap": chute_throughput(min_gap_s=0.0, start_interval_s=0.2),
    }


if __name__ == "__main__":
    print(json.dumps(run_all(), indent=2))
