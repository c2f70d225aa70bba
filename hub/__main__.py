"""`python -m hub`: run a hub worker, retire one, show fleet status (with each kiosk's
release and last update), send a kiosk a signed command (hub/cli/command_cli.py), list and
resolve staff exceptions (hub/cli/exceptions_cli.py), list demo readers and items; run the
alliance PKI and write the secure broker's configuration (`pki`, `broker-config`,
`enroll`, `revoke`: hub/cli/pki_cli.py). Operator commands find make run's settings
without `--config` (hub/cli/operator_config.py).

Exit codes: 0 success, 1 a runtime failure (e.g. no ledger to read, no broker to retire
at), 2 a bad setting (--db / --broker
URL, config file, registry files).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.cli import (
    command_cli,
    ecard_cli,
    exceptions_cli,
    flags_cli,
    operator_config,
    pin_cli,
    pki_cli,
)
from hub.cli.ledger_access import missing_ledger, open_ledger, say_no_ledger
from hub.config import ConfigError, HubConfig, load_config, load_hub_file, load_sip2
from hub.sip2 import check_cli as sip2_check_cli
from hub.sip2.system import plain_warning, protection
from hub.worker.worker_process import notify_ready

if TYPE_CHECKING:
    from hub.ledger.fleet_records import FleetRow
    from hub.ledger.ledger import Ledger
    from hub.rules.registry import Registry
    from hub.sip2.settings import Sip2Settings

EXIT_OK, EXIT_FAILED, EXIT_BAD_SETTING = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="F", help="TOML file with hub settings")
    common.add_argument("--db", metavar="URL", help="sqlite:///path or postgresql://user@host/db")
    # Subcommands repeat the common options; SUPPRESS keeps a value given before the
    # subcommand from being reset by the subparser's default.
    sub_common = argparse.ArgumentParser(add_help=False)
    sub_common.add_argument("--config", metavar="F", default=argparse.SUPPRESS)
    sub_common.add_argument("--db", metavar="URL", default=argparse.SUPPRESS)
    sub_common.add_argument("--json", action="store_true", help="machine-readable output")

    parser = argparse.ArgumentParser(
        prog="python -m hub",
        parents=[common],
        description="The alliance hub: commits kiosk transactions, answers kiosk requests.",
    )
    parser.add_argument("--broker", metavar="URL", help="mqtt://host:port (default mqtt://127.0.0.1:1883)")
    parser.add_argument(
        "--worker",
        metavar="NAME",
        help="this worker's name, one per worker: the broker keeps its session (client id "
        "hub-NAME) under it (default 1)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    subs = parser.add_subparsers(
        dest="command",
        metavar="{status,command,exceptions,demo,retire,pki,broker-config,enroll,revoke,sip2-check,ecard}",
    )
    status = subs.add_parser("status", parents=[sub_common], help="fleet status: kiosks, state, journal, faults")
    status.add_argument(
        "--problems",
        action="store_true",
        help="only the kiosks that need attention (not online, faults, flags, exceptions, "
        "waiting txns, clock off); the summary line still counts the whole fleet",
    )
    command_cli.add_parser(subs, [sub_common])
    exceptions_cli.add_parser(subs, [sub_common])
    demo = subs.add_parser(
        "demo", parents=[sub_common], help="books a demo card can borrow where; demo readers (with PINs) and items"
    )
    demo.add_argument("--card", metavar="NUMBER", help="whose borrowable books to list (default: the first demo card)")
    subs.add_parser(
        "retire",
        parents=[sub_common],
        help="remove worker --worker for good: handle what its broker session holds, then end it",
    )
    pki_cli.add_parsers(subs)
    sip2_check_cli.add_parser(subs, [sub_common])
    pin_cli.add_parser(subs, [sub_common])
    flags_cli.add_parser(subs, [sub_common])
    ecard_cli.add_parser(subs, [sub_common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:  # operator commands find make run's var/lab/hub.toml (hub/cli/operator_config.py)
        args.config = operator_config.config_for(args.command, args.config)
    except ConfigError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTING
    if args.command in pki_cli.COMMANDS:
        return pki_cli.run(args)  # the PKI needs no hub config, ledger or broker
    if args.command == sip2_check_cli.COMMAND:
        return sip2_check_cli.run(args)  # reads only the [sip2] tables of --config
    try:
        config = load_config(args.config).with_overrides(
            db=args.db, broker=getattr(args, "broker", None), worker=getattr(args, "worker", None)
        )
        if args.command == "status":
            systems = load_hub_file(args.config).sip2.systems
            links = {name: protection(s.tls, s.tls_ca is not None, s.tls_fingerprint is not None) for name, s in systems.items()}
            return cmd_status(config, args.json, links, problems_only=args.problems)
        if args.command == "command":
            return command_cli.run(config, args)
        if args.command == pin_cli.COMMAND:
            return pin_cli.run(config, args)
        if args.command == flags_cli.COMMAND:
            return flags_cli.run(config, args)
        if args.command == ecard_cli.COMMAND:
            return ecard_cli.run(config, args)
        if args.command == exceptions_cli.COMMAND:
            return exceptions_cli.run(config, args)
        if args.command == "demo":
            return cmd_demo(config, args.json, args.card)
        if args.command == "retire":
            return cmd_retire(config)
        return cmd_run(config, verbose=args.verbose, sip2=load_sip2(args.config))
    except ConfigError as exc:
        print("\n".join(f"hub: {line}" for line in str(exc).splitlines()), file=sys.stderr)
        return EXIT_BAD_SETTING


def _check_db_url(url: str) -> None:
    """A ledger URL's form, opening nothing (ConfigError in words)."""
    from hub.ledger.ledger_sql import LedgerUrlError, check_url

    try:
        check_url(url)
    except LedgerUrlError as exc:
        raise ConfigError(str(exc)) from None


