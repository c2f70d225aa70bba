"""`python -m hub pki init|crl`, `broker-config`, `enroll`, `revoke`: the alliance PKI and
the secure broker from the command line (hub/pki/pki.py, hub/pki/broker_config.py).

Each prints one progress line per step it completes, and an error as one `hub: ...`
line. Exit codes as `python -m hub`: 0 done, 2 misuse or a PKI problem (a bad kiosk or
library id, no CA yet, a CA already there, a key others can read).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from contract.broker_url import parse_broker_url
from hub.pki.pki_files import DEFAULT_PKI_DIR, PkiError

COMMANDS = ("pki", "broker-config", "enroll", "revoke")
EXIT_OK, EXIT_MISUSE = 0, 2
DEFAULT_KIOSK_BROKER = "mqtts://127.0.0.1:8883"


def add_parsers(subs: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to `python -m hub`'s subparsers."""
    pki_dir = argparse.ArgumentParser(add_help=False)
    pki_dir.add_argument(
        "--pki", "--dir", dest="pki", metavar="D", type=Path, default=DEFAULT_PKI_DIR,
        help=f"the PKI directory (default {DEFAULT_PKI_DIR})",
    )  # fmt: skip

    # enroll and revoke act on a running alliance: the PKI and the broker default to the
    # operator config's (`pki_dir`, `broker`: make run's var/lab/hub.toml, hub/cli/operator_config.py).
    on_alliance = argparse.ArgumentParser(add_help=False)
    on_alliance.add_argument(
        "--pki", "--dir", dest="pki", metavar="D", type=Path, default=None,
        help=f"the PKI directory (default: the hub config's pki_dir, else {DEFAULT_PKI_DIR})",
    )  # fmt: skip
    on_alliance.add_argument(
        "--config", metavar="F", default=argparse.SUPPRESS,
        help="hub settings whose pki_dir and broker to use (default: as python -m hub status)",
    )  # fmt: skip

    pki = subs.add_parser("pki", help="the alliance CA: init, or re-sign the CRL")
    pki_subs = pki.add_subparsers(
        dest="pki_command", metavar="{init,crl,signing-key,pin-pepper}", required=True
    )
    init = pki_subs.add_parser(
        "init", parents=[pki_dir], help="create the CA, the hub's and the broker's certificates"
    )
    init.add_argument(
        "--host", action="append", default=[], metavar="H",
        help="another name or address of the broker for its certificate (repeatable); "
        "127.0.0.1 and localhost are always in it",
    )  # fmt: skip
    pki_subs.add_parser("crl", parents=[pki_dir], help="sign the CRL again (it is valid one year)")
    pki_subs.add_parser(
        "signing-key", parents=[pki_dir],
        help="add the hub's message signing key to a PKI made before it existed",
    )  # fmt: skip
    pki_subs.add_parser(
        "pin-pepper", parents=[pki_dir],
        help="add the PIN pepper file ([hub] pin_pepper_file) to a PKI made before it existed",
    )  # fmt: skip

    conf = subs.add_parser(
        "broker-config", parents=[pki_dir], help="write a TLS-only Mosquitto configuration"
    )
    conf.add_argument("--out", required=True, type=Path, metavar="DIR", help="where to write it")
    conf.add_argument("--port", type=int, default=8883, metavar="N", help="TLS port (default 8883)")
    conf.add_argument(
        "--bind",
        default="127.0.0.1",
        metavar="ADDR",
        help="address to listen on (default 127.0.0.1)",
    )

    enroll = subs.add_parser(
        "enroll", parents=[on_alliance], help="issue a kiosk's certificate and its kiosk.toml"
    )
    enroll.add_argument("kiosk_id", metavar="KIOSK_ID")
    enroll.add_argument(
        "--library", required=True, metavar="LIB", help="the member library it stands in"
    )
    enroll.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="the kiosk's bundle directory"
    )
    enroll.add_argument(
        "--csr", type=Path, metavar="FILE",
        help="the kiosk's certificate request (python -m kiosk_tools keygen on the kiosk): "
        "its key stays there and only the certificate is issued",
    )  # fmt: skip
    enroll.add_argument(
        "--kiosk-dir", type=Path, metavar="PATH",
        help="where the bundle will be on the kiosk, for the paths in kiosk.toml "
        "(default: --out; with --csr, the kiosk's keygen directory)",
    )  # fmt: skip
    enroll.add_argument(
        "--broker", dest="kiosk_broker", default=None, metavar="URL",
        help="the broker the kiosk uses, mqtts:// only (default: the hub config's broker, "
        f"else {DEFAULT_KIOSK_BROKER})",
    )  # fmt: skip

    revoke = subs.add_parser(
        "revoke", parents=[on_alliance], help="revoke a kiosk's certificate (CRL updated)"
    )
    revoke.add_argument("kiosk_id", metavar="KIOSK_ID")
    revoke.add_argument(
        "--broker", dest="expel_from", metavar="URL",
        help="the running broker (mqtts://HOST:PORT): disconnect the kiosk there now "
        "(default: the hub config's broker, when a config is found)",
    )  # fmt: skip
    revoke.add_argument(
        "--broker-dir", type=Path, metavar="DIR",
        help="a broker-config directory to copy the new CRL into",
    )  # fmt: skip


