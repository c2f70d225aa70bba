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
        "summary": ("办理完成，谢谢！", "读者证: 0110****2341", "借出 应还 2025-04-12", "用手机扫一扫，\n保存凭条",
                    "馆: 西城区图书馆", "30234000001233 百年孤独: 未办理 — 这本书已被其他读者预约"),
        "help": ("需要帮助？", "已通知工作人员，请在这里稍等。"),
        "out_of_service": ("暂停服务", "故障代码：chute-jammed"),
        "technician": ("技术维护", "自检", "结束维护", "故障", "正常", "扫描器 · 故障代码 scanner-unplugged",
                       "条码扫描器没有连接", "分拣挡板", "状态指示灯", "蜂鸣器", "开关正常",
                       "入口光束正常；出口光束正常", "测试卡 51417d67 读取正常", "设备文件不存在"),
        "maintenance": ("维护中", "技术人员：刷技术人员卡，输入密码，再按「结束维护」。"),
        "borrow_returns_only": ("赵*，您好！", "您已借 2 本", "本馆不能用这种读者卡借书，但可以还书。",
                                "还书：请把书逐本放入还书口"),
        "borrow_offline": ("离线服务：还书照常，本次还可以借 2 本", "暂时无法连接图书馆系统，还书照常"),
        "borrow_offline_returns_only": ("离线服务", "本馆不能用这种读者卡借书，但可以还书。"),
        "pin_wrong": ("密码不对，请再输一次", "还可以再试 4 次"),
        "card_lost": ("这张卡已经挂失，不能使用。请到服务台办理。",),
        "logged_out": ("长时间没有操作，已自动退出",),
        "offline": ("暂时无法连接图书馆系统，还书照常",),
        "countdown": ("15 秒后自动退出，点任意按钮继续",),
        "notice": ("读卡区上不止一张卡：请只留下您自己的读者卡",),
        "borrow_holds": ("预约的书到了：《乡土中国》 费孝通 著，就在本馆预约架，取来扫描即可借出",
                         "预约的书正在送往东城区第一图书馆：《城记》 王军 著",
                         "快到期了：《活着》 余华 著，请于2025年3月5日前归还"),
    },
    "en": {
        "attract": ("Please tap your library card", "Borrow", "Return"),
        "pin": ("Please enter your PIN", "OK", "Delete", "Cancel", "4 tries left"),
        "borrow": ("Hello, 王*明!", "Due back 12 April 2025", "Borrowed", "Finish", "Renew", "Help"),
        "borrow_busy": ("Checking, please wait…", "Checking"),
        "borrow_refusal": ("Not borrowed", "Another reader has reserved this book"),
        "returns": ("Back on the shelf here", "Goes back to Xicheng District Library", "Goes to the hold shelf"),
        "summary": ("All done — thank you!", "Card: 0110****2341", "loaned, due 2025-04-12",
                    "Scan with your phone to keep the receipt", "Library: Xicheng District Library",
                    "30234000001233 百年孤独: not done — Another reader has reserved this book"),
        "help": ("Need help?", "Staff have been called. Please wait here."),
        "out_of_service": ("Out of service", "Fault code: chute-jammed"),
        "technician": ("Technician", "Self-test", "Maintenance off", "Fault", "Scanner · fault code scanner-unplugged",
                       "Sorting flap", "Status light", "Buzzer", "entry beam ok; exit beam ok"),
        "maintenance": ("Maintenance", "Technicians: tap a technician card, enter the PIN"),
        "borrow_returns_only": ("Hello, 赵*!", "You have 2 on loan", "This library cannot lend on this kind of card",
                                "To return books, put them into the return slot"),
        "borrow_offline": ("Offline: returns as usual; you may borrow 2 more now", "Offline: returns still work"),
        "borrow_offline_returns_only": ("Offline", "This library cannot lend on this kind of card"),
        "pin_wrong": ("Wrong PIN. Please try again.", "4 tries left"),
        "card_lost": ("This card has been reported lost",),
        "logged_out": ("You were logged out after a period of inactivity.",),
        "offline": ("Offline: returns still work",),
        "countdown": ("Logging out in 15 s — press any button to stay",),
        "notice": ("More than one card is on the reader: leave only your own library card there",),
        "borrow_holds": ("Your reserved book is here: 乡土中国 / 费孝通 著, on this library's hold shelf",
                         "on its way to Dongcheng District First Library: 城记 / 王军 著",
                         "Due soon: 活着 / 余华 著, due back 5 March 2025"),
    },
}


def all_views() -> list[tuple[str, str, KioskView]]:
    return [
        (name, lang, view) for lang in ("zh", "en") for name, view in sample_views(lang).items()
    ]


# Words that must not be on a screen: a made-up loan count, a quota for a card that
# cannot borrow here, raw device ids and English driver lines on the Chinese
# technician screen, "[ok]" beside 正常, maintenance as a fault code, the count of a
# wrong PIN twice, a lost card's generic line before the reason.
FORBIDDEN_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "zh": {
        "borrow_offline": ("您已借",),
        "borrow_offline_returns_only": ("您已借", "还可以借"),
        "borrow_returns_only": ("还可以借",),
        "technician": ("[ok]", "flap", "status_led", "buzzer", "toggles", "beam ok", "version register",
                       "The barcode scanner", "absent"),
        "maintenance": ("故障代码", "maintenance"),
        "card_lost": ("这张卡现在不能使用",),
        "summary": ("Capital Library Alliance", "Card:"),
    },
    "en": {
        "borrow_offline": ("on loan",),
        "borrow_returns_only": ("more to borrow", "left to borrow"),
        "technician": ("[ok]", "status_led"),
        "maintenance": ("Fault code",),
        "card_lost": ("cannot be used at the moment",),
        "summary": ("首都图书馆联盟", "读者证", "借出"),
    },
}


