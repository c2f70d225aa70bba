"""The alliance broker's Mosquitto configuration: TLS only, one identity per certificate.

`write_broker_config(out, pki)` writes `out/mosquitto.conf` and
`out/dynamic-security.json` (the roles, `hub.pki.broker_roles`) and copies
the CA certificate, the broker's certificate and key and the CRL beside them, so that
`mosquitto -c out/mosquitto.conf` runs the secure broker. What it enforces
(docs/security.md has what was measured on Mosquitto 2.0.11):

- one TLS listener, a client certificate from the alliance CA required, checked against
  the CRL; no anonymous clients, no passwords;
- the certificate's CN is the username (`use_identity_as_username`) and the client id
  (`use_username_as_clientid`), so nobody can take over a kiosk's session by client id;
- the roles (`hub.pki.broker_roles`, Mosquitto's dynamic-security plugin): a kiosk writes
  only its own `state, txn, req, telemetry, cmd/result` and subscribes to and reads only
  its own `ack, resp, cmd`; only hub identities read all kiosks' inbound topics (plain
  or through `$share/hub`) and write `ack, resp, cmd`; nothing else is allowed;
- payloads above 16 KiB (the contract's `MAX_PAYLOAD_BYTES`) are refused.

It also writes `out/alliance-broker.service`, the systemd unit that runs this broker
with `LimitNOFILE=BROKER_OPEN_FILES`: Mosquitto holds one file descriptor per connected
client and never raises its own limit, and systemd gives a service a soft limit of
1024, so under Debian's own `mosquitto.service` the broker refuses every connection
past about the 1,015th (its log says "Client connection from ... denied access by
tcpd"; the kiosks retry each second, forever). A fleet of 1,000 kiosks, the hub
workers and the operator's tools sit right at that edge (bench/fleet.py,
docs/pi.md "The alliance broker").

Kiosks enrolled or revoked while the broker runs are admitted or expelled live
(`hub.pki.broker_admin`, `python -m hub enroll|revoke --broker URL`): expelling disconnects
the kiosk at once. The broker reads the CRL at start: after a revocation, write the
configuration again (or copy `crl.pem`) and restart it, so the certificate is refused
at the TLS handshake too.

Started as root, Mosquitto drops to the `mosquitto` user, which must be able to read
these files (all 0600) and write its persistence and log here: when this runs as root
and that user exists, the directory and its files are given to it.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from hub.pki.broker_roles import dynamic_security
from hub.pki.pki import HUB_IDENTITY, hub_worker_names
from hub.pki.pki_files import PkiError, PkiPaths, enrolled_kiosks, read_secret, write_secret

MESSAGE_SIZE_LIMIT = 16384  # contract.messages.MAX_PAYLOAD_BYTES
# Open files the broker may hold: one per connection, plus its listener, log, persistence
# and plugin files. 16 times a fleet of 1,000; systemd's default soft limit is 1024.
BROKER_OPEN_FILES = 16384
UNIT_NAME = "alliance-broker.service"
DEFAULT_TLS_PORT = 8883
_PLUGIN_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/arm-linux-gnueabihf",
    "/usr/lib/mosquitto",
    "/usr/local/lib",
)


@dataclass(frozen=True)
class BrokerFiles:
    """The files `write_broker_config` wrote, and the listener they describe."""

    root: Path
    port: int
    bind: str

    @property
    def conf(self) -> Path:
        return self.root / "mosquitto.conf"

    @property
    def roles(self) -> Path:
        """The dynamic-security plugin's file (`hub.pki.broker_roles`); the broker rewrites
        it when `hub.pki.broker_admin` changes a role while it runs."""
        return self.root / "dynamic-security.json"

    @property
    def ca(self) -> Path:
        return self.root / "ca.crt"

    @property
    def cert(self) -> Path:
        return self.root / "server.crt"

    @property
    def key(self) -> Path:
        return self.root / "server.key"

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    @property
    def unit(self) -> Path:
        """The systemd unit that runs this broker (`unit_text`)."""
        return self.root / UNIT_NAME

    @property
    def log(self) -> Path:
        return self.root / "mosquitto.log"

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "::") else self.bind
        return f"mqtts://{host}:{self.port}"


def find_dynamic_security_plugin() -> Path:
    """The dynamic-security plugin shipped with Mosquitto (Debian: the mosquitto package)."""
    for folder in _PLUGIN_DIRS:
        candidate = Path(folder) / "mosquitto_dynamic_security.so"
        if candidate.exists():
            return candidate
    raise PkiError(
        "mosquitto_dynamic_security.so not found (looked in "
        + ", ".join(_PLUGIN_DIRS)
        + "); it comes with Mosquitto 2 (apt-get install mosquitto)"
    )


def roles_json(pki: Path) -> bytes:
    """The dynamic-security file for the PKI's enrolled, unrevoked kiosks and hub workers."""
    kiosks = [k for k, entry in enrolled_kiosks(pki).items() if entry.get("revoked_at") is None]
    document = dynamic_security(kiosks, hub_worker_names(pki), admin=HUB_IDENTITY)
    return (json.dumps(document, indent=2) + "\n").encode()


