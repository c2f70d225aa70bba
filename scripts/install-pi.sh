#!/usr/bin/env bash
# Installs the alliance kiosk on Raspberry Pi OS Bookworm 64-bit (Pi 3B+/4/5).
#
#   sudo scripts/install-pi.sh                 install on this Pi
#   scripts/install-pi.sh --root DIR           lay the same files into a staging root
#
# What it does (docs/pi.md, "Install"):
#   - the service user alliance-kiosk (groups gpio spi dialout video render input lp),
#     through a systemd-sysusers file;
#   - the release in /opt/alliance-kiosk/releases/<version> with its own venv (the `pi`
#     extra: spidev, lgpio; lgpio is what gpiozero must use on a Pi 5), its installed
#     mark (manifest.json), and the `current` and `last-healthy` symlinks pointing at it
#     (the release the updater goes back to); state under /var/lib/alliance-kiosk;
#   - /etc/alliance-kiosk/kiosk.toml (only if absent: an edited config is kept), root's,
#     0640, readable by the service's group and writable by root alone;
#   - /etc/alliance-kiosk/trust/ (root's, 0755; files 0644): updater.toml (the kiosk id
#     and release directory the root updater trusts) and, with --hub-public-key FILE,
#     hub-signing.pub; the updater reads nothing else (updater/trust.py);
#   - the systemd unit, udev rules, the hardware watchdog and journald drop-ins;
#   - dtparam=spi=on in /boot/firmware/config.txt if SPI is off (then: reboot).
#
# --root DIR touches nothing outside DIR: no user is created, no systemctl or udevadm
# runs, and no venv is built (nothing is fetched from the network): the release gets
# its files and bin/ launcher, and venv/ is left for the target's first install (as
# with --no-venv). The user and groups come from the sysusers file when the root boots.
# Running it twice changes nothing the first run wrote (an edited config is kept).
set -euo pipefail

ROOT=""
BUILD_VENV=1
KIOSK_ID=""
BROKER="mqtts://hub.alliance.example:8883"
MODEL_OVERRIDE=""
HUB_KEY=""
usage() {
    sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'
    echo "options: --root DIR  --no-venv  --kiosk-id ID  --broker URL  --hub-public-key FILE  --model 'Raspberry Pi 5 ...'"
}
while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT=$(realpath -m "$2"); shift 2 ;;
        --no-venv) BUILD_VENV=0; shift ;;
        --kiosk-id) KIOSK_ID=$2; shift 2 ;;
        --broker) BROKER=$2; shift 2 ;;
        --hub-public-key) HUB_KEY=$(realpath "$2"); shift 2 ;;
        --model) MODEL_OVERRIDE=$2; shift 2 ;;  # tests: pretend to be this Pi model
        -h|--help) usage; exit 0 ;;
        *) echo "install-pi: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done
STAGING=0
if [ -n "$ROOT" ]; then
    STAGING=1
    BUILD_VENV=0
fi

SRC=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$SRC/pyproject.toml" | head -n1)
[ -n "$VERSION" ] || { echo "install-pi: no version in $SRC/pyproject.toml" >&2; exit 1; }
USER_NAME=alliance-kiosk
BASE=/opt/alliance-kiosk
RELEASE=$BASE/releases/$VERSION
STATE=/var/lib/alliance-kiosk
CONF_DIR=/etc/alliance-kiosk
TRUST_DIR=$CONF_DIR/trust
CHANGED=()
REBOOT_NEEDED=0

say() { echo "install-pi: $*"; }
run() {  # a command on the machine itself: never in a staging root
    if [ "$STAGING" -eq 1 ]; then say "(staging) would run: $*"; else "$@"; fi
}

