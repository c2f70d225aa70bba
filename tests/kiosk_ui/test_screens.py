"""Each screen under a real Kivy window: it shows the view's words (Chinese first,
English after "lang"), its buttons post the right intents, nothing is cut off at
800x480, 1280x800 or 1920x1080, and screenshots are kept for a human to look at."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from contract.screens import SCREENS, PinEntered, Press
from firmware.view import KioskView
from kiosk_ui.samples import sample_views

pytestmark = pytest.mark.ui

EXPECTED_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "zh": {
        "attract": ("请刷读者卡", "借书", "还书", "中文 / English"),
        "pin": ("请输入密码", "确定", "删除", "取消", "还可以再试 4 次"),
        "borrow": ("王*明，您好！", "《平凡的世界（全三册）》", "请于2025年4月12日前归还", "已借出", "完成", "续借"),
        "borrow_busy": ("正在查询，请稍候…", "查询中"),
        "borrow_refusal": ("不能借", "这本书已被其他读者预约", "您借的书已经到了上限"),
        "returns": ("放回本馆书架", "送回西城区图书馆", "放到预约书架", "《城南旧事》"),
        "summary": ("办理完成，谢谢！", "读者 Reader: 王*明", "用手机扫一扫，保存凭条"),
        "help": ("需要帮助？", "已通知工作人员，请在这里稍等。"),
        "out_of_service": ("暂停服务", "故障代码：chute-jammed"),
        "technician": ("技术维护", "自检", "结束维护", "故障", "正常", "扫描器  [scanner-unplugged]"),
        "offline": ("暂时无法连接图书馆系统，还书照常",),
        "countdown": ("15 秒后自动退出，点任意按钮继续",),
        "notice": ("请一次只放一张卡",),
    },
    "en": {
        "attract": ("Please tap your library card", "Borrow", "Return"),
        "pin": ("Please enter your PIN", "OK", "Delete", "Cancel", "4 tries left"),
        "borrow": ("Hello, 王*明!", "Due back 12 April 2025", "Borrowed", "Finish", "Renew", "Help"),
        "borrow_busy": ("Checking, please wait…", "Checking"),
        "borrow_refusal": ("Not borrowed", "Another reader has reserved this book"),
        "returns": ("Back on the shelf here", "Goes back to Xicheng District Library", "Goes to the hold shelf"),
        "summary": ("All done — thank you!", "Scan with your phone to keep the receipt"),
        "help": ("Need help?", "Staff have been called. Please wait here."),
        "out_of_service": ("Out of service", "Fault code: chute-jammed"),
        "technician": ("Technician", "Self-test", "Maintenance off", "Fault", "Scanner  [scanner-unplugged]"),
        "offline": ("Offline: returns still work",),
        "countdown": ("Logging out in 15 s — press any button to stay",),
        "notice": ("Please put only one card on the reader.",),
    },
}


def all_views() -> list[tuple[str, str, KioskView]]:
    return [
        (name, lang, view) for lang in ("zh", "en") for name, view in sample_views(lang).items()
    ]


def test_every_screen_shows_the_views_words_in_its_language(ui: Any) -> None:
    for name, lang, view in all_views():
        ui.show(view)
        assert ui.screen.name == view.screen
        texts = "\n".join(ui.texts())
        for words in EXPECTED_WORDS[lang][name]:
            assert words in texts, f"{name}/{lang}: {words!r} not shown; shown: {ui.texts()}"
        ui.screenshot(f"{name}_{lang}")


def test_the_samples_cover_all_eight_screens() -> None:
    assert {v.screen for v in sample_views().values()} == set(SCREENS)


def test_english_words_replace_chinese_when_the_language_changes(ui: Any) -> None:
    view = sample_views("zh")["borrow"]
    ui.show(view)
    assert "完成" in ui.texts()
    ui.show(replace(view, language="en"))
    assert "Finish" in ui.texts()
    assert "完成" not in ui.texts()


@pytest.mark.parametrize(
    ("sample", "action"),
    [
        ("attract", "borrow"),
        ("attract", "return"),
        ("attract", "help"),
        ("attract", "lang"),
        ("borrow", "finish"),
        ("borrow", "renew"),
        ("borrow", "help"),
        ("returns", "finish"),
        ("summary", "finish"),
        ("help", "cancel"),
        ("technician", "selftest"),
        ("technician", "maintenance_off"),
        ("technician", "cancel"),
    ],
)
def test_touching_a_button_posts_its_press(ui: Any, sample: str, action: str) -> None:
    ui.show(sample_views("zh")[sample])
    ui.tap(ui.button(action=action))
    assert ui.posted == [Press(action)]


def test_maintenance_button_offers_on_when_maintenance_is_off(ui: Any) -> None:
    view = sample_views("zh")["technician"]
    off = replace(view, technician=replace(view.technician, maintenance=False))
    ui.show(off)
    ui.tap(ui.button(action="maintenance_on"))
    assert ui.posted == [Press("maintenance_on")]


def test_busy_borrow_list_holds_finish_but_not_help(ui: Any) -> None:
    ui.show(sample_views("zh")["borrow_busy"])
    ui.tap(ui.button(action="finish"))
    assert ui.posted == []
    ui.tap(ui.button(action="help"))
    assert ui.posted == [Press("help")]


def test_pin_pad_posts_the_digits_once_on_ok_and_never_shows_them(ui: Any) -> None:
    ui.show(sample_views("zh")["pin"])
    for digit in "2580":
        ui.tap(ui.button(action=f"pin:{digit}"))
        assert not any(ch.isdigit() and ch in "2580" for t in ui.texts() if "●" in t for ch in t)
    assert ui.posted == []
    shown = "\n".join(ui.texts())
    assert "2580" not in shown and "● ● ● ●" in shown
    ui.tap(ui.button(action="pin:delete"))
    ui.tap(ui.button(action="pin:7"))
    ui.tap(ui.button(action="pin:ok"))
    assert ui.posted == [PinEntered("2587")]
    assert "●" not in "\n".join(ui.texts())


def test_pin_cancel_forgets_the_digits(ui: Any) -> None:
    ui.show(sample_views("zh")["pin"])
    ui.tap(ui.button(action="pin:1"))
    ui.tap(ui.button(action="cancel"))
    ui.tap(ui.button(action="pin:ok"))
    assert ui.posted == [Press("cancel")]


def test_show_from_another_thread_draws_on_the_kivy_clock(ui: Any) -> None:
    views = sample_views("en")
    worker = threading.Thread(
        target=lambda: [ui.app.show(views[n]) for n in ("borrow", "returns", "help")]
    )
    worker.start()
    worker.join()
    ui.frames(3)
    assert ui.screen.name == "help"
    assert "Need help?" in ui.texts()


def _inside_scroll(widget: Any) -> bool:
    from kivy.uix.scrollview import ScrollView

    parent = widget.parent
    while parent is not None and parent is not widget:
        if isinstance(parent, ScrollView):
            return True
        if parent.parent is parent:
            break
        parent = parent.parent
    return False


def layout_problems(ui: Any) -> list[str]:
    """Cut-off labels, widgets outside the window, and touch targets under 15 mm."""
    from kivy.uix.label import Label

    from kiosk_ui.widgets import KioskButton

    width, height = ui.window.size
    scale = ui.app.scale
    problems: list[str] = []
    for widget in ui.visible_widgets():
        if widget.opacity == 0 or widget.width <= 1 or widget.height <= 1:
            continue
        label = widget.text[:30] if isinstance(widget, Label) else ""
        name = f"{type(widget).__name__}({label!r})"
        if isinstance(widget, Label) and widget.text:
            tw, th = widget.texture_size
            if tw > widget.width + 1:
                problems.append(f"{name} text {tw}px wider than {widget.width}px")
            if not _inside_scroll(widget) and th > widget.height + 1:
                problems.append(f"{name} text {th}px taller than {widget.height}px")
        if not _inside_scroll(widget):
            x, y = widget.to_window(widget.x, widget.y)
            if x < -1 or y < -1 or x + widget.width > width + 1 or y + widget.height > height + 1:
                problems.append(f"{name} at {(x, y, widget.width, widget.height)} leaves the window")
        if isinstance(widget, KioskButton) and min(widget.size) < 90 * scale - 1:
            problems.append(f"{name} is {widget.size}, under 15 mm")
    return problems


@pytest.mark.parametrize("size", [(800, 480), (1280, 800), (1920, 1080)])
def test_nothing_is_cut_off_or_too_small(ui: Any, size: tuple[int, int]) -> None:
    """Layout at each size in this window; SDL offscreen keeps its first framebuffer, so
    screenshots at other sizes come from the CLI in a fresh process (test_sim_and_cli)."""
    ui.resize(size)
    problems: list[str] = []
    for name, lang, view in all_views():
        ui.show(view)
        problems += [f"{size} {name}/{lang}: {p}" for p in layout_problems(ui)]
    assert not problems, "\n".join(problems[:20])
