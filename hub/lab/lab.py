"""A secure alliance on one machine: the PKI, its TLS broker, enrolled kiosks and hub
workers, for `make run`, the tests and the bench, so the path users run is the path
that is tested (issue 10 item 7, docs/security.md).

`Lab(root)` keeps everything under `root` (`var/lab` for `make run`): `pki/` (the CA,
`python -m hub pki init`), `kiosks/ID/` (each kiosk's enrolment bundle) and
`hub-WORKER.toml` (a worker's settings: its certificate, the signing key, the PIN
pepper file `pki/pin-pepper` that every worker of the lab shares, the PKI for the
enrolment check). A kiosk or worker is enrolled on first use and admitted to every
broker this lab started, while it runs; one enrolled for another library is revoked,
expelled and enrolled again, as a technician would move a kiosk.

`hub.toml` (`operator_config`) is the operator's: the broker, the ledger, the `hub` tool
identity and the PKI, which `python -m hub status|command|exceptions|enroll|revoke|
sip2-check` and scenario plays find by default (hub/cli/operator_config.py). A process that
did not start the broker (a scenario play) enrols its kiosks with `kiosk_on_broker`,
which tells the running broker through its admin interface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from hub.lab.broker_process import TlsMosquittoProcess
from hub.pki.kiosk_certs import (
    EnrolmentRequest,
    KioskBundle,
    enroll_kiosk,
    enroll_kiosks,
    revoke_kiosk,
)
from hub.pki.pki import (
    ClientIdentity,
    hub_admin_identity,
    hub_worker_identity,
    init_pki,
    server_identity,
    write_pin_pepper,
)
from hub.pki.pki_files import PkiPaths, enrolled_kiosks, write_secret

# What the kiosk CLI's `--identity DIR` reads from an enrolment bundle (firmware side).
BUNDLE_FILES = ("ca.crt", "kiosk.crt", "kiosk.key", "hub-signing.pub")


class Lab:
    """The PKI under `root`, created on first use, and the brokers started from it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._brokers: list[TlsMosquittoProcess] = []

    @property
    def pki(self) -> PkiPaths:
        paths = PkiPaths(self.root / "pki")
        if not paths.ca_cert.exists():
            init_pki(paths.root)
        return paths

    @property
    def pin_pepper(self) -> Path:
        """The lab's PIN pepper file (0600, `[hub] pin_pepper_file`), written with the PKI;
        made now for a lab whose PKI predates it."""
        paths = self.pki
        if not paths.pin_pepper.exists():
            write_pin_pepper(paths)
        return paths.pin_pepper

    def broker(self, port: int = 0, workdir: Path | None = None) -> TlsMosquittoProcess:
        """A TLS broker on this lab's PKI (not started), told of kiosks enrolled later."""
        broker = TlsMosquittoProcess(port=port, workdir=workdir, pki=self.pki.root)
        self._brokers.append(broker)
        return broker

    def kiosk(self, kiosk_id: str, library_id: str = "capital") -> KioskBundle:
        """Kiosk `kiosk_id`'s enrolment bundle for `library_id`, enrolled if need be."""
        folder = self.root / "kiosks" / kiosk_id
        known = enrolled_kiosks(self.pki.root).get(kiosk_id)
        current = known is not None and known.get("revoked_at") is None
        if current and known["library_id"] == library_id and (folder / "kiosk.crt").exists():
            return self._bundle(kiosk_id, library_id, folder, int(known["serial"]))
        if current:
            revoke_kiosk(self.pki.root, kiosk_id)
            self._each_running_broker(lambda b: b.expel(kiosk_id))
        bundle = enroll_kiosk(self.pki.root, kiosk_id, library_id, folder)
        write_secret(folder / "hub-signing.pub", self.pki.hub_signing_pub.read_bytes())
        self._each_running_broker(lambda b: b.admit(kiosk_id))
        return bundle

    def kiosks(self, kiosk_ids: Sequence[str], library_id: str | Sequence[str] = "capital") -> list[KioskBundle]:
        """`kiosk` for many kiosks (a fleet): those not yet enrolled here are enrolled in
        one batch (`enroll_kiosks`: one write of `kiosks.json`, not one per kiosk) and
        admitted to each running broker over one admin connection. `library_id`: one for
        all, or one per kiosk. A kiosk enrolled for another library goes through `kiosk`."""
        libraries = [library_id] * len(kiosk_ids) if isinstance(library_id, str) else list(library_id)
        known = enrolled_kiosks(self.pki.root)
        signing_pub = self.pki.hub_signing_pub.read_bytes()
        bundles: dict[str, KioskBundle] = {}
        fresh: list[EnrolmentRequest] = []
        for kiosk_id, library in zip(kiosk_ids, libraries, strict=True):
            entry = known.get(kiosk_id)
            folder = self.root / "kiosks" / kiosk_id
            if entry is None:
                fresh.append(EnrolmentRequest(kiosk_id, library, folder))
            elif entry.get("revoked_at") is None and entry["library_id"] == library and (folder / "kiosk.crt").exists():
                bundles[kiosk_id] = self._bundle(kiosk_id, library, folder, int(entry["serial"]))
            else:
                bundles[kiosk_id] = self.kiosk(kiosk_id, library)
        for bundle in enroll_kiosks(self.pki.root, fresh):
            write_secret(bundle.key.parent / "hub-signing.pub", signing_pub)
            bundles[bundle.kiosk_id] = bundle
        admitted = [r.kiosk_id for r in fresh]
        if admitted:
            self._each_running_broker(lambda b: b.admit_all(admitted))
        return [bundles[k] for k in kiosk_ids]

    def hub_worker(self, worker: str = "1") -> ClientIdentity:
        """Hub worker `worker`'s identity, issued and admitted if need be."""
        new = not (self.pki.workers / worker / "hub.crt").exists()
        identity = hub_worker_identity(self.pki.root, worker)
        if new:
            self._each_running_broker(lambda b: b.admit_hub_worker(identity.name))
        return identity

    def hub_config(self, worker: str = "1", tables: str = "", **settings: object) -> Path:
        """`hub-WORKER.toml`: the worker's TLS identity, the signing key, the PKI (so
        only enrolled kiosks are served), any other `[hub]` settings given, and `tables`
        (more TOML, e.g. the `[sip2]` tables of members' own systems) at the end."""
        identity = self.hub_worker(worker)
        values: dict[str, object] = {
            "worker": worker,
            "signing_key": str(self.pki.hub_signing_key),
            "pin_pepper_file": str(self.pin_pepper),
            "pki_dir": str(self.pki.root),
            **settings,
        }
        lines = ["[hub]", *(f"{key} = {_toml(value)}" for key, value in values.items())]
        lines += [
            "",
            "[hub.tls]",
            f"ca = {_toml(str(identity.ca))}",
            f"cert = {_toml(str(identity.cert))}",
            f"key = {_toml(str(identity.key))}",
        ]
        path = self.root / f"hub-{worker}.toml"
        write_secret(path, ("\n".join(lines) + "\n\n" + tables).encode())
        return path

    def ils_server(self, system: str = "east") -> ClientIdentity:
        """The TLS identity of a member's SIP2 system in this lab (`ils/SYSTEM/`, issued
        by the lab CA): the ILS simulator serves with its `cert` and `key`, the hub's
        `[sip2.systems.SYSTEM] tls_ca` is its `ca`."""
        return server_identity(self.pki.root, f"ils-{system}", self.root / "ils" / system)

    def kiosk_on_broker(self, kiosk_id: str, library_id: str, broker_url: str) -> KioskBundle:
        """As `kiosk`, for a broker this `Lab` object did not start (the one `make run`
        runs, found through the operator config): the broker at `broker_url` is told
        through its admin interface, as `hub enroll` does, every time (admitting a kiosk
        it knows changes nothing), so an admission that failed once is made up for.
        Raises hub.pki.broker_admin.BrokerAdminError when that broker does not answer."""
        from hub.pki.broker_admin import BrokerAdmin

        before = enrolled_kiosks(self.pki.root).get(kiosk_id)
        bundle = self.kiosk(kiosk_id, library_id)
        moved = before is not None and before.get("revoked_at") is None and before != enrolled_kiosks(self.pki.root).get(kiosk_id)
        with BrokerAdmin(broker_url, hub_admin_identity(self.pki.root)) as admin:
            if moved:
                admin.expel_kiosk(kiosk_id)
            admin.admit_kiosk(kiosk_id)
        return bundle

    def operator_config(self, broker_url: str, db_url: str, tables: str = "") -> Path:
        """`hub.toml`: what an operator's commands need of this lab (the broker, the
        ledger, the signing key for commands, the PKI with the `hub` tool identity, and
        `tables`, e.g. the members' `[sip2]` systems). Found by default from the
        directory above `var/` (hub/cli/operator_config.py)."""
        admin = hub_admin_identity(self.pki.root)
        values = {
            "broker": broker_url,
            "db": db_url,
            "signing_key": str(self.pki.hub_signing_key),
            "pki_dir": str(self.pki.root),
            "pin_pepper_file": str(self.pin_pepper),
        }
        lines = [
            "# The operator's settings for the lab `make run` started: python -m hub status,",
            "# command, exceptions, enroll, revoke, sip2-check and scenario plays read it by",
            "# default (hub/cli/operator_config.py). Written again at every `make run`.",
            "[hub]",
            *(f"{key} = {_toml(value)}" for key, value in values.items()),
            "",
            "[hub.tls]                 # the operator's identity: CN hub, the broker-admin role",
            f"ca = {_toml(str(admin.ca))}",
            f"cert = {_toml(str(admin.cert))}",
            f"key = {_toml(str(admin.key))}",
        ]
        path = self.root / "hub.toml"
        write_secret(path, ("\n".join(lines) + "\n\n" + tables).encode())
        return path

    def close(self) -> None:
        for broker in self._brokers:
            broker.close()
        self._brokers.clear()

    def _each_running_broker(self, action: Callable[[TlsMosquittoProcess], None]) -> None:
        for broker in self._brokers:
            if broker.running:
                action(broker)

    @staticmethod
    def _bundle(kiosk_id: str, library_id: str, folder: Path, serial: int) -> KioskBundle:
        return KioskBundle(
            kiosk_id, library_id, folder / "kiosk.key", folder / "kiosk.crt", folder / "ca.crt", serial
        )


def _toml(value: object) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def demo_sip2_tables(port: int, password_file: Path, tls_ca: Path, encoding: str = "gb18030", **sip2: int) -> str:
    """The `[sip2]` tables of the demo alliance: Dongcheng keeps its own system, `east`
    (the ILS simulator, `python -m ils_sim`, on 127.0.0.1:`port`, over TLS with a
    certificate of the CA `tls_ca`: `Lab.ils_server`), which lends to National Library,
    university and other districts' joint cards as guest patrons (docs/sip2.md).
    `sip2`: `[sip2]` keys such as `live_checkout_grace_s`."""
    top = "".join(f"{key} = {int(value)}\n" for key, value in sip2.items())
    return f"""\
[sip2]
{top}
[sip2.systems.east]
host = "127.0.0.1"
port = {int(port)}
user = "alliance"
password_file = {_toml(str(password_file))}
institution = "capital"
location = "alliance-kiosks"
encoding = {_toml(encoding)}
tls = true
tls_ca = {_toml(str(tls_ca))}
timeout_s = 2.0
guest_patrons = {{ nlc = "GUEST-NLC", univ-public = "GUEST-UNIV", bj-joint = "GUEST-JOINT" }}

[sip2.members]
dongcheng = "east"
"""
