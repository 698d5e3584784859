#!/usr/bin/env bash
# Local S3 servers for the S3Client integration tests (Tests/S3ClientTests).
#
#   source .ci/s3-servers.sh      # starts moto and ministack on 127.0.0.1, exports APKIT_TEST_*
#   apkit_s3_servers_stop         # stops them (also done on shell exit, unless
#                                 # APKIT_S3_NO_TRAP=1 or an EXIT trap already exists)
#
# Exports:
#   APKIT_TEST_MOTO_ENDPOINT            http://127.0.0.1:PORT  (moto_server; accepts any credentials)
#   APKIT_TEST_MINISTACK_ENDPOINT       http://127.0.0.1:PORT  (ministack, AUTH=true: signatures checked)
#   APKIT_TEST_MINISTACK_ACCESS_KEY_ID  an IAM user's key, allowed s3:* ...
#   APKIT_TEST_MINISTACK_SECRET_ACCESS_KEY
#   APKIT_TEST_MINISTACK_ROOT_ACCESS_KEY_ID / _ROOT_SECRET_ACCESS_KEY  (the server's root key)
#   APKIT_TEST_S3_LOGS                  directory with the servers' logs
# Nothing listens on anything but 127.0.0.1.

apkit_s3_servers_stop() {
    local pid
    for pid in ${APKIT_TEST_S3_PIDS:-}; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    unset APKIT_TEST_S3_PIDS
}

apkit_s3_servers_start() {
    local py=${PYTHON:-python3}
    if ! "$py" -m pip install -q --disable-pip-version-check 'moto[server]' ministack >/dev/null 2>&1; then
        # Offline, or a read-only environment: go on when they are installed already.
        "$py" -c 'import moto.server, ministack, boto3' 2>/dev/null \
            || { echo "s3-servers: pip install 'moto[server]' ministack failed and they are not installed" >&2; return 1; }
        echo "s3-servers: pip install failed; using the installed moto and ministack" >&2
    fi

    local logs
    logs=$(mktemp -d "${TMPDIR:-/tmp}/apkit-s3-servers.XXXXXX") || return 1
    export APKIT_TEST_S3_LOGS=$logs
    local free_port='import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
    local moto_port ms_port
    moto_port=$("$py" -c "$free_port") && ms_port=$("$py" -c "$free_port") || return 1

    # moto: S3 (and friends) without authentication.
    "$py" -m moto.server -H 127.0.0.1 -p "$moto_port" >"$logs/moto.log" 2>&1 &
    APKIT_TEST_S3_PIDS="$!"

    # ministack with AUTH=true: every request must carry a valid SigV4 signature of a known key.
    local root_key="APKITROOT$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)"
    local root_secret
    root_secret=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
    (
        cd "$logs" || exit 1
        exec env AUTH=true BIND_HOST=127.0.0.1 GATEWAY_PORT="$ms_port" MINISTACK_HOST=127.0.0.1 \
            AWS_ACCESS_KEY_ID="$root_key" AWS_SECRET_ACCESS_KEY="$root_secret" AWS_SESSION_TOKEN= \
            AWS_DEFAULT_REGION=us-east-1 LOG_LEVEL=WARNING \
            "$py" -m ministack
    ) >"$logs/ministack.log" 2>&1 &
    APKIT_TEST_S3_PIDS="$APKIT_TEST_S3_PIDS $!"
    export APKIT_TEST_S3_PIDS

    # Wait (at most ~60 s) until both answer.
    local i moto_ok= ms_ok=
    for i in $(seq 1 120); do
        [ -z "$moto_ok" ] && curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$moto_port/moto-api/" && moto_ok=1
        [ -z "$ms_ok" ] && curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$ms_port/_ministack/health" && ms_ok=1
        [ -n "$moto_ok" ] && [ -n "$ms_ok" ] && break
        sleep 0.5
    done
    if [ -z "$moto_ok" ] || [ -z "$ms_ok" ]; then
        echo "s3-servers: servers did not come up (moto=${moto_ok:-no} ministack=${ms_ok:-no}); logs in $logs:" >&2
        tail -n 20 "$logs"/*.log >&2
        apkit_s3_servers_stop
        return 1
    fi

    # An IAM user allowed to use S3, with its own access key, created through ministack's IAM API.
    local creds
    creds=$(APKIT_MS="http://127.0.0.1:$ms_port" APKIT_ROOT_KEY="$root_key" APKIT_ROOT_SECRET="$root_secret" "$py" - <<'PY'
import json, os, boto3
iam = boto3.client("iam", endpoint_url=os.environ["APKIT_MS"], region_name="us-east-1",
                   aws_access_key_id=os.environ["APKIT_ROOT_KEY"], aws_secret_access_key=os.environ["APKIT_ROOT_SECRET"])
iam.create_user(UserName="apkit-ci")
iam.put_user_policy(UserName="apkit-ci", PolicyName="s3-all", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*", "sts:GetSessionToken", "sts:GetCallerIdentity"],
                   "Resource": "*"}]}))
key = iam.create_access_key(UserName="apkit-ci")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
PY
    ) || { echo "s3-servers: creating the ministack IAM user failed; logs in $logs" >&2; apkit_s3_servers_stop; return 1; }

    export APKIT_TEST_MOTO_ENDPOINT="http://127.0.0.1:$moto_port"
    export APKIT_TEST_MINISTACK_ENDPOINT="http://127.0.0.1:$ms_port"
    export APKIT_TEST_MINISTACK_ACCESS_KEY_ID="${creds%% *}"
    export APKIT_TEST_MINISTACK_SECRET_ACCESS_KEY="${creds#* }"
    export APKIT_TEST_MINISTACK_ROOT_ACCESS_KEY_ID="$root_key"
    export APKIT_TEST_MINISTACK_ROOT_SECRET_ACCESS_KEY="$root_secret"
    echo "s3-servers: moto at $APKIT_TEST_MOTO_ENDPOINT, ministack (AUTH=true) at $APKIT_TEST_MINISTACK_ENDPOINT" >&2
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # Sourced: start, export into the caller's shell, stop on its exit.
    if apkit_s3_servers_start; then
        if [ -z "${APKIT_S3_NO_TRAP:-}" ] && [ -z "$(trap -p EXIT)" ]; then
            trap apkit_s3_servers_stop EXIT
        fi
    else
        return 1
    fi
else
    # Executed: start, print the exports for eval, leave the servers running.
    apkit_s3_servers_start || exit 1
    for v in APKIT_TEST_MOTO_ENDPOINT APKIT_TEST_MINISTACK_ENDPOINT APKIT_TEST_MINISTACK_ACCESS_KEY_ID \
             APKIT_TEST_MINISTACK_SECRET_ACCESS_KEY APKIT_TEST_MINISTACK_ROOT_ACCESS_KEY_ID \
             APKIT_TEST_MINISTACK_ROOT_SECRET_ACCESS_KEY APKIT_TEST_S3_LOGS APKIT_TEST_S3_PIDS; do
        printf 'export %s=%q\n' "$v" "${!v}"
    done
    echo "# stop with: kill $APKIT_TEST_S3_PIDS" >&2
fi