def _alliance_defaults(args: argparse.Namespace) -> None:
    """enroll/revoke: `--pki` and the broker from the hub config (`args.config`, found as
    for any operator command) when not given; the built-in defaults without a config."""
    from hub.config import load_config

    config = load_config(args.config) if getattr(args, "config", None) else None
    if args.pki is None:
        args.pki = config.pki_dir if config is not None and config.pki_dir is not None else DEFAULT_PKI_DIR
    tls_broker = config.broker if config is not None and config.broker_address.tls else None
    if args.command == "enroll" and args.kiosk_broker is None:
        args.kiosk_broker = tls_broker or DEFAULT_KIOSK_BROKER
    if args.command == "revoke" and args.expel_from is None:
        args.expel_from = tls_broker


def run(args: argparse.Namespace) -> int:
    """Run the subcommand in `args.command` (one of COMMANDS)."""
    from contract.settings import ConfigError

    try:
        if args.command in ("enroll", "revoke"):
            _alliance_defaults(args)
    except ConfigError as exc:
        print("\n".join(f"hub: {line}" for line in str(exc).splitlines()), file=sys.stderr)
        return EXIT_MISUSE
    try:
        if args.command == "pki":
            return cmd_pki(args)
        if args.command == "broker-config":
            return cmd_broker_config(args)
        if args.command == "enroll":
            return cmd_enroll(args)
        return cmd_revoke(args)
    except PkiError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return EXIT_MISUSE


def cmd_pki(args: argparse.Namespace) -> int:
    from hub.pki.pki import init_pki, write_crl, write_pin_pepper, write_signing_key
    from hub.pki.pki_files import PkiPaths

    if args.pki_command == "pin-pepper":
        path = write_pin_pepper(PkiPaths(args.pki))
        print(f"PIN pepper: {path} (0600; set [hub] pin_pepper_file to it)")
        return EXIT_OK
    if args.pki_command == "signing-key":
        paths = PkiPaths(args.pki)
        write_signing_key(paths)
        print(f"hub signing key: {paths.hub_signing_key} (public: {paths.hub_signing_pub})")
        print("set [hub] signing_key to it; enrol kiosks again to give them the public key")
        return EXIT_OK
    if args.pki_command == "crl":
        path = write_crl(PkiPaths(args.pki))
        print(f"CRL signed again: {path} (copy it to the broker and kill -HUP it)")
        return EXIT_OK
    paths = init_pki(args.pki, server_hosts=args.host)
    print(f"CA created: {paths.ca_cert} (its key {paths.ca_key}: keep it offline if you can)")
    print(f"hub certificate (CN hub): {paths.hub_cert}")
    print(f"broker certificate: {paths.server_cert}")
    print(f"CRL and kiosk table: {paths.crl}, {paths.kiosks}")
    print(f"hub signing key: {paths.hub_signing_key} (set [hub] signing_key to it)")
    print(f"PIN pepper: {paths.pin_pepper} (set [hub] pin_pepper_file to it; keep it out of ledger backups)")
    return EXIT_OK


def cmd_broker_config(args: argparse.Namespace) -> int:
    from hub.pki.broker_config import write_broker_config

    if not 0 < args.port < 65536:
        print(f"hub: --port {args.port} is not a TCP port", file=sys.stderr)
        return EXIT_MISUSE
    files = write_broker_config(args.out, args.pki, port=args.port, bind=args.bind)
    print(f"broker configuration written: {files.conf} (roles {files.roles})")
    print(f"run it: mosquitto -c {files.conf}   (TLS only, {files.url})")
    return EXIT_OK


