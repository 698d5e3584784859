#!/usr/bin/env bash
# Step 3 (optional): apkit publish of the packages build.sh wrote.
#   APKIT_PUBLISH_TO     a local directory or s3://BUCKET/PREFIX; else built from the two below
#   APKIT_S3_BUCKET, APKIT_S3_PREFIX
#   APKIT_ENDPOINT       S3-compatible endpoint (MinIO, R2, ...): implies path-style URLs unless
#                        APKIT_PATH_STYLE=false
#   APKIT_KEY, APKIT_KEY_NAME, APKIT_OUTPUT, APKIT_WORKING_DIRECTORY as for build.sh
# Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION in the step's environment.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

to=${APKIT_PUBLISH_TO:-}
if [ -z "$to" ] && [ -n "${APKIT_S3_BUCKET:-}" ]; then
    prefix=${APKIT_S3_PREFIX:-}
    prefix=${prefix#/}
    to="s3://$APKIT_S3_BUCKET${prefix:+/$prefix}"
fi
if [ -z "$to" ]; then
    echo "apkit-action: nothing to publish to (set s3-bucket or publish-to)"
    exit 0
fi

apkit=$(apkit_bin)
cd "${APKIT_WORKING_DIRECTORY:-.}"
shopt -s nullglob
packages=("${APKIT_OUTPUT:-packages}"/*/*.apk)
[ ${#packages[@]} -gt 0 ] || die "no packages in ${APKIT_OUTPUT:-packages}/<arch>/: run the build step first"
write_key
key=$KEY_FILE

args=(publish --to "$to" --key "$key")
case $to in
    s3://*)
        if [ -n "${APKIT_ENDPOINT:-}" ]; then
            args+=(--endpoint "$APKIT_ENDPOINT")
            [ "${APKIT_PATH_STYLE:-true}" = false ] || args+=(--path-style)
        fi
        args+=(--no-progress)
        ;;
esac
"$apkit" "${args[@]}" "${packages[@]}"
set_output repository "$to"