def _registry() -> Registry:
    from hub.rules.registry import RegistryError, load_registry

    try:
        return load_registry()
    except RegistryError as exc:
        raise ConfigError(f"member registry: {exc}") from None


def _lab_setup_warnings(config: HubConfig) -> list[str]:
    """What makes this worker a lab setup rather than the secure alliance (docs/security.md)."""
    warnings = []
    if not config.broker_address.tls:
        warnings.append(
            f"plain {config.broker} (a lab setup): anyone on the network reads card numbers "
            "and PINs; the alliance broker is mqtts:// (python -m hub broker-config)"
        )
    if config.signing_key is None:
        warnings.append("no signing_key: acks, answers and commands go unsigned")
    if config.pki_dir is None:
        warnings.append("no pki_dir: any kiosk id is served, enrolled or not")
    return warnings


def _sip2_warnings(sip2: Sip2Settings | None) -> list[str]:
    """A warning for each member's system reached over plain TCP (`allow_plain`)."""
    systems = sip2.systems.values() if sip2 is not None else ()
    return [plain_warning(system.label) for system in systems if not system.tls]


def cmd_run(config: HubConfig, verbose: bool = False, sip2: Sip2Settings | None = None) -> int:
    """Run one worker until SIGTERM/SIGINT; seed the demo catalogue into an empty ledger.
    `sip2`: the members' own library systems (`[sip2]`), spoken to in SIP2."""
    from hub.worker.service import HubService

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _check_db_url(config.db)
    config.refuse_pepper_in_ledger()  # before the ledger is opened (and seeded)
    registry = _registry()
    ledger = open_ledger(config)
    try:
        if ledger.is_empty():
            _seed(ledger, registry, config.seed_per_member)
    finally:
        ledger.close()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    for warning in _lab_setup_warnings(config) + _sip2_warnings(sip2):
        print(f"hub: warning: {warning}", file=sys.stderr, flush=True)
    service = HubService(config.broker, config.db, registry, config.worker, config=config, sip2=sip2)
    try:
        service.start(wait=None)
    except ValueError as exc:  # [sip2.members] naming a library that is not a member
        raise ConfigError(str(exc)) from None
    warned = not service.wait_subscribed(10.0)
    if warned:
        print(f"hub: waiting for the broker at {config.broker} ...", file=sys.stderr, flush=True)
    print(f"hub worker {config.worker}: broker {config.broker}, ledger {_redact(config.db)}", flush=True)
    told_ready = False  # READY on a parent's pipe, once subscribed (hub/worker/worker_process.py)
    if not warned:
        notify_ready()
        told_ready = True
    try:
        while not stop.wait(1.0):
            if not told_ready and service.wait_subscribed(0):
                notify_ready()
                told_ready = True
            if not service.connected and not warned:
                print(f"hub: waiting for the broker at {config.broker} ...", file=sys.stderr, flush=True)
                warned = True
            elif service.connected:
                warned = False
    finally:
        service.stop()
    print(f"hub worker {config.worker} stopped", flush=True)
    return EXIT_OK


