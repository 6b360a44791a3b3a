#!/bin/sh
# Debian: postinst configure [OLD-VERSION]; RPM: %post 1 (install) or 2
# (upgrade). The service is enabled on the first install but not started:
# it needs its configuration first. An upgrade restarts it if it runs.
# Nothing here needs systemd to be running (containers, chroots).
set -e

first=false
case "$1" in
  configure) [ -z "$2" ] && first=true ;;
  1) first=true ;;
esac

for dir in /var/lib/listdrop /var/log/listdrop; do
  [ -d "$dir" ] || install -d -m 0750 -o listdrop -g listdrop "$dir"
done

if [ "$first" = true ]; then
  # The service's user reads the configuration; others do not.
  chgrp listdrop /etc/listdrop/listdrop.yaml
  chmod 0640 /etc/listdrop/listdrop.yaml
fi

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi

if [ "$first" = true ]; then
  if command -v systemctl >/dev/null 2>&1; then
    systemctl enable listdrop.service >/dev/null 2>&1 ||
      echo "listdrop: could not enable the service: run systemctl enable listdrop" >&2
  fi
  env=/etc/default/listdrop
  [ -f /etc/sysconfig/listdrop ] && env=/etc/sysconfig/listdrop
  cat <<MSG
listdrop is installed, and enabled at boot, but not started. To start it:
  1. edit /etc/listdrop/listdrop.yaml: account, client_id, folders
  2. put the client secret in $env (LISTDROP_CLIENT_SECRET=...)
  3. let the user listdrop write the folders: chown -R listdrop: /srv/listdrop
  4. check:  sudo sh -c 'set -a; . $env; listdrop validate'
  5. start:  sudo systemctl start listdrop; journalctl -u listdrop -f
MSG
elif [ -d /run/systemd/system ]; then
  systemctl try-restart listdrop.service || true
fi
