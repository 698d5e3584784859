#!/usr/bin/env bash
# Builds the libFuzzer targets (Tests/Fuzz) with ASan and runs each one for a bounded time on its
# seed corpus (Fixtures/fuzz/<dir>) plus its regressions (Fixtures/fuzz/regressions/<target>).
# Exits non-zero when a target crashes, hangs (-timeout) or exceeds -rss_limit_mb / -malloc_limit_mb.
#   bash Tests/Fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60, every target)
# Environment: FUZZ_SCRATCH (build dir, default .build-fuzz), FUZZ_JOBS (targets run at once, default 1),
#   FUZZ_NO_BUILD=1 (reuse the build), FUZZ_SKIP_REGRESSIONS=1 (leave out Fixtures/fuzz/regressions: to
#   measure or explore past a known crash that is not fixed yet; CI never sets it).
# Findings: crash-*/timeout-*/oom-*/leak-* files in $FUZZ_SCRATCH/artifacts/<target>/, logs next to them.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}; shift || true
scratch=${FUZZ_SCRATCH:-.build-fuzz}
jobs=${FUZZ_JOBS:-1}

# target  seed directory (under Fixtures/fuzz)
all_targets="FuzzV2Package:v2-package FuzzTar:tar FuzzGzip:gzip FuzzAPKIndex:apkindex FuzzPKGINFO:pkginfo
FuzzVersion:version FuzzRecipe:recipe FuzzS3XML:s3-xml FuzzV3:v3"
wanted="$*"

if [ -z "${FUZZ_NO_BUILD:-}" ]; then
    # -use-ld=lld: gold fails on the sanitizer build's DWARF ("internal error in format_file_lineno").
    swift build --package-path Tests/Fuzz --scratch-path "$scratch" -c release \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld
fi
bin="$scratch/release"

export SWIFT_BACKTRACE=enable=no            # the Swift backtracer would hold a crashed target for ever
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
export APKIT_FUZZ_KEYS=$PWD/Fixtures/fuzz/keys

run_one() {
    local target=$1 seeds=$2
    local work="$scratch/corpus/$target" art="$scratch/artifacts/$target"
    local reg="Fixtures/fuzz/regressions/$target"
    mkdir -p "$work" "$art"
    local dirs=("$work" "Fixtures/fuzz/$seeds")
    if [ -d "$reg" ] && [ -z "${FUZZ_SKIP_REGRESSIONS:-}" ]; then dirs+=("$reg"); fi
    local status=0
    TMPDIR="$art" "$bin/$target" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$art/" "${dirs[@]}" >"$art/log" 2>&1 || status=$?
    local execs rate
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$art/log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$art/log" | tail -1)
    local cov; cov=$(grep -o 'cov: [0-9]*' "$art/log" | tail -1 || true)
    if [ "$status" = 0 ]; then
        echo "fuzz $target: OK, ${execs:-?} runs, ${rate:-?}/s, $cov, corpus $(ls "$work" | wc -l)"
    else
        echo "fuzz $target: FAILED (exit $status), see $art/log:"
        grep -E 'ERROR|Fatal error|SUMMARY|Test unit written|deadly|out-of-memory|timeout' "$art/log" | head -8 | sed 's/^/    /'
        grep -m1 -oE '[^ ]*/Sources/[^ ]*\.swift:[0-9]+' "$art/log" | sed 's/^/    top source frame: /' || true
    fi
    return "$status"
}

failed=0
pids=()
for pair in $all_targets; do
    t=${pair%%:*}; s=${pair#*:}
    if [ -n "$wanted" ] && ! [[ " $wanted " == *" $t "* ]]; then continue; fi
    if [ "$jobs" -gt 1 ]; then
        run_one "$t" "$s" & pids+=($!)
        if [ "${#pids[@]}" -ge "$jobs" ]; then wait "${pids[0]}" || failed=1; pids=("${pids[@]:1}"); fi
    else
        run_one "$t" "$s" || failed=1
    fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit "$failed"
