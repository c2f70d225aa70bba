"""No whole card number and no reader's name in what the alliance writes down or routes:
the hub worker's log (run with `--verbose`, at DEBUG), the kiosk's own log file, the
scenario runner's output, and the MQTT topics a wiretap on the broker sees, over a full visit (tap, PIN, loan,
return, both committed), and a phone e-card login and its replay (no token either). The masked forms (`0110******341`, `王*明`) are what may show."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from hub.ledger.catalogue import generate_readers
from hub.rules.registry import load_registry
from tests.e2e.conftest import REPO, Alliance, wiretap

CARD = "0110000012341"
BOOK = "30002000000018"
VISIT = f"""# A reader borrows a book with their PIN, then drops it back into the chute.
tap {CARD}
expect screen pin
pin 123456
expect screen borrow
scan {BOOK}
expect loan {BOOK}
press return
expect screen returns
drop {BOOK}
expect return {BOOK}
press finish
expect screen summary
remove
expect screen attract
expect committed {BOOK}
ecard {CARD}
expect screen borrow
press finish
expect screen summary
press finish
expect screen attract
ecard {CARD} again
expect refused {CARD} ecard_used
"""


def _kiosk_config_logging_everything(tmp_path: Path) -> Path:
    """The packaged kiosk config with its log at DEBUG in JSON lines (every field)."""
    text = (REPO / "firmware" / "kiosk.toml").read_text(encoding="utf-8")
    logging = 'level = "INFO"\njson_lines = false'
    assert logging in text
    path = tmp_path / "kiosk.toml"
    path.write_text(text.replace(logging, 'level = "DEBUG"\njson_lines = true'), encoding="utf-8")
    return path


def test_no_whole_card_number_or_name_in_the_hub_log_the_kiosk_log_or_a_topic(
    make_alliance: Callable[..., Alliance], tmp_path: Path
) -> None:
    reader = next(r for r in generate_readers(load_registry()) if r.number == CARD)
    world = make_alliance(verbose=True)
    topics: set[str] = set()
    subscribed = threading.Event()
    spy = wiretap(world.lab, world.broker, "log-privacy-spy")
    spy.on_connect = lambda c, *_: c.subscribe("alliance/v1/#", qos=1)
    spy.on_subscribe = lambda *_: subscribed.set()
    spy.on_message = lambda _c, _u, m: topics.add(m.topic)
    spy.connect("127.0.0.1", world.broker.port)
    spy.loop_start()
    try:
        assert subscribed.wait(10)
        script = tmp_path / "visit.txt"
        script.write_text(VISIT, encoding="utf-8")
        runs = tmp_path / "runs"
        runs.mkdir()
        code, output = world.run_script(script, "--config", str(_kiosk_config_logging_everything(tmp_path)), tmpdir=runs)
        assert code == 0, output[-3000:]
    finally:
        spy.disconnect()
        spy.loop_stop()
    hub_log = world.hub.log_text()
    [kiosk_log_file] = runs.glob("kiosk-script-*/kiosk.log")  # the kiosk child's own log
    kiosk_log = kiosk_log_file.read_text(encoding="utf-8")
    # The check below reads the real logs: the worker's own lines, the kiosk's visit.
    assert "INFO hub.worker.service: worker 1: connected" in hub_log, hub_log[-2000:]
    assert '"msg": "card.tap"' in kiosk_log and "return.recorded" in kiosk_log, kiosk_log[-2000:]
    assert any(t.endswith("/txn") for t in topics), topics
    places = {"hub worker log": hub_log, "kiosk log": kiosk_log, "runner output": output, "topics": "\n".join(topics)}
    for where, text in places.items():
        assert CARD not in text, f"the whole card number is in the {where}"
        assert "CLAEC1." not in text, f"a phone e-card token is in the {where}"
        assert reader.name not in text, f"the reader's name is in the {where}"
