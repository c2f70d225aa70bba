"""Book security in the flows: which switch goes with which step, and a failed switch.

The order is the contract (issue 18): a loan's UnsecureItem comes after its RecordTxn
(the shell stops running a step's effects at a failed journal write, so a book whose
loan is not journalled keeps its security on); a return's SecureItem comes before the
SetDiverter that routes it; a refused book gets no switch at all.

Which switch: a book that came as RFID tags has each of its tags switched (the effect
carries the tag's UID; `CoreConfig.tag_security`), a book that came as a barcode goes
to the EM unit (`tag` None; `CoreConfig.security`). Where the relevant switch is not
fitted no effect is made for that book.
"""

from __future__ import annotations

from dataclasses import replace

from firmware.core.config import CoreConfig
from firmware.core.core_types import Step
from firmware.core.effects import CallStaff, Effect, Log, SecureItem, UnsecureItem
from firmware.core.events import SecurityFailed
from firmware.core.state import Line, State, line_by_n, put_line, with_notice
from firmware.view import Text


def unsecure_after_loan(
    config: CoreConfig, line: Line, tags: tuple[bytes, ...] | None = None
) -> tuple[Effect, ...]:
    """The switches that follow a loan's RecordTxn: one per tag of a tagged book (only
    `tags` when given: the tags seen after the loan was journalled), the EM unit's for a
    barcode book; none where that switch is not fitted."""
    tags = line.tags if tags is None else tags
    if line.tags:
        if not config.tag_security:
            return ()
        return tuple(UnsecureItem(line.barcode, line.n, line.title, tag=uid) for uid in tags)
    return (UnsecureItem(line.barcode, line.n, line.title),) if config.security else ()


def secure_before_route(config: CoreConfig, item: str, tags: tuple[bytes, ...] = ()) -> tuple[Effect, ...]:
    """The switches that precede a return's SetDiverter, chosen as for a loan."""
    if tags:
        return tuple(SecureItem(item, tag=uid) for uid in tags) if config.tag_security else ()
    return (SecureItem(item),) if config.security else ()


def see_staff(title: str, barcode: str) -> Text:
    """What the reader is told when a book's security stayed on, naming the book: its
    title in title marks, or its barcode when the hub never named it."""
    zh_book = f"《{title}》" if title else barcode
    en_book = f"“{title}”" if title else barcode
    return Text(
        f"{zh_book}的防盗未解除，请到服务台处理后再离开。",
        f"The security of {en_book} could not be switched off: please see staff before leaving.",
    )


def security_failed(state: State, event: SecurityFailed, config: CoreConfig) -> Step:
    """Never hidden: a loan whose book stays secured tells the reader on its line and
    as a notice; both kinds go to the log with the fault code, to the kiosk's recent
    faults (the hub's fleet view) and to staff."""
    fault = "security-unsecure-failed" if not event.on else "security-secure-failed"
    svc = state.service
    recent = (*svc.recent_faults, f"security:{event.code}:{event.item}")[-config.recent_faults_kept :]
    state = replace(state, service=replace(svc, recent_faults=recent))
    fields = {"item": event.item, "code": event.code, "fault": fault}
    effects: tuple[Effect, ...] = (Log("error", f"security.{fault}", fields), CallStaff(fault))
    if event.on:
        return state, effects
    line = line_by_n(state, event.line_n) if event.line_n else None
    title = event.title or (line.title if line is not None and line.barcode == event.item else "")
    message = see_staff(title, event.item)
    if line is not None and line.barcode == event.item:
        state = put_line(state, replace(line, message=message))
    return with_notice(state, None, hub_message=message), effects
