# Sourced by the scripts of test/wine (run from the repository's root): the
# Wine set-up they share. It installs the Debian packages that are missing
# (as root), makes a temporary folder $work, removed when the script ends,
# and in it a 64-bit Wine prefix with the ProcessPrng shim, served by one
# wineserver for the whole script.
#
# Before sourcing, a script may list in wine_extra (command:package ...)
# what else it needs.

step() { echo "--- wine: $*"; }
export WINEDEBUG=-all

# --- tools -----------------------------------------------------------------
missing=()
command -v wine >/dev/null 2>&1 || missing+=(wine)
dpkg-query -W -f='${Status}' wine64 2>/dev/null | grep -q 'ok installed' || missing+=(wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || missing+=(gcc-mingw-w64-x86-64)
for need in ${wine_extra[@]+"${wine_extra[@]}"}; do
  command -v "${need%%:*}" >/dev/null 2>&1 || missing+=("${need#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "wine: run as root, or install these Debian packages first: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
wine --version

work=$(mktemp -d "${TMPDIR:-/tmp}/listdrop-wine.XXXXXX")
export WINEPREFIX="$work/prefix" WINEARCH=win64
# No Mono or Gecko: nothing here needs them, and they cannot be downloaded.
export WINEDLLOVERRIDES="mscoree,mshtml="
cleanup() {
  wineserver -k >/dev/null 2>&1 || true
  [ -n "${keep_work:-}" ] && echo "wine: kept $work" || rm -rf "$work"
}
trap cleanup EXIT

# --- the Wine prefix, with bcryptprimitives.dll ------------------------------
step "building the ProcessPrng shim"
x86_64-w64-mingw32-gcc -shared -O2 -s -o "$work/bcryptprimitives.dll" \
  test/wine/processprng.c test/wine/bcryptprimitives.def
step "creating a Wine prefix"
if ! wineboot --init >"$work/wineboot.log" 2>&1; then
  cat "$work/wineboot.log" >&2
  exit 1
fi
wineserver -w
system32="$WINEPREFIX/drive_c/windows/system32"
if [ ! -d "$system32" ]; then
  echo "wine: the prefix has no system32 folder" >&2
  cat "$work/wineboot.log" >&2
  exit 1
fi
cp "$work/bcryptprimitives.dll" "$system32/"
# One wineserver for the whole run: it lingers 3 s after its last program,
# and a program that starts while it is going away dies with "recvmsg:
# Connection reset by peer".
wineserver -p
