"""`python -m hub sip2-check SYSTEM [--config FILE]`: for a technician setting up a member.

Logs in to the system as configured in `[sip2.systems.SYSTEM]` (over TLS, its certificate
verified as the hub verifies it, unless the system has `allow_plain`), asks SC status
(99) and prints what the ILS says it supports, and how the link is protected: the TLS
version and the server certificate's SHA-256 (what `tls_fingerprint` pins), or a
warning for plain TCP. Exit 0 when the login and the status answer came
back, 1 with one readable line when they did not, 2 for a bad setting.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from contract.settings import ConfigError
from hub.sip2.errors import Sip2Error, Sip2ProtocolError
from hub.sip2.messages import SUPPORTED_MESSAGE_NAMES, ScStatus
from hub.sip2.session import Sip2Client
from hub.sip2.settings import load_sip2_systems

COMMAND = "sip2-check"


def add_parser(subs: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subs.add_parser(COMMAND, parents=parents,
                        help="log in to a member's library system (SIP2) and show what it supports")
    p.add_argument("system", metavar="SYSTEM", help="a [sip2.systems.NAME] of the hub config")


def run(args: argparse.Namespace) -> int:
    config = getattr(args, "config", None)
    if not config:
        print(f"hub: {COMMAND}: needs --config FILE (the hub config with [sip2.systems])",
              file=sys.stderr)
        return 2
    try:
        systems = load_sip2_systems(config)
    except ConfigError as exc:
        print("\n".join(f"hub: {line}" for line in str(exc).splitlines()), file=sys.stderr)
        return 2
    system = systems.get(args.system)
    if system is None:
        known = ", ".join(systems) or "none"
        print(f"hub: {config}: no [sip2.systems.{args.system}] (systems: {known})", file=sys.stderr)
        return 2
    try:
        with Sip2Client(system) as client:
            client.connect()
            link = client.link_description()
            status = client.sc_status()
    except Sip2Error as exc:
        kind = "protocol error" if isinstance(exc, Sip2ProtocolError) else "unavailable"
        print(f"FAILED {system.name}: {kind}: {exc}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps({**_as_json(system.name, status), "link": link}, ensure_ascii=False, indent=2))
    else:
        print(describe(system.label, system.encoding, status))
        print(f"  link:           {link}")
    return 0


def describe(label: str, encoding: str, s: ScStatus) -> str:
    """The SC status as lines a technician reads."""
    yes = {True: "yes", False: "no"}
    unsupported = [n for n in SUPPORTED_MESSAGE_NAMES if n not in s.supported]
    lines = [
        f"OK {label}: logged in ({encoding}), SIP2 {s.protocol_version}",
        f"  institution:    {s.institution or '-'}",
        f"  library name:   {s.library_name or '-'}",
        f"  online:         {yes[s.online]}",
        f"  checkin:        {yes[s.checkin_ok]}",
        f"  checkout:       {yes[s.checkout_ok]}",
        f"  renewal:        {yes[s.renewal_ok]}",
        f"  offline ok:     {yes[s.offline_ok]}",
        f"  timeout:        {'unknown' if s.timeout_s is None else f'{s.timeout_s} s'}",
        f"  retries:        {'unknown' if s.retries is None else s.retries}",
        f"  supported:      {', '.join(s.supported) or '-'}",
        f"  not supported:  {', '.join(unsupported) or '-'}",
    ]
    if s.screen_message:
        lines.append(f"  message:        {s.screen_message}")
    return "\n".join(lines)


def _as_json(name: str, s: ScStatus) -> dict[str, Any]:
    return {"system": name, "online": s.online, "checkin_ok": s.checkin_ok,
            "checkout_ok": s.checkout_ok, "renewal_ok": s.renewal_ok,
            "protocol_version": s.protocol_version, "institution": s.institution,
            "library_name": s.library_name, "supported": list(s.supported),
            "timeout_s": s.timeout_s, "retries": s.retries, "screen_message": s.screen_message}
