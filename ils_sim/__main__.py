"""`python -m ils_sim`: serve a simulated ILS until SIGTERM or SIGINT.

    python -m ils_sim --port 6001 --data ils_sim/data/dongcheng.toml --encoding gb18030 \\
        --journal var/ils.jsonl --state var/ils-state.json --tls-cert C --tls-key K

Serves TLS with --tls-cert and --tls-key (what a hub expects by default), else plain
TCP, and says which on its ready line. The journal and state files are created 0600
(they hold full patron numbers).

Prints `ils_sim: listening on 127.0.0.1:PORT (tls|plain)` on stdout (flushed) once the port is open,
so a parent process can wait for that line. Exits 0 on SIGTERM/SIGINT, 2 on bad
arguments or data. Restarting on the same --state and --journal keeps the loans and
continues the journal.
"""

from __future__ import annotations

import argparse
import logging
import signal
import ssl
import sys
from pathlib import Path

import anyio

from ils_sim.circulation import Circulation
from ils_sim.journal import Journal
from ils_sim.library import LibraryDataError, load_library
from ils_sim.server import SUPPORTED_ENCODINGS, build_server, server_tls, serving

DEFAULT_DATA = Path(__file__).parent / "data" / "dongcheng.toml"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ils_sim", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6001, help="0 = any free port")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="library TOML/JSON file")
    p.add_argument("--encoding", choices=SUPPORTED_ENCODINGS, default="utf-8")
    p.add_argument("--journal", type=Path, help="append one JSON line per handled request")
    p.add_argument("--state", type=Path, help="JSON file keeping loans across restarts")
    p.add_argument(
        "--password-file", type=Path,
        help="login password (first line), overriding the data file's [login] password",
    )  # fmt: skip
    p.add_argument("--tls-cert", type=Path, help="serve TLS with this certificate (PEM)")
    p.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    p.add_argument("--no-login", action="store_true", help="do not require 93 first")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    library = load_library(args.data)
    if args.password_file is not None:
        lines = args.password_file.read_text(encoding="utf-8").splitlines()
        library.login_password = lines[0].strip() if lines else ""
    circulation = Circulation(library, state_file=args.state)
    journal = Journal(args.journal)
    app = build_server(
        circulation, journal, encoding=args.encoding,
        login_required=False if args.no_login else None,
    )  # fmt: skip
    tls = server_tls(args.tls_cert, args.tls_key) if args.tls_cert else None
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with serving(app, args.host, args.port, tls) as port:
            print(f"ils_sim: listening on {args.host}:{port} ({'tls' if tls else 'plain'})", flush=True)
            async for _ in signals:
                break


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        print("ils_sim: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="ils_sim %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        anyio.run(_serve, args)
    except (LibraryDataError, OSError, LookupError, ssl.SSLError) as exc:
        print(f"ils_sim: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