def test_every_screen_shows_the_views_words_in_its_language(ui: Any) -> None:
    for name, lang, view in all_views():
        ui.show(view)
        assert ui.screen.name == view.screen
        texts = "\n".join(ui.texts())
        for words in EXPECTED_WORDS[lang][name]:
            assert words in texts, f"{name}/{lang}: {words!r} not shown; shown: {ui.texts()}"
        for words in FORBIDDEN_WORDS[lang].get(name, ()):
            assert words not in texts, f"{name}/{lang}: {words!r} shown; shown: {ui.texts()}"
        ui.screenshot(f"{name}_{lang}")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_wrong_pin_shows_the_attempts_left_once(ui: Any, lang: str) -> None:
    ui.show(sample_views(lang)["pin_wrong"])
    words = [text for text in ui.texts() if len(text) > 1]  # not the keypad's digits
    assert sum(text.count("4") for text in words) == 1, words


def test_the_samples_cover_every_screen() -> None:
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


def window_box(widget: Any) -> tuple[float, float, float, float]:
    x, y = widget.to_window(widget.x, widget.y)
    return x, y, x + widget.width, y + widget.height


def overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1


def placement_problems(ui: Any) -> list[str]:
    """What `layout_problems` does not see: a widget drawn outside its parent's box
    (it then covers its neighbours: an arrow over a button, a line under the next
    row) and the header's buttons crowding each other or the title."""
    from kivy.uix.label import Label

    problems: list[str] = []
    screen = ui.screen
    for widget in screen.walk(restrict=True):
        parent = widget.parent
        if widget is screen or parent is None or parent is screen or _inside_scroll(widget):
            continue
        if widget.opacity == 0 or widget.width <= 1 or widget.height <= 1:
            continue
        inner, outer = window_box(widget), window_box(parent)
        if (inner[0] < outer[0] - 1 or inner[1] < outer[1] - 1
                or inner[2] > outer[2] + 1 or inner[3] > outer[3] + 1):
            label = widget.text[:30] if isinstance(widget, Label) else ""
            problems.append(f"{type(widget).__name__}({label!r}) {inner} outside its "
                            f"{type(parent).__name__} {outer}")
    row = getattr(screen, "header_row", None)
    if row is not None:
        parts = [child for child in row.children if child.opacity > 0 and child.width > 1]
        for i, a in enumerate(parts):
            for b in parts[i + 1:]:
                if overlaps(window_box(a), window_box(b)):
                    problems.append(f"header: {type(a).__name__} overlaps {type(b).__name__}")
    return problems


@pytest.mark.parametrize("size", [(800, 480), (1280, 800), (1920, 1080)])
def test_nothing_is_cut_off_or_too_small(ui: Any, size: tuple[int, int]) -> None:
    """Layout at each size in this window (nothing cut off, outside the window or its
    own box, header buttons apart); SDL offscreen keeps its first framebuffer, so
    screenshots at other sizes come from the CLI in a fresh process (test_sim_and_cli)."""
    ui.resize(size)
    problems: list[str] = []
    for name, lang, view in all_views():
        ui.show(view)
        problems += [f"{size} {name}/{lang}: {p}" for p in layout_problems(ui) + placement_problems(ui)]
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize(
    "screen", ["attract", "pin", "borrow", "returns", "summary", "help", "out_of_service", "maintenance"]
)
def test_every_readers_screen_has_a_large_repeat_button_that_posts_repeat(ui: Any, screen: str) -> None:
    """Readers who did not catch the spoken prompt hear it again ("再听一遍")."""
    ui.show(sample_views()[screen])
    button = ui.button(action="repeat")
    assert button.text == "再听一遍" and button.height >= 48 and button.width >= 100
    ui.tap(button)
    assert ui.posted[-1] == Press("repeat")
    if screen in ("borrow", "pin"):
        ui.screenshot(f"repeat_button_{screen}_zh")


def test_repeat_on_the_pin_pad_keeps_the_digits_typed(ui: Any) -> None:
    ui.show(sample_views("zh")["pin"])
    for digit in "12":
        ui.tap(ui.button(action=f"pin:{digit}"))
    ui.tap(ui.button(action="repeat"))
    ui.tap(ui.button(action="pin:ok"))
    assert ui.posted == [Press("repeat"), PinEntered("12")]


def test_the_technician_screen_shows_the_voice_and_its_buttons(ui: Any) -> None:
    view = sample_views()["technician"]
    ui.show(view)
    assert any("语音：开 · 音量 60" in text for text in ui.texts())
    for action in ("voice_toggle", "voice_quieter", "voice_louder"):
        ui.tap(ui.button(action=action))
        assert ui.posted[-1] == Press(action)
    ui.screenshot("technician_voice_zh")