def conf_text(files: BrokerFiles) -> str:
    """mosquitto.conf for a TLS-only listener on files.bind:files.port."""
    root = files.root
    return "\n".join(
        [
            "# Generated by `python -m hub broker-config`; do not edit, regenerate.",
            "per_listener_settings false",
            "allow_anonymous false",
            f"plugin {find_dynamic_security_plugin()}",
            f"plugin_opt_config_file {files.roles}",
            f"message_size_limit {MESSAGE_SIZE_LIMIT}",
            "set_tcp_nodelay true",
            "max_queued_messages 100000",
            "max_inflight_messages 100",
            "persistence true",
            f"persistence_location {root}/",
            f"log_dest file {files.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
            "",
            f"listener {files.port} {files.bind}",
            f"cafile {files.ca}",
            f"certfile {files.cert}",
            f"keyfile {files.key}",
            f"crlfile {files.crl}",
            "require_certificate true",
            "use_identity_as_username true",
            "use_username_as_clientid true",
            "",
        ]
    )


def unit_text(files: BrokerFiles, mosquitto: str | None = None) -> str:
    """A systemd unit running `mosquitto -c files.conf` with room for a city's fleet:
    `LimitNOFILE=BROKER_OPEN_FILES` (see the module docstring). Debian's mosquitto is
    built with systemd notification, as its own unit's `Type=notify` says."""
    binary = mosquitto or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return "\n".join(
        [
            "# Generated by `python -m hub broker-config`; do not edit, regenerate.",
            f"# Install: cp {files.unit} /etc/systemd/system/ && systemctl enable --now {UNIT_NAME}",
            "[Unit]",
            "Description=Capital Library Alliance broker (Mosquitto: TLS, client certificates, roles)",
            "After=network-online.target",
            "Wants=network-online.target",
            "",
            "[Service]",
            "Type=notify",
            "NotifyAccess=main",
            f"ExecStart={binary} -c {files.conf}",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "Restart=on-failure",
            "# One file descriptor per connected kiosk: systemd's default soft limit (1024)",
            "# refuses the fleet's 1,015th connection.",
            f"LimitNOFILE={BROKER_OPEN_FILES}",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def write_broker_config(
    out: Path, pki: Path, port: int = DEFAULT_TLS_PORT, bind: str = "127.0.0.1"
) -> BrokerFiles:
    """Write the broker's configuration, ACL and TLS files to `out` (all 0600); see the
    module docstring. PkiError if the PKI is missing or a key is readable by others."""
    paths = PkiPaths(Path(pki))
    files = BrokerFiles(Path(out).resolve(), port, bind)
    write_secret(files.ca, _read_public(paths.ca_cert))
    write_secret(files.cert, _read_public(paths.server_cert))
    write_secret(files.key, read_secret(paths.server_key))
    write_secret(files.crl, _read_public(paths.crl))
    write_secret(files.roles, roles_json(pki))
    write_secret(files.conf, conf_text(files).encode())
    write_secret(files.unit, unit_text(files).encode())
    give_to_broker_user(files.root)
    return files


def refresh_crl(out: Path, pki: Path) -> Path:
    """Copy the PKI's current CRL into a broker directory (then SIGHUP the broker)."""
    target = Path(out) / "crl.pem"
    write_secret(target, _read_public(PkiPaths(Path(pki)).crl))
    give_to_broker_user(Path(out))
    return target


def _read_public(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PkiError(f"{path}: no such file (run `python -m hub pki init` first?)") from None


def give_to_broker_user(root: Path, user: str = "mosquitto") -> None:
    """As root, hand `root` and its files to `user` (the broker drops to it and must read
    its 0600 files); otherwise the broker runs as us and nothing needs doing."""
    if os.geteuid() != 0:
        return
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return
    for parent in root.resolve().parents:
        st = parent.stat()
        if st.st_uid != uid and not st.st_mode & stat.S_IXOTH:
            raise PkiError(
                f"{root}: the broker runs as user {user} and cannot reach it, because "
                f"{parent} is mode {stat.S_IMODE(st.st_mode):04o}; choose a directory "
                f"{user} can reach (e.g. under /var/lib/alliance) or chmod o+x {parent}"
            )
    shutil.chown(root, user=user, group=None)
    for path in root.iterdir():
        if path.is_file():
            shutil.chown(path, user=user)
