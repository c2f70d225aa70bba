"""Kept only so a kiosk still running a release from before the updater moved to its own
package (`updater/`, issue 17) accepts this one: that release's updater checks a new slot
with `import firmware.update` before it switches to it. It imports nothing; the updater is
`python -m updater` (docs/pi.md, "Updating a kiosk"). Delete once no kiosk runs such a
release."""
