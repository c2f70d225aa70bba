"""The technician screen names the receipt printer and the chute scanner in both
languages and shows a printer fault with its code and hint (the self-test's lines and
the recent faults, as the core renders them)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from drivers.diagnostics import FAULT_HINTS
from firmware.view import DeviceLine
from kiosk_ui.samples import sample_views

pytestmark = pytest.mark.ui


@pytest.mark.parametrize(
    ("lang", "printer", "chute_scanner"),
    [("zh", "小票打印机", "还书口扫描器"), ("en", "Receipt printer", "Chute scanner")],
)
def test_a_printer_fault_is_shown_with_its_code_and_hint(
    ui: Any, lang: str, printer: str, chute_scanner: str
) -> None:
    view = sample_views(lang)["technician"]
    tech = view.technician
    assert tech is not None
    lines = (
        *tech.devices,
        DeviceLine(
            "chute_scanner", True, "ok", "", "hid /dev/input/by-id/usb-chute-event-kbd opens"
        ),
        DeviceLine(
            "printer",
            False,
            "printer-paper-out",
            FAULT_HINTS["printer-paper-out"],
            "serial /dev/ttyUSB0: paper end (status 0x72)",
        ),
    )
    faults = (*tech.recent_faults, "printer:printer-paper-out")
    ui.show(replace(view, technician=replace(tech, devices=lines, recent_faults=faults)))
    texts = "\n".join(ui.texts())
    assert f"{printer}  [printer-paper-out]" in texts
    assert f"{chute_scanner}  [ok]" in texts
    assert FAULT_HINTS["printer-paper-out"] in texts
    assert "printer:printer-paper-out" in texts
    ui.screenshot(f"technician_printer_{lang}")
