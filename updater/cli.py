"""`python -m updater`: the root updater's command line (also `python -m kiosk_tools update`).

    python -m updater --bundle FILE|URL --sha256 HEX [--root DIR]   install, switch, judge
    python -m updater --order FILE [--trust DIR]                    an update the hub signed
    python -m updater --recover [--restart]                         the boot check
    python -m updater release --out FILE                            build a bundle (updater.release)

What a caller may rely on: the exit status is 0 only for `ok` (and for a boot check,
whatever it found); the last line on stdout is the run's result as JSON (when there
was one); progress goes to stderr, one `update: ...` line per step.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

from updater.layout import Layout
from updater.recover import recover
from updater.results import UpdateResult, record_result
from updater.switch import DEFAULT_DEADLINE_S, systemctl_restart, update
from updater.trust import TRUST_DIR, TrustError, load_trust, trust_dir

PROG = "python -m updater"


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Install a release bundle into a new slot, switch to it, roll back if it is not healthy.",
    )
    parser.add_argument(
        "--bundle", metavar="FILE|URL", help="the bundle (python -m kiosk_tools release)"
    )
    parser.add_argument(
        "--sha256", metavar="HEX", help="the bundle's sha256, as release printed it"
    )
    parser.add_argument(
        "--order", metavar="FILE", help="take bundle, sha256 and cmd_id from the kiosk's order file"
    )
    parser.add_argument(
        "--recover", action="store_true",
        help="the boot check: if current was switched to but never judged healthy, go back "
        "to the last healthy release (alliance-kiosk.service runs it before the kiosk)",
    )  # fmt: skip
    parser.add_argument(
        "--restart", action="store_true",
        help="with --recover: restart the kiosk after going back (when it is running)",
    )  # fmt: skip
    parser.add_argument(
        "--root", metavar="DIR", help="a staging root (nothing outside it is touched; no restart)"
    )
    parser.add_argument(
        "--trust", metavar="DIR",
        help="with --order: the root-owned trust directory, for the hub's key, the kiosk id "
        f"and the release directory (default ROOT{TRUST_DIR})",
    )  # fmt: skip
    parser.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE_S, metavar="S",
                        help=f"how long the new release has to become healthy (default {DEFAULT_DEADLINE_S:.0f})")  # fmt: skip
    parser.add_argument(
        "--python",
        metavar="EXE",
        help="the interpreter for the new venv (default: this one's base)",
    )
    return parser


def main(argv: list[str] | None = None, *, prog: str = PROG) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["release"]:
        from updater import release  # a build-time tool: packaging is imported only here

        return release.main(argv[1:])
    parser = _parser(prog)
    args = parser.parse_args(argv)
    cmd_id = None
    root = Path(args.root).resolve() if args.root else Path("/")
    layout = Layout(root)

    def progress(line: str) -> None:
        print(f"update: {line}", file=sys.stderr, flush=True)

    if args.recover:
        with contextlib.suppress(TrustError):  # a release directory of its own, if it names one
            layout = Layout(root, load_trust(trust_dir(root), root=root).release_dir)
        recovered = recover(layout, restart=systemctl_restart(layout, progress) if args.restart else None,
                            progress=progress)  # fmt: skip
        if recovered is not None:
            print(json.dumps(recovered.as_json()))
        return 0
    if args.order:
        from updater.order import OrderRefused, take_order, verified_order  # pydantic: not at boot

        order = take_order(Path(args.order))
        if order is None:
            print(f"update: no valid order at {args.order}", file=sys.stderr)
            return 1
        try:
            trust = load_trust(Path(args.trust) if args.trust else trust_dir(root), root=root)
            layout = Layout(root, trust.release_dir)
            args.bundle, args.sha256, cmd_id = verified_order(order, trust, time.time())
        except (TrustError, OrderRefused) as exc:
            print(f"update: order refused: {exc}", file=sys.stderr)
            said = order.get("cmd_id")  # unverified: only so the hub can tell which order it was
            record_result(layout, UpdateResult(None, "refused", f"order refused: {exc}"[:300],
                                               previous=layout.current_version(),
                                               cmd_id=said if isinstance(said, str) and len(said) <= 64 else None))  # fmt: skip
            return 1
    if not args.bundle or not args.sha256:
        parser.error("--bundle and --sha256 are required (or --order, or --recover)")

    result = update(args.bundle, args.sha256, layout=layout, deadline_s=args.deadline,
                    python=args.python, cmd_id=cmd_id, progress=progress)  # fmt: skip
    print(json.dumps(result.as_json()))
    return 0 if result.result == "ok" else 1
