#!/usr/bin/env bash
# Step 1: puts apkit on PATH.
#   APKIT_BIN            an apkit binary to use as it is (self-hosted runners, local tests)
#   APKIT_FROM_SOURCE    "true": make install from the action's own checkout (needs Swift 6)
#   APKIT_TARBALL_URL    else: a release tarball (apkit-VERSION-linux-ARCH.tar.gz); its SHA-256 is
#                        APKIT_TARBALL_SHA256 or, when empty, the URL's .sha256 file
#   APKIT_HOME           where to install (default $RUNNER_TEMP/apkit)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

home=${APKIT_HOME:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/apkit}
mkdir -p "$home/bin"

if [ -n "${APKIT_BIN:-}" ]; then
    [ -x "$APKIT_BIN" ] || die "APKIT_BIN=$APKIT_BIN is not an executable"
    ln -sf "$(cd "$(dirname "$APKIT_BIN")" && pwd)/$(basename "$APKIT_BIN")" "$home/bin/apkit"
elif [ "${APKIT_FROM_SOURCE:-false}" = true ]; then
    command -v swift >/dev/null || die "from-source needs Swift 6 on the runner (e.g. swift-actions/setup-swift)"
    make -C "$here/../.." install PREFIX="$home"
else
    url=${APKIT_TARBALL_URL:-}
    [ -n "$url" ] || die "set tarball-url (a release's apkit-VERSION-linux-ARCH.tar.gz), or from-source: true"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    file="$tmp/$(basename "$url")"
    curl -fsSL --retry 3 -o "$file" "$url" || die "cannot download $url"
    want=${APKIT_TARBALL_SHA256:-}
    if [ -z "$want" ]; then
        want=$(curl -fsSL --retry 3 "$url.sha256" | awk '{print $1}') || die "cannot download $url.sha256 (or set tarball-sha256)"
    fi
    got=$(sha256sum "$file" | awk '{print $1}')
    [ "$got" = "$want" ] || die "SHA-256 mismatch for $url: expected $want, got $got"
    tar -xzf "$file" --strip-components=1 -C "$home"
fi

bin="$home/bin/apkit"
version=$("$bin" --version) || die "$bin does not run (missing C libraries? see the README's Install section)"
echo "apkit $version: $bin"
if [ -n "${GITHUB_PATH:-}" ]; then echo "$home/bin" >> "$GITHUB_PATH"; fi
if [ -n "${GITHUB_ENV:-}" ]; then echo "APKIT_BIN=$bin" >> "$GITHUB_ENV"; fi
set_output apkit "$bin"
set_output version "$version"
