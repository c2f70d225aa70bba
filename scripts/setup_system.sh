#!/usr/bin/env bash
# Installs the Debian packages the kiosk, its simulator and its tests need, when missing.
# Safe to run again: it asks apt-get only for what dpkg does not already have.
set -u
# gcc, python3-dev and linux-libc-dev: python-evdev (HID scanners) is published as source only.
# systemd: systemd-analyze verifies the kiosk's unit (tests/field/test_install_pi.py).
# fuse3: libfuse 3 and fusermount3 for hal_sim.lazy_disk, the disk that loses unsynced writes at a
# power cut (tests/e2e/test_power_loss.py, tests/hal_sim/test_lazy_disk.py).
# postgresql: initdb and pg_ctl, for the private cluster the PostgreSQL ledger tests start
# where no server answers on 127.0.0.1:5432 (tests/postgres_server.py).
want=(mosquitto xvfb xauth fonts-wqy-microhei libgl1 libegl1 libgl1-mesa-dri libmtdev1 libsdl2-2.0-0
      gcc python3-dev linux-libc-dev systemd fuse3 postgresql)
# espeak-ng: renders the spoken prompts (firmware.speaker, drivers/voice_synth.py); sox: the
# tests measure that they are not silent (tests/drivers/test_voice.py); alsa-utils: aplay plays them.
want+=(espeak-ng sox alsa-utils)
# matchbox-window-manager: X kiosks' window manager; SDL's full screen on X needs one (tests/field/test_fullscreen.py).
want+=(matchbox-window-manager x11-utils)  # x11-utils: xwininfo, xprop
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing Debian packages: ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo_cmd=(sudo -n)
if ! command -v apt-get >/dev/null; then
  echo "setup: apt-get not found; install these by hand: ${missing[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq || true
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" \
  || echo "setup: could not install ${missing[*]}; tests that need them will say so" >&2
# The Debian packages start a broker on 1883 and a PostgreSQL on 5432 on some systems;
# the tests start their own broker, and use that PostgreSQL when it answers.
exit 0
