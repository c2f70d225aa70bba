"""Where a scenario play finds its broker and kiosk when the command line names neither.

`python -m kiosk_tools --sim --headless --script FILE`, with no `--broker`, no `--identity`
and no TLS files in `--config`, plays against the hub settings an operator command would
read (hub/cli/operator_config.py: `$ALLIANCE_HUB_CONFIG`, else `./var/lab/hub.toml` that
`make run` leaves): its broker, and on a TLS broker a kiosk `scenario-LIBRARY` (or
`--kiosk-id`) and its ledger probe `ID-probe`, enrolled in that lab for the scenario's
library on first use and admitted to the running broker (`hub.lab.lab.Lab.kiosk_on_broker`).

Kiosks are enrolled only in a lab (a settings file with its `pki/` beside it, as
`make run` writes it): against any other alliance a scenario names its kiosk's bundle
with `--identity DIR`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contract.settings import ConfigError
from kiosk_tools.ledger_probe import probe_id

SCENARIO_KIOSK_PREFIX = "scenario-"


@dataclass(frozen=True)
class ScenarioTarget:
    """The broker and the kiosk identity a scenario plays with."""

    config: str  # the hub settings file they came from
    broker_url: str
    kiosk_id: str
    identity: Path | None  # the kiosk's enrolment bundle (None on a plain broker)
    probe_identity: Path | None


def scenario_kiosk_id(library_id: str) -> str:
    """The lab kiosk a scenario at `library_id` plays as (one per library, since an
    enrolment names its library)."""
    return f"{SCENARIO_KIOSK_PREFIX}{library_id}"[:58]


def lab_target(
    library_id: str, kiosk_id: str | None = None, say: Callable[[str], None] | None = None
) -> ScenarioTarget | None:
    """The lab's broker and a kiosk enrolled there, or None when no operator config is
    found. ConfigError when the config is unusable or not a lab's; BrokerAdminError
    when a new enrolment cannot be told to the broker (it is not running)."""
    from hub.cli.operator_config import find_config
    from hub.config import load_config

    path = find_config(None, say=say) if say is not None else find_config(None)
    if path is None:
        return None
    config = load_config(path)
    kiosk_id = kiosk_id or scenario_kiosk_id(library_id)
    if not config.broker_address.tls:
        return ScenarioTarget(path, config.broker, kiosk_id, None, None)
    root = Path(path).resolve().parent
    if config.pki_dir is None or Path(config.pki_dir).resolve() != root / "pki":
        raise ConfigError(
            f"{path}: not a lab that `make run` set up (no pki/ beside it), so no scenario "
            "kiosk is enrolled here: pass --identity DIR (python -m hub enroll) and --broker URL"
        )
    from hub.lab.lab import Lab
    from hub.pki.pki_files import enrolled_kiosks

    known = enrolled_kiosks(root / "pki").get(kiosk_id)
    if known is not None and known.get("revoked_at") is None and known.get("library_id") != library_id:
        # Enrolling it again for this library would revoke it where it stands (make run's own kiosk, say).
        raise ConfigError(
            f"kiosk {kiosk_id} is enrolled for {known.get('library_id')}, not {library_id}: "
            f"play as another --kiosk-id, or with --library {known.get('library_id')}"
        )
    lab = Lab(root)
    bundle = lab.kiosk_on_broker(kiosk_id, library_id, config.broker)
    probe = lab.kiosk_on_broker(probe_id(kiosk_id), library_id, config.broker)
    return ScenarioTarget(path, config.broker, kiosk_id, bundle.cert.parent, probe.cert.parent)