def cmd_retire(config: HubConfig) -> int:
    """Connect as worker `config.worker`, handle what the broker queued for it, then end
    its session: the broker stops handing it a share of the kiosks' messages. For a
    worker removed for good; a worker that only restarts keeps its session."""
    from hub.worker.service import HubService

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = HubService(config.broker, config.db, _registry(), config.worker, config=config)
    try:
        service.start(wait=10.0)
    except TimeoutError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return EXIT_FAILED
    service.retire()
    print(f"hub worker {config.worker} retired: the broker ended its session", flush=True)
    return EXIT_OK


def _seed(ledger: Ledger, registry: Registry, per_member: int) -> None:
    def progress(stage: str, done: int, total: int) -> None:
        print(f"\rseeding the demo catalogue: {stage} {done}/{total}   ", end="", file=sys.stderr, flush=True)

    counts = ledger.seed_demo(registry, progress=progress, per_member=per_member)
    print(
        f"\rseeded the demo catalogue: {counts.items} items, {counts.readers} readers, {counts.holds} holds",
        file=sys.stderr,
        flush=True,
    )


def _redact(url: str) -> str:
    """A database URL for display: no password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url


def cmd_status(
    config: HubConfig, as_json: bool, sip2_systems: Mapping[str, str] | None = None, problems_only: bool = False
) -> int:
    """The fleet, and each member's library system (`[sip2]`): link, how it is protected
    (`sip2_systems`: system -> `hub.sip2.system.protection`), live checkouts waiting
    for their txn, queue, conflicts, last error. The table ends with the fleet's summary
    line; `problems_only` keeps only the kiosks that need attention (1,000 rows are
    more than anyone reads)."""
    protections = dict(sip2_systems or {})
    from hub.cli.fleet import fleet_json, fleet_summary, fleet_table, needs_attention

    missing = missing_ledger(config.db)
    if missing is not None:
        say_no_ledger(missing)
        return EXIT_FAILED
    ledger = open_ledger(config)
    try:
        rows = ledger.fleet()
        links = ledger.ils_links(tuple(protections))
        open_exceptions = len(ledger.staff_exceptions(only_open=True))
    finally:
        ledger.close()
    now = datetime.now(UTC)
    summary = fleet_summary(rows, now)
    if problems_only:
        rows = needs_attention(rows, now)
    if as_json:
        systems = [_link_json(link, protections) for link in links]
        print(json.dumps({"kiosks": fleet_json(rows, now), "sip2_systems": systems, "summary": summary},
                         ensure_ascii=False, indent=2))  # fmt: skip
    else:
        if rows or not problems_only:
            print(fleet_table(rows, now))
        if rows:
            print()
            print(releases_table(rows))
        if links:
            print()
            print(_columns([_link_json(link, protections) for link in links], _LINK_COLUMNS))
        if open_exceptions:
            print(f"\n{open_exceptions} open staff exception(s): python -m hub exceptions --open")
        print(f"\n{summary}")
    return EXIT_OK


_LINK_COLUMNS = ("system", "link", "transport", "live", "queued", "conflicts", "since", "last error")


def _link_json(link: Any, protections: Mapping[str, str]) -> dict[str, Any]:
    """A member's system (hub/ledger/ils_queue.py `LinkRow`) as `hub status` shows it:
    `transport` is how the link is protected (`PLAIN (allow_plain)` stands out), `live`
    the live checkouts waiting for their loan txn (hub/ledger/ils_live.py)."""
    return {
        "system": link.system,
        "link": link.state,
        "transport": protections.get(link.system, "-"),
        "live": link.live,
        "queued": link.queued,
        "conflicts": link.conflicts,
        "since": link.changed_at.isoformat(timespec="seconds") if link.changed_at else "-",
        "last error": (link.last_error or "-")[:120],
    }


def releases_table(rows: Sequence[FleetRow]) -> str:
    """Each kiosk's release and its last update (reported in telemetry), one line each."""
    lines = []
    for r in rows:
        last = r.last_update or {}
        outcome = "-"
        if last:
            outcome = f"{last.get('result', '?')} {last.get('version') or ''} at {last.get('at', '?')}".replace("  ", " ")
            if last.get("result") != "ok" and last.get("reason"):
                outcome += f": {str(last['reason'])[:120]}"
        lines.append({"kiosk": r.kiosk_id, "release": r.firmware or "-", "last update": outcome})
    return _columns(lines, ("kiosk", "release", "last update"))


