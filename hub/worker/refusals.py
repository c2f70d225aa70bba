"""How the hub's answers refuse: the reason codes only the hub gives (`HUB_REASONS`; the
rules' own are `rules.REASONS`), in the reader's Chinese and English, and the `Response`
fields of a refusal, shared by every answer path (hub/worker/answers.py, the PIN-session
gate, the ILS lend path), so a reader reads one set of words for one code.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from contract import messages
from hub.rules import rules
from hub.rules.rules import Decision

# Reasons only the hub gives (the rest are rules.REASONS).
HUB_REASONS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "not_on_loan": (
            "这本书不在您的借阅记录里，不能续借。",
            "This book is not on loan to you, so it cannot be renewed.",
        ),
        "card_required": ("请先刷读者卡。", "Please tap your reader card first."),
        "pin_locked_staff": (
            "密码输错次数太多，卡已锁定。请带证件到服务台解锁。",
            "Too many wrong PINs: your card is locked. Please ask at the service desk to unlock it.",
        ),
        # checkout_auth / renew_auth without this card's valid session token at this kiosk
        "session_required": (
            "请重新刷卡并输入密码后再借书或续借。",
            "Please tap your card and enter your PIN again to borrow or renew.",
        ),
        # phone e-card tokens (hub/ledger/ecard_tokens.py, hub/worker/ecard_login.py)
        "ecard_invalid": (
            "无法识别这个电子读者证，请在手机上刷新二维码后再扫，或刷实体读者卡。",
            "This e-card could not be read. Please refresh the QR code on your phone and scan it"
            " again, or tap your card.",
        ),
        "ecard_expired": (
            "这个电子读者证二维码已过期，请在手机上刷新后再扫。",
            "This e-card QR code has expired. Please refresh it on your phone and scan it again.",
        ),
        "ecard_used": (
            "这个电子读者证二维码已经用过了，请在手机上刷新后再扫。",
            "This e-card QR code has already been used. Please refresh it on your phone and scan"
            " it again.",
        ),
        "ecard_foreign": (
            "这个电子读者证二维码是为另一台自助机生成的，请在手机上为本机生成后再扫。",
            "This e-card QR code was made for another kiosk. Please make one for this kiosk on"
            " your phone and scan it again.",
        ),
        "ecard_not_for_staff": (
            "工作人员请刷工作证并输入密码。",
            "Staff: please tap your staff card and enter your PIN.",
        ),
        # A member's own library system (hub/ils/ils_operations.py)
        "ils_unavailable": (
            "这本书或这张卡所属图书馆的系统暂时没有响应，请稍后再试，或到服务台办理。还书不受影响。",
            "The library's system is not answering. Please try again later or ask at the"
            " service desk. You can still return books.",
        ),
        "ils_refused": (
            "图书馆系统不同意这次操作，请到服务台询问。",
            "The library's system did not allow this. Please ask at the service desk.",
        ),
        "ils_answer_mismatch": (
            "图书馆系统的答复与请求不符，本次操作未完成，请到服务台询问。",
            "The library's system gave an answer that does not match the request, so nothing"
            " was done. Please ask at the service desk.",
        ),
        "ils_no_guest_patron": (
            "这本书所属的图书馆暂时不能借给这种读者卡，请到服务台询问。",
            "The library this book belongs to cannot lend it on this kind of card yet."
            " Please ask at the service desk.",
        ),
    }
)


def reason_message(code: str | None, note: str | None = None) -> messages.Bilingual | None:
    """The reader's words for a reason code (the code itself for one nobody wrote), with
    a library system's own words (`note`, its screen message) after them."""
    if not code:
        return None
    zh, en = rules.REASONS.get(code) or HUB_REASONS.get(code, (code, code))
    if note:
        zh, en = f"{zh}（{note[:200]}）", f"{en} ({note[:200]})"
    return messages.Bilingual(zh=zh, en=en)


def refusal_fields(decision: Decision) -> dict[str, Any]:
    """The Response fields for a decision: allowed, or why not in the reader's words."""
    if decision.allowed:
        return {"allowed": True}
    own = (
        messages.Bilingual(zh=decision.message_zh, en=decision.message_en)
        if decision.message_zh and decision.message_en
        else None
    )
    return {
        "allowed": False,
        "reason_code": decision.reason_code,
        "message": own or reason_message(decision.reason_code),
    }


def unknown_card(scheme_id: str, reason: str = "card_unknown") -> messages.Response:
    """The answer about a card nobody knows (or whose system did not answer: `reason`)."""
    return messages.Response(
        scheme=scheme_id,
        state="unknown",
        allowed=False,
        reason_code=reason,
        message=reason_message(reason),
    )