if [ "$STAGING" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    echo "install-pi: run as root (sudo), or use --root DIR to stage" >&2
    exit 1
fi

model=$MODEL_OVERRIDE
if [ -z "$model" ] && [ -r /proc/device-tree/model ]; then
    model=$(tr -d '\0' < /proc/device-tree/model)
fi
case "$model" in
    "Raspberry Pi 5"*) say "model: $model (lgpio is required: RPi.GPIO does not work on a Pi 5)" ;;
    "Raspberry Pi"*) say "model: $model" ;;
    *) say "model: ${model:-unknown} (not a Raspberry Pi: the hardware will not be found)" ;;
esac

# Write $2 (content from stdin) to $ROOT$1 with mode $3 when it differs; note changes.
put() {
    local dest="$ROOT$1" mode=$2 tmp
    mkdir -p "$(dirname "$dest")"
    tmp=$(mktemp "$(dirname "$dest")/.install-XXXXXX")
    cat > "$tmp"
    chmod "$mode" "$tmp"
    if [ -f "$dest" ] && cmp -s "$tmp" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
        rm -f "$tmp"
        return 0
    fi
    mv -f "$tmp" "$dest"
    CHANGED+=("$1")
}
put_file() { put "$1" "$2" < "$3"; }

# ---- the release ---------------------------------------------------------------------

release_files() {
    if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$SRC" ls-files --cached --others --exclude-standard
    else
        (cd "$SRC" && find . -type f ! -path './.*' ! -path './var/*' ! -path '*/__pycache__/*' | sed 's|^\./||')
    fi | grep -v -E '^(tests|bench|scenarios)/|^\.|(^|/)__pycache__/|\.egg-info/' | sort
}
say "release $VERSION -> $ROOT$RELEASE"
while IFS= read -r rel; do
    [ -f "$SRC/$rel" ] || continue
    mode=644
    [ -x "$SRC/$rel" ] && mode=755
    put_file "$RELEASE/src/$rel" "$mode" "$SRC/$rel"
done < <(release_files)
put_file "$RELEASE/bin/kiosk-launch" 755 "$SRC/deploy/kiosk-launch"
put_file "$RELEASE/bin/kivy-input" 755 "$SRC/deploy/kivy-input"
put_file "$RELEASE/bin/kiosk-update" 755 "$SRC/deploy/kiosk-update"
# Kivy's master has moved to SDL3: a release pins kivy<3.
printf 'kivy<3\n' | put "$RELEASE/constraints.txt" 644
mkdir -p "$ROOT$RELEASE/venv"

# evdev (HID scanners) and spidev publish source only: the venv builds them.
run apt-get install -y --no-install-recommends python3-venv python3-dev gcc linux-libc-dev
# The spoken prompts: espeak-ng renders them, aplay (alsa-utils) plays them ([voice]).
run apt-get install -y --no-install-recommends espeak-ng alsa-utils

if [ "$BUILD_VENV" -eq 1 ]; then
    if [ ! -x "$RELEASE/venv/bin/python" ]; then
        say "building the venv (python3 -m venv; pip install .[pi])"
        python3 -m venv "$RELEASE/venv"
        CHANGED+=("$RELEASE/venv")
    fi
    "$RELEASE/venv/bin/pip" install --quiet --constraint "$RELEASE/constraints.txt" "$RELEASE/src[pi]"
    case "$model" in
        "Raspberry Pi 5"*) "$RELEASE/venv/bin/python" -c "import lgpio" \
            || { echo "install-pi: lgpio did not install: gpiozero would fall back to RPi.GPIO and crash on a Pi 5" >&2; exit 1; } ;;
    esac
else
    say "venv not built (--root/--no-venv): on the target run python3 -m venv $RELEASE/venv && $RELEASE/venv/bin/pip install -c $RELEASE/constraints.txt '$RELEASE/src[pi]'"
fi

# The installed mark, written last: the updater returns only to a slot that has one.
printf '{\n  "format": 1,\n  "name": "alliance-kiosk",\n  "version": "%s",\n  "installed_by": "scripts/install-pi.sh"\n}\n' "$VERSION" \
    | put "$RELEASE/manifest.json" 644

