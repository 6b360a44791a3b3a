#!/bin/sh
# Debian: postrm remove|purge|upgrade|...; RPM: %postun 0 (erase) or 1
# (upgrade). Purging a .deb also deletes the state and the logs (dpkg
# deletes the configuration). The user listdrop stays: files elsewhere may
# still belong to it. Erasing an .rpm keeps the state, the logs and an
# edited configuration (as .rpmsave).
set -e

case "$1" in
  purge)
    rm -rf /var/lib/listdrop /var/log/listdrop
    ;;
esac

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
