#!/usr/bin/env bash
# Integration tests against a real S3 server: installs versitygw (once per
# version, into a folder beside Go's build cache) and runs this module's
# tests with VERSITYGW pointing at it. The tests start and stop versitygw
# themselves, on loopback, with a temporary posix backend.
set -euo pipefail
cd "$(dirname "$0")"

version=v1.8.0
bindir="$(go env GOCACHE)/listdrop-bin/versitygw-$version"
if [ ! -x "$bindir/versitygw" ]; then
  echo "--- installing versitygw $version"
  GOBIN="$bindir" go install "github.com/versity/versitygw/cmd/versitygw@$version"
fi
export VERSITYGW="$bindir/versitygw"

# This module follows the product through a replace directive: when the
# product gains a dependency, go.mod here needs it too.
if ! go mod tidy -diff >/dev/null 2>&1; then
  echo "--- integration/go.mod lags the product's dependencies; tidying it for this run (commit the change)"
  go mod tidy
fi

echo "--- gofmt, go vet (integration module)"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted"
  exit 1
fi
go vet ./...

echo "--- integration tests against versitygw $version"
go test -race -count=1 ./...