# current: what systemd runs; last-healthy: what the updater goes back to (and where the
# boot check runs from). The release a technician installs is the one to return to.
for link in current last-healthy; do
    if [ "$(readlink "$ROOT$BASE/$link" 2>/dev/null || true)" != "releases/$VERSION" ]; then
        ln -sfn "releases/$VERSION" "$ROOT$BASE/.$link.new"
        mv -T "$ROOT$BASE/.$link.new" "$ROOT$BASE/$link"  # atomic switch
        CHANGED+=("$BASE/$link")
    fi
done
sync "$ROOT$BASE"

# ---- user, state, config -------------------------------------------------------------

put_file /usr/lib/sysusers.d/alliance-kiosk.conf 644 "$SRC/deploy/alliance-kiosk.sysusers"
run systemd-sysusers alliance-kiosk.conf

for dir in "$STATE" "$STATE/kivy"; do
    if [ ! -d "$ROOT$dir" ]; then
        mkdir -p "$ROOT$dir"
        CHANGED+=("$dir")
    fi
    chmod 750 "$ROOT$dir"
    run chown "$USER_NAME:$USER_NAME" "$dir"
done

# The kiosk id: --kiosk-id, else the one the kept config names, else the host name.
kiosk_id=$KIOSK_ID
if [ -z "$kiosk_id" ] && [ -f "$ROOT$CONF_DIR/kiosk.toml" ]; then
    kiosk_id=$(sed -n 's/^[[:space:]]*id[[:space:]]*=[[:space:]]*"\([a-z0-9_-]*\)".*/\1/p' "$ROOT$CONF_DIR/kiosk.toml" | head -n1)