def cmd_enroll(args: argparse.Namespace) -> int:
    from hub.pki.kiosk_certs import check_kiosk_id, enroll_kiosk
    from hub.pki.pki_files import PkiPaths, read_secret, write_secret
    from hub.rules.registry import RegistryError, load_registry

    check_kiosk_id(args.kiosk_id)
    try:
        address = parse_broker_url(args.kiosk_broker)
    except ValueError as exc:
        print(f"hub: --broker: {exc}", file=sys.stderr)
        return EXIT_MISUSE
    if not address.tls:
        print(
            f"hub: --broker: {args.kiosk_broker!r} must be mqtts://: the kiosk logs in with its certificate",
            file=sys.stderr,
        )
        return EXIT_MISUSE
    try:
        registry = load_registry()
    except RegistryError as exc:
        print(f"hub: member registry: {exc}", file=sys.stderr)
        return EXIT_MISUSE
    if args.library not in registry.members:
        print(f"hub: --library {args.library!r} is not an alliance member", file=sys.stderr)
        return EXIT_MISUSE
    out = args.out.resolve()
    try:
        csr_pem = args.csr.read_bytes() if args.csr is not None else None
    except OSError as exc:
        print(f"hub: --csr: cannot read {args.csr}: {exc.strerror}", file=sys.stderr)
        return EXIT_MISUSE
    if csr_pem is not None and args.kiosk_dir is None:
        print("hub: --csr needs --kiosk-dir: where the kiosk keeps its key (its keygen --out)", file=sys.stderr)
        return EXIT_MISUSE
    on_kiosk = (args.kiosk_dir or out).resolve()
    bundle = enroll_kiosk(args.pki, args.kiosk_id, args.library, out, csr_pem)
    print(f"kiosk {bundle.kiosk_id} enrolled for {bundle.library_id} (serial {bundle.serial:x})")
    if csr_pem is None:
        print(f"key, certificate and CA: {bundle.key}, {bundle.cert}, {bundle.ca}")
    else:
        print(f"certificate and CA: {bundle.cert}, {bundle.ca} (the key stays on the kiosk)")
    signing_pub = PkiPaths(args.pki).hub_signing_pub
    hub_pub: Path | None = None
    if signing_pub.exists():
        hub_pub = out / signing_pub.name
        write_secret(hub_pub, read_secret(signing_pub))
        print(f"hub public key (the kiosk acts only on messages it signs): {hub_pub}")
    else:
        print(
            f"hub: warning: no {signing_pub}: the kiosk will not verify the hub's messages "
            "(python -m hub pki signing-key, then enrol again)",
            file=sys.stderr,
        )
    config = out / "kiosk.toml"
    write_secret(
        config,
        kiosk_toml(
            bundle.kiosk_id, bundle.library_id, address.url,
            on_kiosk / bundle.ca.name, on_kiosk / bundle.cert.name, on_kiosk / bundle.key.name,
            hub_public_key=on_kiosk / hub_pub.name if hub_pub is not None else None,
        ).encode(),
    )  # fmt: skip
    print(f"kiosk configuration: {config}")
    print(f"on the kiosk: python -m kiosk_tools --config {on_kiosk / config.name}")
    _tell_broker(args.pki, address.url, "admit_kiosk", bundle.kiosk_id)
    return EXIT_OK


def _tell_broker(pki: Path, url: str, action: str, kiosk_id: str) -> None:
    """Admit or expel a kiosk on the running broker at `url`; when none answers there,
    say how the broker will learn of it (its configuration written again)."""
    from hub.pki.broker_admin import BrokerAdmin, BrokerAdminError, port_answers
    from hub.pki.pki import hub_admin_identity

    address = parse_broker_url(url)
    if not port_answers(address.host, address.port):
        print(
            f"no broker answers at {address.url}: write its configuration again "
            "(python -m hub broker-config) before it next starts"
        )
        return
    try:
        with BrokerAdmin(address.url, hub_admin_identity(pki)) as admin:
            getattr(admin, action)(kiosk_id)
    except BrokerAdminError as exc:
        print(f"hub: warning: the broker was not told: {exc}", file=sys.stderr)
        return
    done = "admitted" if action == "admit_kiosk" else "expelled (disconnected now)"
    print(f"broker at {address.url}: kiosk {kiosk_id} {done}")


def kiosk_toml(
    kiosk_id: str,
    library_id: str,
    broker: str,
    ca: Path,
    cert: Path,
    key: Path,
    hub_public_key: Path | None = None,
) -> str:
    """The kiosk.toml `enroll` writes: identity, broker, the hub's public key (the kiosk
    then ignores any ack, answer or command the hub did not sign) and TLS files; every
    other key keeps the firmware's default (firmware/kiosk.toml documents them)."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"# Written by `python -m hub enroll {kiosk_id} --library {library_id}` on {when}.",
            "# Add the device ports, journal path and other keys as in firmware/kiosk.toml.",
            "",
            "[kiosk]",
            f'id = "{kiosk_id}"',
            f'library_id = "{library_id}"',
            "",
            "[hub]",
            f'broker = "{broker}"',
            *([f'hub_public_key = "{hub_public_key}"'] if hub_public_key is not None else []),
            "",
            "[hub.tls]",
            f'ca = "{ca}"',
            f'cert = "{cert}"',
            f'key = "{key}"',
            "",
        ]
    )


def cmd_revoke(args: argparse.Namespace) -> int:
    from hub.pki.broker_config import refresh_crl
    from hub.pki.kiosk_certs import revoke_kiosk
    from hub.pki.pki_files import PkiPaths

    serial = revoke_kiosk(args.pki, args.kiosk_id)
    print(
        f"kiosk {args.kiosk_id} revoked (serial {serial:x}); CRL written: {PkiPaths(args.pki).crl}"
    )
    if args.expel_from is not None:
        _tell_broker(args.pki, args.expel_from, "expel_kiosk", args.kiosk_id)
    else:
        print("the running broker was not told: pass --broker mqtts://HOST:PORT to disconnect it now")
    if args.broker_dir is not None:
        print(f"CRL copied to the broker: {refresh_crl(args.broker_dir, args.pki)}")
    else:
        print("copy it to the broker's directory (or pass --broker-dir DIR)")
    print("the broker reads the CRL at start: restart it (or kill -HUP $(pidof mosquitto))")
    return EXIT_OK
