#!/bin/sh
# Stops and disables the service when the package is removed, not when it
# is upgraded. Debian: prerm remove|upgrade|...; RPM: %preun 0 (erase) or 1
# (upgrade).
set -e

case "$1" in
  remove | 0)
    if [ -d /run/systemd/system ]; then
      systemctl stop listdrop.service || true
    fi
    if command -v systemctl >/dev/null 2>&1; then
      systemctl disable listdrop.service >/dev/null 2>&1 || true
    fi
    ;;
esac
