#!/usr/bin/env bash
# Builds the release files of listdrop in dist/:
#   listdrop_VERSION_amd64.deb, listdrop_VERSION_arm64.deb   (nfpm)
#   listdrop-VERSION-1.x86_64.rpm, listdrop-VERSION-1.aarch64.rpm
#   listdrop_VERSION_windows_amd64.msi                       (wixl)
#   listdrop_VERSION_windows_amd64.zip
#   SHA256SUMS
#
# VERSION (optional, "1.2.3" or "v1.2.3") is stamped into the binaries.
# Without it, a tag vX.Y.Z on the commit gives it; without a tag the
# binaries are not stamped (`listdrop version` then reports the commit the
# Go toolchain recorded) and the packages are numbered 0.0.0~dev.N.gHASH,
# N being the number of commits, so that later builds upgrade earlier ones.
#
# Needs Go, git, zip, wixl and msibuild (Debian: apt-get install wixl
# msitools zip); nfpm is run with `go run` at a pinned version.
#
# DIST (optional, default dist) is the folder written, emptied first.
#
# MSI_TEST_FAILURE (tests only) builds an installer with one step broken on
# purpose: "tuning" (a recovery setting fails) or "essential" (the install
# fails at its last step); see packaging/windows/listdrop.wxs.
set -euo pipefail
cd "$(dirname "$0")/.."

NFPM=(go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2)
TARGETS=${TARGETS:-"linux/amd64 linux/arm64 windows/amd64"}

for tool in go zip wixl msibuild sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build.sh: $tool is missing (Debian: apt-get install wixl msitools zip)" >&2
    exit 1
  fi
done

commits=$(git rev-list --count HEAD 2>/dev/null || echo 0)
hash=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
version=${VERSION:-}
if [ -z "$version" ]; then
  version=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null || true)
fi
version=${version#v}
if [ -n "$version" ]; then
  if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+~.][0-9A-Za-z.~+-]*)?$ ]]; then
    echo "build.sh: version $version is not X.Y.Z[-suffix]" >&2
    exit 1
  fi
  stamp="-X main.buildVersion=$version"
  # dpkg and rpm both sort "~" before anything: 1.2.3~rc1 < 1.2.3.
  pkg_version=${version/-/\~}
else
  stamp=""
  pkg_version="0.0.0~dev.$commits.g$hash"
fi
# Windows Installer versions are three numbers, each bounded; only the
# first three count when it compares them.
if [[ $version =~ ^([0-9]+)\.([0-9]+)\.([0-9]+) ]]; then
  msi_major=${BASH_REMATCH[1]} msi_minor=${BASH_REMATCH[2]} msi_build=${BASH_REMATCH[3]}
else
  msi_major=0 msi_minor=0 msi_build=$((commits % 65535))
fi
msi_version="$msi_major.$msi_minor.$msi_build"
msi_next="$msi_major.$msi_minor.$((msi_build + 1))"
name_version=${pkg_version//\~/-}
msi_test_failure=${MSI_TEST_FAILURE:-none}
case $msi_test_failure in
none | tuning | essential) ;;
*)
  echo "build.sh: MSI_TEST_FAILURE=$msi_test_failure: want tuning or essential (tests only)" >&2
  exit 1
  ;;
esac

dist=${DIST:-dist}
rm -rf "$dist"
mkdir -p "$dist/build"
echo "listdrop ${version:-(unstamped)}: packages $pkg_version, msi $msi_version"

for target in $TARGETS; do
  goos=${target%/*} goarch=${target#*/}
  dir=$dist/build/$goos-$goarch
  exe=listdrop
  [ "$goos" = windows ] && exe=listdrop.exe
  echo "--- $goos/$goarch"
  CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch \
    go build -trimpath -buildvcs=auto -ldflags "-s -w $stamp" -o "$dir/$exe" .

  case $goos in
  linux)
    for packager in deb rpm; do
      PKG_ARCH=$goarch PKG_VERSION=$pkg_version BINARY=$dir/$exe \
        "${NFPM[@]}" package --config packaging/nfpm.yaml --packager "$packager" --target "$dist/"
    done
    ;;
  windows)
    if [ "$goarch" != amd64 ]; then
      echo "build.sh: the installer is built for windows/amd64 only" >&2
      exit 1
    fi
    msi="$dist/listdrop_${name_version}_windows_$goarch.msi"
    # (wixl takes only relative paths for its files)
    wixl -a x64 -D Version="$msi_version" -D NextVersion="$msi_next" \
      -D Binary="$(realpath --relative-to=. "$dir/$exe")" -D Config=packaging/windows/listdrop.yaml \
      -D Tune=packaging/windows/tune.js -D TestFailure="$msi_test_failure" \
      -o "$msi" packaging/windows/listdrop.wxs
    # What wixl cannot say: the first configuration is never overwritten
    # (128) nor removed (16), 256 being 64-bit; ConfigRollback runs only
    # at a rollback (256) of the install script (1024), as the system
    # (2048), its failure ignored (64), cmd.exe named by a property (50);
    # AppSearch sets CONFIGFOUND when listdrop.yaml is there before the
    # install (wixl has no DirectorySearch).
    msibuild "$msi" \
      -q "UPDATE \`Component\` SET \`Attributes\` = 400 WHERE \`Component\` = 'Config'" \
      -q "UPDATE \`CustomAction\` SET \`Type\` = 3442 WHERE \`Action\` = 'ConfigRollback'" \
      -q "CREATE TABLE \`DrLocator\` (\`Signature_\` CHAR(72) NOT NULL, \`Parent\` CHAR(72), \`Path\` CHAR(255), \`Depth\` SHORT PRIMARY KEY \`Signature_\`, \`Parent\`, \`Path\`)" \
      -q "INSERT INTO \`DrLocator\` (\`Signature_\`, \`Path\`, \`Depth\`) VALUES ('ConfigFile', '[CommonAppDataFolder]listdrop', 0)" \
      -q "INSERT INTO \`Signature\` (\`Signature\`, \`FileName\`) VALUES ('ConfigFile', 'listdrop.yaml')" \
      -q "INSERT INTO \`AppSearch\` (\`Property\`, \`Signature_\`) VALUES ('CONFIGFOUND', 'ConfigFile')" \
      -q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Sequence\`) VALUES ('AppSearch', 50)"
    zipdir=$dist/build/zip-$goarch
    mkdir -p "$zipdir"
    cp "$dir/$exe" README.md config.example.yaml "$zipdir/"
    cp -R docs "$zipdir/docs"   # the manual the README links to
    cp packaging/windows/listdrop.yaml "$zipdir/listdrop.windows.yaml"
    (cd "$zipdir" && zip -q -X -r -D "../../listdrop_${name_version}_windows_$goarch.zip" ./*)
    ;;
  esac
done

rm -rf "$dist/build"
(cd "$dist" && sha256sum -- * >SHA256SUMS)
echo "--- $dist/"
ls -l "$dist"
