"""Command line: `python -m kiosk_tools [...]` runs the kiosk; `python -m kiosk_tools diag` tests it;
`release` builds an update bundle and `update` installs one: both hand over to the updater,
a program of its own (updater.release, updater.cli; `python -m updater` is its root entry)."""

from __future__ import annotations

import argparse
import sys


def _diag_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kiosk_tools diag", description="Self-test of every kiosk device."
    )
    parser.add_argument("--sim", action="store_true", help="test the simulated hardware")
    parser.add_argument("--sim-fault", metavar="NAME", help="inject a simulated fault first")
    parser.add_argument("--json", action="store_true", help="print JSON (docs/commands.md shape)")
    parser.add_argument(
        "--config", metavar="FILE", help="kiosk TOML config (with --sim: the pins the simulator is wired to)"
    )
    return parser


def _kiosk_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kiosk_tools",
        description="The alliance kiosk. `python -m kiosk_tools diag --help` for the self-test; "
        "`release --help` and `update --help` for update bundles.",
    )
    parser.add_argument("--config", metavar="FILE", help="kiosk TOML config")
    parser.add_argument("--broker", metavar="URL", help="hub broker, e.g. mqtt://127.0.0.1:1883")
    parser.add_argument(
        "--identity", metavar="DIR",
        help="the kiosk's enrolment bundle (python -m hub enroll --out DIR): certificate, key, CA, hub key",
    )  # fmt: skip
    parser.add_argument("--kiosk-id", metavar="ID")
    parser.add_argument("--library", metavar="ID", help="member library id, e.g. xicheng")
    parser.add_argument("--sim", action="store_true", help="simulated hardware")
    parser.add_argument("--headless", action="store_true", help="no touchscreen window")
    parser.add_argument(
        "--keys", action="store_true", help="the --headless --sim console prints message keys, not the reader's words"
    )
    parser.add_argument("--fullscreen", action="store_true", help="the touchscreen window fills the panel")
    parser.add_argument("--script", metavar="FILE", help="play a scenario script and exit")
    # Used by the scenario runner for its child kiosk process.
    parser.add_argument("--control-stdio", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--journal", metavar="FILE", help=argparse.SUPPRESS)
    # With --script on a TLS broker: the ledger probe's enrolment bundle (kiosk ID-probe).
    parser.add_argument("--probe-identity", metavar="DIR", help=argparse.SUPPRESS)
    return parser


def _keygen(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kiosk_tools keygen",
        description="Make this kiosk's TLS key (kept here, 0600) and a certificate request "
        "for `python -m hub enroll KIOSK_ID --library LIB --csr FILE`.",
    )
    parser.add_argument("--kiosk-id", required=True, metavar="ID")
    parser.add_argument("--out", required=True, metavar="DIR", help="where the key and request go")
    args = parser.parse_args(argv)
    import re
    from pathlib import Path

    from contract.messages import KioskId
    from firmware.identity_keys import KeygenError, generate_identity

    if not re.fullmatch(KioskId.__metadata__[0].pattern, args.kiosk_id):
        print(f"--kiosk-id {args.kiosk_id!r} is not a kiosk id (a-z 0-9 _ -)", file=sys.stderr)
        return 2
    try:
        made = generate_identity(Path(args.out), args.kiosk_id)
    except KeygenError as exc:
        print(f"keygen: {exc}", file=sys.stderr)
        return 1
    print(f"key (stays on this kiosk): {made.key}")
    print(f"certificate request: {made.csr}")
    print(
        f"on the hub: python -m hub enroll {args.kiosk_id} --library LIB --csr kiosk.csr "
        f"--kiosk-dir {Path(args.out).resolve()} --out DIR; copy DIR's files here"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keygen"]:
        return _keygen(argv[1:])
    if argv[:1] == ["release"]:
        from updater import release

        return release.main(argv[1:])
    if argv[:1] == ["update"]:
        from updater import cli as updater_cli

        return updater_cli.main(argv[1:], prog="python -m kiosk_tools update")
    if argv[:1] == ["diag"]:
        args = _diag_parser().parse_args(argv[1:])
        if args.sim or args.sim_fault:
            from pathlib import Path

            from firmware.config import ConfigError, load_config
            from hal_sim.rig import SIM_FAULTS
            from kiosk_tools.simulated import diag_sim

            if args.sim_fault and args.sim_fault not in SIM_FAULTS:
                print(
                    f"unknown --sim-fault {args.sim_fault!r}; known: {', '.join(SIM_FAULTS)}",
                    file=sys.stderr,
                )
                return 2
            try:
                config = load_config(Path(args.config) if args.config else None)
            except ConfigError as exc:
                print(f"configuration error:\n{exc}", file=sys.stderr)
                return 2
            return diag_sim(args.sim_fault, as_json=args.json, config=config)
        from firmware.hardware import diag_hardware

        return diag_hardware(args.config, as_json=args.json)
    args = _kiosk_parser().parse_args(argv)
    from kiosk_tools.app import run_kiosk

    return run_kiosk(args)


if __name__ == "__main__":
    sys.exit(main())
