# Shared by the action's step scripts (sourced). Inputs arrive as environment variables, never
# as command-line text, so a secret is never part of a command line or of the log.
set -euo pipefail

die() { printf 'apkit-action: error: %s\n' "$*" >&2; exit 1; }

# The apkit binary: $APKIT_BIN (set by install.sh through $GITHUB_ENV, or by the caller), else PATH.
apkit_bin() {
    if [ -n "${APKIT_BIN:-}" ]; then printf '%s\n' "$APKIT_BIN"; return; fi
    command -v apkit || die "apkit is not installed: run the install step first (or set APKIT_BIN)"
}

# Writes $APKIT_KEY (PEM text) to a 0600 file in a 0700 temp directory, both removed when the
# script exits; sets KEY_FILE. (Not run in $(...): the exit trap belongs to the calling script.)
# The key name apk installers look for is the file name + .pub: KEY_NAME (default apkit.rsa).
write_key() {
    [ -n "${APKIT_KEY:-}" ] || die "no signing key: set the key input (a PEM private key, e.g. \${{ secrets.APK_PRIVATE_KEY }})"
    local dir
    dir=$(umask 077 && mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/apkit-key.XXXXXX")
    KEY_DIR=$dir
    trap 'rm -rf "$KEY_DIR"' EXIT
    local name=${APKIT_KEY_NAME:-}
    name=${name%.pub}
    [ -n "$name" ] || name=apkit.rsa
    case $name in */* | .* | "") die "key-name must be a plain file name such as me-1234abcd.rsa.pub" ;; esac
    (umask 077 && printf '%s\n' "$APKIT_KEY" > "$dir/$name")
    chmod 0600 "$dir/$name"
    KEY_FILE="$dir/$name"
}

# Appends name=value to the step's outputs (GitHub), or prints it (elsewhere).
set_output() {
    if [ -n "${GITHUB_OUTPUT:-}" ]; then
        printf '%s<<__APKIT_EOF__\n%s\n__APKIT_EOF__\n' "$1" "$2" >> "$GITHUB_OUTPUT"
    else
        printf '%s=%s\n' "$1" "$2"
    fi
}
