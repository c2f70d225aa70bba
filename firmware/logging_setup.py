"""Logging for the kiosk: stdlib logging, optional JSON lines, and a mask on every record.

Why a mask on the handlers rather than care at each call site: a card number or a name
in a log is a privacy incident, and one careless `log.info("%s", txn)` is enough. The
filter sits on every handler this module installs, so records from any logger pass it:
digit runs of 10 or more (card numbers, also item barcodes) become first 4 + `*` + last
3, and extras whose key mentions `card` (first 4 + `*` + last 3, or first character +
`*` when short) or `name` (first character + `*`) are masked whatever their shape.
Nothing is configured at import time; `configure_logging` is called by the shell.

Bounded on the SD card: on a Pi the kiosk logs to stderr, which systemd hands to
journald (itself bounded by `SystemMaxUse=`). A log file, when one is configured, is a
`PrivateRotatingFileHandler`: it rotates at `max_bytes` and keeps `backups` old files,
so the log can never use more than `max_bytes * (backups + 1)` bytes, and every file
it creates is 0600 like the first one.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contract.private_files import make_private

_DIGIT_RUN = re.compile(r"(?<!\d)(\d{4})\d{3,}(\d{3})(?!\d)")
_HANDLER_MARK = "_alliance_kiosk_handler"
LOG_FILE_MAX_BYTES = 5 * 1024 * 1024
LOG_FILE_BACKUPS = 3
_MASKED_MARK = "_alliance_masked"

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}


def mask_digits(text: str) -> str:
    """`0110000012345` -> `0110*345`: runs of 10+ digits keep their first 4 and last 3."""
    return _DIGIT_RUN.sub(r"\1*\2", text)


def mask_value(value: Any, *, is_name: bool = False) -> Any:
    """Mask a sensitive extra: a card keeps its first 4 and last 3 characters (when it
    is long enough for that to hide most of it), a name only its first character."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dict):
        return {k: mask_value(v, is_name=is_name) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(v, is_name=is_name) for v in value]
    text = str(value)
    if not is_name and len(text) >= 10:
        return f"{text[:4]}*{text[-3:]}"
    if len(text) >= 2:
        return f"{text[0]}*"
    return "*"


def _mask_extra(key: str, value: Any) -> Any:
    lowered = key.lower()
    if "card" in lowered:
        return mask_value(value)
    if "name" in lowered:
        return mask_value(value, is_name=True)
    return _mask_any(value)


def _mask_any(value: Any) -> Any:
    if isinstance(value, str):
        return mask_digits(value)
    if isinstance(value, dict):
        return {k: _mask_extra(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_any(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**9:
        return mask_digits(str(value))
    return value


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the caller passed with `extra=`."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and k != _MASKED_MARK}


class MaskFilter(logging.Filter):
    """Masks the message, its arguments and every extra of each record it sees; never drops."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _MASKED_MARK, False):  # several handlers share one record
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what we can, masked
            message = f"{record.msg!r} {record.args!r}"
        record.msg = mask_digits(message)
        record.args = None
        for key, value in extra_fields(record).items():
            setattr(record, key, _mask_extra(key, value))
        setattr(record, _MASKED_MARK, True)
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO 8601 UTC), level, logger, msg, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return mask_digits(json.dumps(entry, ensure_ascii=False, default=str))


class MaskedTextFormatter(logging.Formatter):
    """The plain text format, with tracebacks masked too (they may quote a number)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_digits(super().format(record))


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A size-bounded log file whose every generation is created 0600 (the stdlib
    handler would create the rotated-in file with the process umask)."""

    def _open(self):  # type: ignore[no-untyped-def]
        make_private(self.baseFilename)
        return super()._open()


def configure_logging(
    level: str | int = "INFO",
    json_lines: bool = False,
    file: Path | None = None,
    *,
    max_bytes: int = LOG_FILE_MAX_BYTES,
    backups: int = LOG_FILE_BACKUPS,
) -> list[logging.Handler]:
    """Install the kiosk's handlers on the root logger (stderr, and `file` when given,
    rotating at `max_bytes` with `backups` old files kept), replacing those a previous
    call installed; returns the new handlers."""
    if max_bytes <= 0 or backups < 1:
        raise ValueError("a log file must be bounded: max_bytes > 0 and backups >= 1")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
            handler.close()
    formatter: logging.Formatter = (
        JsonLinesFormatter()
        if json_lines
        else MaskedTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if file is not None:
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        make_private(file)  # the log names loans and kiosks; masked, but still 0600
        handlers.append(
            PrivateRotatingFileHandler(file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        )
    for handler in handlers:
        setattr(handler, _HANDLER_MARK, True)
        handler.addFilter(MaskFilter())
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handlers
