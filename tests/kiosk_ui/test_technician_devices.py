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
    code_label = "故障代码" if lang == "zh" else "fault code"
    assert f"{printer} · {code_label} printer-paper-out" in texts
    assert chute_scanner in texts and "[ok]" not in texts  # the badge says ok, once
    hint = "小票打印机缺纸" if lang == "zh" else FAULT_HINTS["printer-paper-out"]
    assert hint in texts
    assert ("纸已用完（状态 0x72）" if lang == "zh" else "paper end (status 0x72)") in texts
    assert f"{printer} printer-paper-out" in texts  # the recent faults name the device
    ui.screenshot(f"technician_printer_{lang}")
