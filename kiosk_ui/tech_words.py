"""The technician screen's words: device names, fault hints and self-test detail lines
in the screen's language.

The drivers write their self-test details in English (`firmware diag` prints them as
they are, for logs and the hub). The screen shows them in the technician's language:
each "; "-separated phrase is matched against the phrases the drivers produce and
written again from the catalogue (`detail.*`), with its values (ports, ids, register
values) kept as they are. A phrase we do not know (an exception's own message) is
shown unchanged rather than dropped: a technician needs it more than a tidy screen.
Pure presentation, no Kivy: tests cover every phrase the drivers write.
"""

from __future__ import annotations

import re

from firmware.view import DeviceLine

from .i18n import Catalogue

# (pattern matched against one whole phrase, catalogue key); the first match wins.
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), key)
    for pattern, key in (
        (r"version register (?P<value>0x[0-9A-Fa-f]{2})", "detail.version_register"),
        (r"antenna on", "detail.antenna_on"),
        (r"antenna drivers stay off \(chip reports overheating\)", "detail.antenna_off_hot"),
        (r"antenna drivers stay off", "detail.antenna_off"),
        (r"no test card in the field", "detail.no_test_card"),
        (r"several cards in the field", "detail.several_cards"),
        (r"card read not tested", "detail.card_read_not_tested"),
        (r"test card (?P<uid>[0-9a-f]+) read", "detail.test_card_read"),
        (r"card (?P<uid>[0-9a-f]+) seen but its blocks not read", "detail.card_blocks_not_read"),
        (r"select failed: (?P<error>.+)", "detail.select_failed"),
        (r"(?P<beam>entry|exit) beam ok", "detail.beam_ok"),
        (r"(?P<beam>entry|exit) beam never changed", "detail.beam_never_changed"),
        (r"(?P<beam>entry|exit) beam reads blocked", "detail.beam_reads_blocked"),
        (r"toggles", "detail.toggles"),
        (r"pin read (?P<seen>.+)", "detail.pin_read"),
        (r"test scan read back on (?P<kind>\w+) (?P<port>\S+)", "detail.scan_read_back"),
        (r"(?P<kind>\w+) (?P<port>\S+): expected (?P<code>\S+)", "detail.scan_not_read_back"),
        (r"(?P<kind>\w+) (?P<port>\S+): absent \((?P<error>.*)\)", "detail.port_absent"),
        (r"(?P<kind>\w+) (?P<port>\S+) opens \(last error: (?P<error>.*)\)", "detail.port_opens_last_error"),
        (r"(?P<kind>\w+) (?P<port>\S+) opens \(no status query\)", "detail.printer_opens"),
        (r"(?P<kind>\w+) (?P<port>\S+) answers", "detail.printer_answers"),
        (r"(?P<kind>\w+) (?P<port>\S+) opens", "detail.port_opens"),
        (r"paper low", "detail.paper_low"),
        (r"(?P<kind>\w+) (?P<port>\S+): paper end \(status (?P<status>0x[0-9a-fA-F]+)\)", "detail.paper_end"),
        (r"(?P<kind>\w+) (?P<port>\S+): printer reports offline \(cover open\?\)", "detail.printer_offline"),
        (r"(?P<kind>\w+) (?P<port>\S+): no answer to a status query \(DLE EOT (?P<n>\d+)\)", "detail.no_status_answer"),
        (r"cannot open (?P<kind>serial|usb|network|hid) (?P<port>\S+?): (?P<error>.+)", "detail.cannot_open_kind"),
        (r"version register reads (?P<value>0x[0-9A-Fa-f]{2})", "detail.version_reads"),
        (r"firmware version reads (?P<value>0x[0-9A-Fa-f]{2})", "detail.firmware_version_reads"),
        (r"chip stays powered down after reset", "detail.chip_powered_down"),
        (r"register writes do not stick", "detail.register_writes_lost"),
        (r"CRC coprocessor did not finish", "detail.crc_stuck"),
        (r"no interrupt within the safety limit: the chip's timer has stopped", "detail.timer_stopped"),
        (r"no RX or timer interrupt within the safety limit", "detail.rx_timer_stopped"),
        (r"not opened yet", "detail.not_opened_yet"),
        # pyserial / the OS, inside "cannot open PORT: ..." (the errno is what matters)
        (r"cannot open (?P<port>\S+?): (?P<error>.+)", "detail.cannot_open"),
        (r".*\[Errno \d+\] No such file or directory.*", "detail.enoent"),
        (r".*\[Errno \d+\] Permission denied.*", "detail.eacces"),
        (r".*\[Errno \d+\] Device or resource busy.*", "detail.ebusy"),
        (r"(?P<kind>serial|usb|network|hid) (?P<port>\S+): (?P<error>.+)", "detail.port_error"),
    )
)
# Values that are phrases themselves (an error inside a phrase) are translated too.
_NESTED = ("error",)
# Words inside a phrase that are themselves translated: beams and kinds of port.
_WORD_KEYS = {"beam": "beam", "kind": "port_kind"}


def device_name(line: DeviceLine, language: str, cat: Catalogue) -> str:
    key = f"device.{line.device}"
    return cat.text(language, key) if cat.has(key, language) else line.device


def fault_hint(line: DeviceLine, language: str, cat: Catalogue) -> str:
    """What to do, in the screen's language: the catalogue's words for the fault code,
    or the driver's own hint for a code the catalogue does not know."""
    if line.ok:
        return ""
    key = f"hint.{line.code}"
    return cat.text(language, key) if cat.has(key, language) else line.hint


def detail_text(detail: str, language: str, cat: Catalogue) -> str:
    """A self-test detail line with every phrase we know in the screen's language."""
    if not detail:
        return ""
    separator = "；" if language == "zh" else "; "
    return separator.join(phrase_text(p, language, cat) for p in detail.split("; ") if p)


def phrase_text(phrase: str, language: str, cat: Catalogue) -> str:
    for pattern, key in _PHRASES:
        match = pattern.fullmatch(phrase.strip())
        if match is None or not cat.has(key, language):
            continue
        values = match.groupdict()
        for name in _NESTED:
            if values.get(name):
                values[name] = phrase_text(values[name], language, cat)
        for name, prefix in _WORD_KEYS.items():
            word = values.get(name)
            if word is not None and cat.has(f"{prefix}.{word}", language):
                values[name] = cat.text(language, f"{prefix}.{word}")
        return cat.text(language, key, **values)
    return phrase


def recent_faults_text(faults: tuple[str, ...], language: str, cat: Catalogue) -> str:
    """Recent faults ("device:code", newest last) with each device named in `language`."""
    shown = []
    for fault in faults:
        device, _, code = fault.rpartition(":")
        if device:
            name = device_name(DeviceLine(device, False, code, ""), language, cat)
            shown.append(f"{name} {code}")
        else:
            shown.append(code)
    return ("、" if language == "zh" else ", ").join(shown)


def known_phrase(phrase: str) -> bool:
    """Whether `phrase` is one the table translates (tests: the drivers write no other)."""
    return any(pattern.fullmatch(phrase.strip()) for pattern, _ in _PHRASES)