fi
if [ -z "$kiosk_id" ]; then
    kiosk_id=$(hostname 2>/dev/null | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_\n-' '-' | cut -c1-64)
    [ "$STAGING" -eq 1 ] && kiosk_id=kiosk-1
fi
mkdir -p "$ROOT$CONF_DIR"
chmod 750 "$ROOT$CONF_DIR"
run chown "root:$USER_NAME" "$CONF_DIR"
key_line="# hub_public_key = \"$TRUST_DIR/hub-signing.pub\"   # install-pi.sh --hub-public-key FILE puts it there"
[ -n "$HUB_KEY" ] && key_line="hub_public_key = \"$TRUST_DIR/hub-signing.pub\""

if [ ! -e "$ROOT$CONF_DIR/kiosk.toml" ]; then
    put "$CONF_DIR/kiosk.toml" 640 <<TOML
# The alliance kiosk on this Pi (written once by install-pi.sh; edit freely: a new
# install keeps it). All keys: $BASE/current/src/firmware/kiosk.toml, docs/configuration.md.

[kiosk]
id = "$kiosk_id"
library_id = "capital"   # the member library this kiosk stands in

[hub]
broker = "$BROKER"
# password_file = "$CONF_DIR/kiosk.password"
$key_line

[hub.tls]
# ca = "$CONF_DIR/ca.pem"
# cert = "$CONF_DIR/kiosk.pem"
# key = "$CONF_DIR/kiosk.key"

[devices.scanner]          # udev: /dev/alliance-scanner<N> (90-alliance-kiosk.rules)
port = "/dev/alliance-scanner0"

[devices.chute_scanner]
port = "/dev/alliance-scanner1"

[journal]
path = "$STATE/journal.sqlite3"

[logging]
level = "INFO"           # to journald: journalctl -u alliance-kiosk
TOML
else
    say "keeping $CONF_DIR/kiosk.toml (already there)"
fi
# Root's, readable by the service's group: the kiosk reads it, only root changes it
# (an older install gave it to the service user).
chmod 640 "$ROOT$CONF_DIR/kiosk.toml"
run chown "root:$USER_NAME" "$CONF_DIR/kiosk.toml"

# What the root updater trusts (updater/trust.py): root's alone.
mkdir -p "$ROOT$TRUST_DIR"
chmod 755 "$ROOT$TRUST_DIR"
if [ ! -e "$ROOT$TRUST_DIR/updater.toml" ] || [ -n "$KIOSK_ID" ]; then
    put "$TRUST_DIR/updater.toml" 644 <<TOML
# What the root updater trusts when the kiosk leaves an update order (written by
# install-pi.sh; root's, and nothing in here may be writable by anyone else).
# The hub's public key is hub-signing.pub beside this file.
kiosk_id = "$kiosk_id"
release_dir = "$BASE"
TOML
else
    say "keeping $TRUST_DIR/updater.toml (already there; --kiosk-id rewrites it)"
fi
if [ -n "$HUB_KEY" ]; then
    put_file "$TRUST_DIR/hub-signing.pub" 644 "$HUB_KEY"
elif [ ! -e "$ROOT$TRUST_DIR/hub-signing.pub" ]; then
    say "no hub public key in $TRUST_DIR: hub-ordered updates are refused until you run install-pi.sh --hub-public-key FILE"
fi
run chown -R root:root "$TRUST_DIR"

# ---- systemd, udev, watchdog, journald ---------------------------------------------------

put_file /etc/systemd/system/alliance-kiosk.service 644 "$SRC/deploy/alliance-kiosk.service"
# Hub-ordered updates: the kiosk leaves an order, the path unit starts the root updater.
put_file /etc/systemd/system/alliance-kiosk-update.path 644 "$SRC/deploy/alliance-kiosk-update.path"
put_file /etc/systemd/system/alliance-kiosk-update.service 644 "$SRC/deploy/alliance-kiosk-update.service"
put_file /etc/udev/rules.d/90-alliance-kiosk.rules 644 "$SRC/deploy/90-alliance-kiosk.rules"
put_file /etc/systemd/system.conf.d/alliance-watchdog.conf 644 "$SRC/deploy/alliance-watchdog.conf"
put_file /etc/systemd/journald.conf.d/alliance-kiosk.conf 644 "$SRC/deploy/alliance-journald.conf"

# ---- SPI -----------------------------------------------------------------------------------

boot_config=""
for candidate in /boot/firmware/config.txt /boot/config.txt; do
    if [ -f "$ROOT$candidate" ]; then boot_config=$candidate; break; fi
done
if [ -z "$boot_config" ]; then
    say "no /boot/firmware/config.txt: SPI not checked (enable it with raspi-config)"
elif grep -Eq '^[[:space:]]*dtparam=spi=on' "$ROOT$boot_config"; then
    say "SPI is on ($boot_config)"
else
    if grep -Eq '^[[:space:]]*#?[[:space:]]*dtparam=spi=(on|off)' "$ROOT$boot_config"; then
        sed -E 's/^[[:space:]]*#?[[:space:]]*dtparam=spi=(on|off).*/dtparam=spi=on/' "$ROOT$boot_config" \
            | put "$boot_config" "$(stat -c %a "$ROOT$boot_config")"
    else
        { cat "$ROOT$boot_config"; printf '\n# The kiosk'"'"'s card reader (MFRC522) is on SPI0.\ndtparam=spi=on\n'; } \
            | put "$boot_config" "$(stat -c %a "$ROOT$boot_config")"
    fi
    REBOOT_NEEDED=1
fi

# ---- apply -----------------------------------------------------------------------------------

run udevadm control --reload
run udevadm trigger
run systemctl daemon-reload
run systemctl enable alliance-kiosk.service alliance-kiosk-update.path

if [ ${#CHANGED[@]} -eq 0 ]; then
    say "nothing changed"
else
    say "changed: ${#CHANGED[@]} paths"
    printf '  %s\n' "${CHANGED[@]:0:40}"
fi
if [ "$REBOOT_NEEDED" -eq 1 ]; then
    say "SPI was off: it is switched on in $boot_config. REBOOT NEEDED before the card reader works (sudo reboot)."
elif [ "$STAGING" -eq 0 ]; then
    say "start it with: sudo systemctl restart alliance-kiosk (the hardware watchdog is armed at the next boot)"
fi
