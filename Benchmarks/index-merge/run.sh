#!/bin/sh
# Times `apkit index --merge` of ONE package into a generated 20,000-entry index (release build).
# Usage: Benchmarks/index-merge/run.sh [ENTRIES] [RUNS]     (from the repository root)
# Output: one line per run and the median, in seconds; work files under Benchmarks/index-merge/work/.
set -eu
N=${1:-20000}
RUNS=${2:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SCRATCH=${SCRATCH:-.build-index}
APKIT=${APKIT:-$ROOT/$SCRATCH/release/apkit}
[ -x "$APKIT" ] || { echo "build first: swift build -c release --scratch-path $SCRATCH --product apkit" >&2; exit 2; }
W=$HERE/work
rm -rf "$W"; mkdir -p "$W/stage/usr/share/bench"
echo hello > "$W/stage/usr/share/bench/file"

"$APKIT" keygen --name bench --bits 2048 --output-dir "$W/keys" >/dev/null
KEY=$(ls "$W"/keys/*.rsa)

# A 20,000-entry APKINDEX in the shape of Alpine's (real field mix, deps, provides), unsigned...
python3 "$HERE/gen_index.py" "$N" "$W/unsigned.tar.gz"
# ...then signed by apkit (a merge with no packages), so the timed merge verifies a real signature.
"$APKIT" index --key "$KEY" --allow-untrusted --merge "$W/unsigned.tar.gz" -o "$W/APKINDEX.tar.gz" >/dev/null
"$APKIT" pack "$W/stage" --name zz-bench-new --version 1.0-r0 --arch x86_64 --key "$KEY" --output "$W" --no-trace >/dev/null

ls -l "$W/APKINDEX.tar.gz" | awk '{print "index size: " $5 " bytes"}'
i=0; : > "$W/times"
while [ $i -lt "$RUNS" ]; do
    /usr/bin/time -f "%e %M" -o "$W/t" "$APKIT" index --key "$KEY" --merge "$W/APKINDEX.tar.gz" \
        -o "$W/out.tar.gz" "$W/zz-bench-new-1.0-r0.apk" >/dev/null
    read -r secs rss < "$W/t"
    echo "run $((i+1)): ${secs}s, peak RSS ${rss} KB"
    echo "$secs" >> "$W/times"
    i=$((i+1))
done
sort -n "$W/times" | awk '{a[NR]=$1} END {print "median: " a[int((NR+1)/2)] "s for merging 1 package into '"$N"' entries"}'
python3 - "$W/out.tar.gz" "$N" <<'PY'
import sys, tarfile
t = tarfile.open(sys.argv[1]).extractfile('APKINDEX').read().decode()
n = t.count('\nP:') + t.startswith('P:')
assert n == int(sys.argv[2]) + 1, (n, sys.argv[2])
print(f"check: output has {n} entries")
PY