def cmd_demo(config: HubConfig, as_json: bool, card_number: str | None = None) -> int:
    """Demo readers come from the generator (it is deterministic and the only place their
    PINs exist in clear); their state and the items' states come from the ledger when
    there is one, so a demo after some loans shows what is really on loan. It opens with
    the books `card_number` (default: the first demo card) can borrow at each main demo
    library, by the loan rules (hub/cli/demo_offers.py)."""
    from hub.cli import demo_offers
    from hub.ledger import catalogue

    registry = _registry()
    readers = catalogue.generate_readers(registry)
    try:
        card = demo_offers.pick_card(readers, card_number)
    except demo_offers.UnknownDemoCard as exc:
        raise ConfigError(str(exc)) from None
    ledger: Ledger | None = None
    if missing_ledger(config.db) is None:
        ledger = open_ledger(config)
        if ledger.is_empty():
            ledger.close()
            ledger = None
    states = ("on_shelf", "on_loan", "in_transit", "on_hold")
    try:
        reader_rows = []
        for r in readers:
            state = r.state
            if ledger is not None:
                stored = ledger.reader(r.scheme, r.number)
                state = stored.state if stored is not None else state
            reader_rows.append(
                {"scheme": r.scheme, "number": r.number, "pin": r.pin, "state": state, "name": r.name}
            )
        items: list[Any] = []
        if ledger is not None:
            for state in states:
                items.extend(ledger.items_by_state(state, limit=5))
        else:
            wanted = dict.fromkeys(states, 5)
            for item in catalogue.generate_items(registry, per_member=config.seed_per_member):
                if wanted.get(item.state, 0) > 0:
                    wanted[item.state] -= 1
                    items.append(item)
                if not any(wanted.values()):
                    break
        item_rows = [
            {"barcode": i.barcode, "title": i.title, "home_library": i.home_library, "state": i.state}
            for i in items
        ]
        offers = demo_offers.card_offers(registry, card, ledger, datetime.now(UTC))
    finally:
        if ledger is not None:
            ledger.close()
    source = "ledger" if ledger is not None else "generator"
    if as_json:
        borrowable = demo_offers.offers_json(card, offers)
        print(json.dumps({"source": source, "borrowable": borrowable, "readers": reader_rows, "items": item_rows},
                         ensure_ascii=False, indent=2))  # fmt: skip
        return EXIT_OK
    print(demo_offers.offers_text(card, offers))
    print()
    print(f"Demo readers ({source}):")
    print(_columns(reader_rows, ("scheme", "number", "pin", "state", "name")))
    print()
    print("Demo items (their states; which a card may borrow where: above):")
    print(_columns(item_rows, ("barcode", "title", "home_library", "state")))
    return EXIT_OK


def _columns(rows: list[dict[str, Any]], keys: Sequence[str]) -> str:
    """A table aligned by display width (Chinese takes two columns): hub/cli/table.py."""
    from hub.cli.table import columns

    return columns(rows, keys)

if __name__ == "__main__":
    sys.exit(main())
