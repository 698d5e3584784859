#!/usr/bin/env bash
# Step 2: apkit build.
#   APKIT_KEY            PEM private key text (a secret); written to a 0600 temp file, removed at exit
#   APKIT_KEY_NAME       the public key's file name in /etc/apk/keys (NAME.rsa.pub; default apkit.rsa.pub)
#   APKIT_CONFIG         apkit.yml / instellar.yml (default: apkit.yml, then instellar.yml)
#   APKIT_FORMAT         v2 or v3 (default: the config's)
#   APKIT_OUTPUT         output directory (default packages)
#   APKIT_ARCH           space-separated architectures to build (default: the config's)
#   APKIT_WORKING_DIRECTORY  where to run (default .)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

apkit=$(apkit_bin)
cd "${APKIT_WORKING_DIRECTORY:-.}"
write_key
key=$KEY_FILE

args=(build)
[ -z "${APKIT_CONFIG:-}" ] || args+=("$APKIT_CONFIG")
args+=(--key "$key" --output "${APKIT_OUTPUT:-packages}")
case ${APKIT_FORMAT:-} in
    "") ;;
    v2 | v3) args+=(--format "$APKIT_FORMAT") ;;
    *) die "format must be v2 or v3, not '$APKIT_FORMAT'" ;;
esac
for a in ${APKIT_ARCH:-}; do args+=(--arch "$a"); done

out=$(mktemp)
"$apkit" "${args[@]}" | tee "$out"
packages=$(sed -n 's/^wrote //p' "$out")
rm -f "$out"
[ -n "$packages" ] || die "apkit build wrote no package"
set_output packages "$packages"
