#!/bin/sh
# Creates the system user the service runs as, before the files are
# unpacked. Debian: preinst install|upgrade; RPM: %pre 1|2.
set -e

if ! getent passwd listdrop >/dev/null; then
  nologin=/usr/sbin/nologin
  [ -x "$nologin" ] || nologin=/sbin/nologin
  if getent group listdrop >/dev/null; then
    group="--gid listdrop"
  else
    group="--user-group"
  fi
  # shellcheck disable=SC2086
  useradd --system $group --home-dir /var/lib/listdrop --no-create-home \
    --shell "$nologin" --comment "listdrop service" listdrop
fi
