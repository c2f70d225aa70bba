"""The kiosk's side of "a stack shown" (issue 18): from the pad's BooksPresented to the
view with a line for every book, through the pure core and its render, as the shell
runs them. Measured here in Python (best of `rounds`), beside the modelled hardware
read of bench.rfid_inventory; the Kivy redraw is bench.ui's."""

from __future__ import annotations

import time

from contract.barcodes import make_item_barcode
from contract.tag_data.codec import encode_tag
from contract.tag_data.record import TagRecord
from drivers.events import BooksPresented, CardPresented, TagRead
from firmware.core.config import CoreConfig
from kiosk_tools.core_harness import CoreHarness

JOINT = "0101000012345"  # a joint card number of the demo's shape


def _greeted(config: CoreConfig) -> CoreHarness:
    harness = CoreHarness(config)
    harness.feed(CardPresented(uid=b"\x01\x02\x03\x04", data=JOINT.encode()))
    harness.answer(state="valid", scheme="bj-joint", masked_name="王*明", pin_required=False,
                   loans=[], items_left=20)
    return harness


def _stack(count: int) -> BooksPresented:
    tags = tuple(
        TagRead(bytes([n, 0x20, 0x31, 0x42, 0x53, 0x01, 0x04, 0xE0]),
                encode_tag("iso28560-2", TagRecord(make_item_barcode("0002", n), owner_isil="CN-110000-C")))
        for n in range(1, count + 1)
    )
    return BooksPresented(tags, source="desk")


def measure(count: int = 5, rounds: int = 20) -> dict[str, float]:
    """Best-of-`rounds` milliseconds for the core step and the render of a `count`-book
    stack; fails loudly if the view does not show a line per book."""
    config = CoreConfig(kiosk_id="bench", library_id="capital", tag_security=True)
    stack = _stack(count)
    best_step = best_render = float("inf")
    for _ in range(rounds):
        harness = _greeted(config)
        start = time.perf_counter()
        harness.feed(stack)
        stepped = time.perf_counter()
        view = harness.view
        done = time.perf_counter()
        if len(view.items) != count:
            raise RuntimeError(f"the view shows {len(view.items)} lines for {count} books")
        best_step, best_render = min(best_step, stepped - start), min(best_render, done - stepped)
    return {"books": count, "core_ms": best_step * 1000, "render_ms": best_render * 1000, "rounds": rounds}
