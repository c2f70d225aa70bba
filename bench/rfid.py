"""SPI transfers of one empty-field poll: our MFRC522 driver vs the `mfrc522` package.

Both run against the same emulated chip (hal_sim), so the count is what a real
board's SPI bus would carry. Each transfer is a chip-select cycle and a syscall on
a Pi; the package spins about 2,000 of them per empty poll.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import ModuleType

from drivers.mfrc522 import MFRC522
from drivers.mfrc522_errors import NoCard
from hal_sim.mfrc522_chip import EmulatedMFRC522
from hal_sim.mfrc522_package_doubles import package_test_doubles


@contextmanager
def _package_on(chip: EmulatedMFRC522) -> Iterator[ModuleType]:
    """Import the unmodified `mfrc522` package over test doubles, then undo it all."""
    doubles = package_test_doubles(chip)
    names = [*doubles, *(n for n in sys.modules if n == "mfrc522" or n.startswith("mfrc522."))]
    saved = {name: sys.modules.get(name) for name in names}
    for name in saved:
        sys.modules.pop(name, None)
    sys.modules.update(doubles)
    package_logger = logging.getLogger("mfrc522Logger")  # the package adds handlers to it
    handlers = list(package_logger.handlers)
    try:
        yield importlib.import_module("mfrc522")
    finally:
        package_logger.handlers[:] = handlers
        for name in [
            *doubles,
            *(n for n in sys.modules if n == "mfrc522" or n.startswith("mfrc522.")),
        ]:
            sys.modules.pop(name, None)
        for name, module in saved.items():
            if module is not None:
                sys.modules[name] = module


def measure_empty_poll_transfers() -> dict[str, int]:
    """{"ours": n, "mfrc522_package": m}: xfer2 calls for one poll of an empty field
    (our `wakeup_a()`, the package's `MFRC522_Request(PICC_REQIDL)`), after init."""
    chip = EmulatedMFRC522()
    ours = MFRC522(chip)
    ours.init()
    before = chip.transfers
    with suppress(NoCard):
        ours.wakeup_a()
    counts = {"ours": chip.transfers - before}

    chip = EmulatedMFRC522()
    with _package_on(chip) as package:
        reader = package.MFRC522()
        before = chip.transfers
        reader.MFRC522_Request(reader.PICC_REQIDL)
        counts["mfrc522_package"] = chip.transfers - before
    return counts


if __name__ == "__main__":
    print(measure_empty_poll_transfers())
