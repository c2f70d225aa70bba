"""The updater: a program of its own that runs as root on the kiosk, outside the kiosk
package (which runs as the unprivileged `alliance-kiosk`). It installs a release bundle
into a new slot, switches to it, and rolls back by itself if the new slot does not come
up healthy; at every boot it undoes a switch that was never judged.

It imports only `contract` of ours (`make lint` checks it): nothing the kiosk's user
can change is ever imported into a root process. Its entry is `python -m updater`
(updater.cli; `bin/kiosk-update` in a release runs it for the systemd units), and
`python -m kiosk_tools update` hands over to the same `main`.

The installed layout (scripts/install-pi.sh, docs/pi.md) under ROOT (`/`, or a staging
root with `--root`):
    opt/alliance-kiosk/releases/<version>/{bin,venv,manifest.json}   one slot per release
    opt/alliance-kiosk/current -> releases/<version>                 what systemd runs
    opt/alliance-kiosk/last-healthy -> releases/<version>            the release to go back to
    opt/alliance-kiosk/update-pending.json    written here between a switch and its verdict
    etc/alliance-kiosk/trust/                 root's: what an order is checked against
    var/lib/alliance-kiosk/health.json        written by the running kiosk (contract.health_file)
    var/lib/alliance-kiosk/last-update.json   written here: the last update's result

One module per job:
    layout     where an install lives; pointing `current` and `last-healthy`; pruning slots
    bundle     the bundle's format, fetching it, checking it against its manifest
    install    a slot's venv, installed from the bundle's wheels with no index
    verdict    reading the kiosk's health file and judging a release healthy or not
    switch     an update's steps: check, install, switch, wait for the verdict, roll back
    recover    the boot check: a switch never judged goes back to `last-healthy`
    lock       one updater at a time
    order      an order the kiosk left, checked against the hub's signature
    trust      the root-owned trust directory the order is checked against
    results    the outcome every run ends in (`last-update.json`)
    kiosk_files reading a file in a directory the kiosk's user can write, as root
    cli        `python -m updater`
    release    building a bundle (`python -m kiosk_tools release`; a build-time tool)
"""
