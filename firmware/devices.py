"""The kiosk's devices as one set: the real drivers, whether their hardware is a Pi's
or the simulator's. The shell starts and closes them; diagnostics ask each in turn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.card_reader import CardReader
from drivers.chute import Chute
from drivers.diagnostics import DiagResult
from drivers.outputs import Outputs
from drivers.scanner import BarcodeScanner


@dataclass
class SelfTestAids:
    """What makes a self-test more than "the port opens": a way to make each scanner
    emit a test code, each beam toggle, and a test card lie on the reader. The simulator
    provides all of them; on a Pi a technician's hand does, or they stay None."""

    desk_readback: Callable[[str], object] | None = None
    chute_readback: Callable[[str], object] | None = None
    exercise_beams: Callable[[], object] | None = None
    present_test_card: Callable[[], object] | None = None
    remove_test_card: Callable[[], object] | None = None


@dataclass
class DeviceSet:
    """Every device of one kiosk; each is a real driver posting into the core's queue."""

    card_reader: CardReader
    scanner: BarcodeScanner
    chute_scanner: BarcodeScanner
    chute: Chute
    outputs: Outputs
    aids: SelfTestAids = field(default_factory=SelfTestAids)
    _closers: list[Callable[[], object]] = field(default_factory=list)

    def start(self) -> None:
        self.scanner.start()
        self.chute_scanner.start()
        self.card_reader.start()

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """True once both scanner ports are open (a scan before that would be lost)."""
        return self.scanner.wait_connected(timeout) and self.chute_scanner.wait_connected(timeout)

    def self_test(self) -> list[DiagResult]:
        """Every device's self-test, in the order a technician checks them."""
        aids = self.aids
        results: list[DiagResult] = []
        if aids.present_test_card:
            aids.present_test_card()
        try:
            # Let the poller see the test card first, so the diagnose read does not race it.
            results += self.card_reader.diagnose()
        finally:
            if aids.remove_test_card:
                aids.remove_test_card()
        results += self.scanner.diagnose(aids.desk_readback)
        results += self.chute_scanner.diagnose(aids.chute_readback)
        results += self.chute.diagnose(aids.exercise_beams)
        results += self.outputs.diagnose()
        return results

    def close(self) -> None:
        for device in (self.card_reader, self.scanner, self.chute_scanner, self.chute, self.outputs):
            device.close()
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()


def summarise(results: list[DiagResult]) -> list[DiagResult]:
    """One line per device: its first failure, or a pass that joins the details."""
    by_device: dict[str, list[DiagResult]] = {}
    for result in results:
        by_device.setdefault(result.device, []).append(result)
    summary = []
    for device, lines in by_device.items():
        failed = [line for line in lines if not line.ok]
        if failed:
            summary.append(failed[0])
        else:
            details = "; ".join(line.detail for line in lines if line.detail)
            summary.append(DiagResult.passed(device, details))
    return summary
