#!/usr/bin/env python3
"""apkit operations benchmark (issue 13, "Speed, wave 2"): verify, publish and index at scale,
each side by side with its peer in one run, interleaved.

    python3 Benchmarks/ops.py --apk2 /path/to/apk-2.14 [--apk3 /path/to/apk-3]   # all three sections
    python3 Benchmarks/ops.py --sections verify --apk2 ...                        # one section

- verify:  `apkit verify` against apk-tools 2.14's `apk verify` of a v2 package whose data is
           --verify-mib MiB (default 2048: the one-large tree of run.py, packed by apkit), with a
           busy loop pinned to one core (--hog-cpu, `taskset`); the same for a --verify-small-mib
           package, so peak RSS can be compared across sizes. Every run must print OK.
- publish: `apkit publish --to s3://...` of a package of --publish-mib MiB of random data
           (default 1024: the file is as large) against `aws s3 cp` of the same file, to the same
           local S3 server (moto; $APKIT_TEST_MOTO_ENDPOINT, as
           `.ci/s3-servers.sh` exports it, or one started here). Every upload is HEAD-checked for
           size (the first of each tool also downloaded and compared by SHA-256) and deleted after.
           The server's own CPU time per run is recorded: moto may be what bounds both.
- index:   --index-packages small packages per format (default 100,000, written by
           Benchmarks/Tools' pkg-gen with apkit's writer; cached under Benchmarks/work/ops/index).
           Timed: a fresh index of the first --fresh-packages (default 20,000) with `apkit index`
           (and, for reference, `apk index` 2.14 / `apk mkndx` 3), and `apkit index --merge` of one
           new package into the index of all of them, for v2 (APKINDEX.tar.gz) and v3 (packages.adb).
           Outputs are checked: entry counts (v2: Python tarfile; v3: `apkit verify` + `apk adbdump`).

Wall time, user+sys CPU and peak RSS come from GNU time, as in run.py (whose helpers this reuses).
Writes Benchmarks/results/<date>-ops.md and .json, naming the CPU, cores and load average.
"""

import argparse
import datetime
import glob
import hashlib
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the whole-tool benchmark: trees, keys, summaries)

HERE, ROOT, WORK, RESULTS, log = run.HERE, run.ROOT, run.WORK, run.RESULTS, run.log
OPS = os.path.join(WORK, "ops")
PKG_GEN = os.path.join(ROOT, ".build-speed-tools", "release", "pkg-gen")
MOTO_KEY, MOTO_SECRET = "AKIAMOTOTESTING00000", "moto-secret"


# ---------------------------------------------------------------- measuring

def timed(argv, cwd=None, env=None, check=True):
    """Runs argv under GNU time: wall, user+sys CPU of the process tree, peak RSS, and its output."""
    stats = os.path.join(WORK, "ops-time.out")
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", stats] + argv, cwd=cwd, capture_output=True,
                       env=dict(os.environ, **(env or {})))
    wall = time.perf_counter() - t0
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])} ... failed ({p.returncode}): {out[-2000:]}")
    user, system, rss = open(stats).read().split()[-3:]
    return {"wall": wall, "cpu": float(user) + float(system), "rss_kib": int(rss), "size": 0,
            "rc": p.returncode, "output": out}


def summarize(samples):
    return run.summarize(samples)


def record(samples, name, s, extra=""):
    samples.setdefault(name, []).append({k: v for k, v in s.items() if k != "output"})
    log(f"  {name:44s} wall {s['wall']:7.2f}s cpu {s['cpu']:7.2f}s rss {s['rss_kib'] / 1024:7.1f}MiB {extra}")


def proc_cpu(pid):
    """user+sys seconds of a process and its waited-for children, from /proc."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return None


class Hog:
    """A Python busy loop pinned to one core: 'one core busy with other work'."""

    def __init__(self, cpu):
        self.cpu, self.proc = cpu, None

    def __enter__(self):
        if self.cpu is not None:
            self.proc = subprocess.Popen(["taskset", "-c", str(self.cpu), sys.executable, "-c", "while True: pass"])
            time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        if self.proc:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- verify

def random_tree(mib):
    """One file of `mib` MiB of seeded random bytes: a package about as large as its data."""
    path = os.path.join(WORK, "trees", f"random-{mib}")
    stamp = path + ".stamp"
    if os.path.exists(stamp):
        return path
    log(f"building tree random ({mib} MiB) ...")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(os.path.join(path, "opt/bench"))
    rng = random.Random(4242)
    with open(os.path.join(path, "opt/bench/random.bin"), "wb") as f:
        for _ in range(mib):
            f.write(rng.randbytes(1 << 20))
    open(stamp, "w").write(str(mib))
    return path


def packed(apkit, key, mib, outdir, name, tree_kind="one-large", compression="default"):
    """A v2 package of run.py's one-large tree (or a random one) of `mib` MiB, packed by apkit, cached."""
    path = os.path.join(outdir, f"{name}-1.0-r0.apk")
    if os.path.exists(path):
        return path
    tree = random_tree(mib) if tree_kind == "random" else \
        run.ensure_tree("one-large", argparse.Namespace(large_mib=mib, small_files=0))
    os.makedirs(outdir, exist_ok=True)
    log(f"packing {tree} -> {path} ...")
    run.sh([apkit, "pack", tree, "--name", name, "--version", "1.0-r0", "--arch", "x86_64", "--key", key,
            "--output", outdir, "--no-trace", "--compression", compression], stdout=subprocess.DEVNULL,
           env=dict(os.environ, SOURCE_DATE_EPOCH=run.SDE))
    return path


def bench_verify(args, apkit, key, pubdir):
    pkgs = {"large": packed(apkit, key, args.verify_mib, os.path.join(OPS, "verify"), f"bench-{args.verify_mib}m"),
            "small": packed(apkit, key, args.verify_small_mib, os.path.join(OPS, "verify"), f"bench-{args.verify_small_mib}m")}
    tools = {"apkit verify": lambda p: [apkit, "verify", "--keys-dir", pubdir, p],
             "apk 2.14 verify": lambda p: [args.apk2, "-v", "verify", "--keys-dir", pubdir, p]}
    if args.baseline:
        tools["apkit verify (baseline)"] = lambda p: [args.baseline, "verify", "--keys-dir", pubdir, p]
    if args.apk3:
        tools["apk 3 verify"] = lambda p: [args.apk3, "-v", "verify", "--keys-dir", pubdir, p]
    ok_text = {"apkit verify": ": OK", "apk 2.14 verify": ": 0 - OK", "apk 3 verify": ": OK", "apkit verify (baseline)": ": OK"}
    samples = {}
    for p in pkgs.values():
        run.sh(["cat", p], stdout=subprocess.DEVNULL)  # page cache
    log(f"== verify ({', '.join(f'{k} {os.path.getsize(p):,} bytes' for k, p in pkgs.items())}), hog on cpu {args.hog_cpu}")
    with Hog(args.hog_cpu):
        for r in range(args.runs):
            order = list(tools) if r % 2 == 0 else list(reversed(list(tools)))
            for size in ("large", "small"):
                for t in order:
                    s = timed(tools[t](pkgs[size]), check=False)
                    if s["rc"] != 0 or ok_text[t] not in s["output"]:
                        raise RuntimeError(f"{t} {pkgs[size]}: not OK (rc {s['rc']}): {s['output'][-500:]}")
                    record(samples, f"{t} ({size})", s, "OK")
    info = {k: {"path": os.path.relpath(p, ROOT), "bytes": os.path.getsize(p),
                "data_mib": args.verify_mib if k == "large" else args.verify_small_mib} for k, p in pkgs.items()}
    return {"packages": info, "hog_cpu": args.hog_cpu, "samples": samples,
            "summary": {t: summarize(v) for t, v in samples.items()}}


# ---------------------------------------------------------------- publish

class Moto:
    """The moto server of $APKIT_TEST_MOTO_ENDPOINT, or one started here (and stopped after)."""

    def __init__(self):
        self.proc, self.endpoint, self.pid = None, os.environ.get("APKIT_TEST_MOTO_ENDPOINT"), None

    def __enter__(self):
        if not self.endpoint:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            self.log = open(os.path.join(OPS, "moto.log"), "w")
            self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                         stdout=self.log, stderr=subprocess.STDOUT)
            self.endpoint, self.pid = f"http://127.0.0.1:{port}", self.proc.pid
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.2)
        else:
            port = self.endpoint.rsplit(":", 1)[1].strip("/")
            out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
            self.pid = int(out.split("pid=")[1].split(",")[0]) if "pid=" in out else None
        return self

    def __exit__(self, *exc):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()


def s3_client(endpoint):
    import boto3
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=MOTO_KEY, aws_secret_access_key=MOTO_SECRET,
                        region_name="us-east-1")


def s3_clear(s3, bucket, prefix):
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=o["Key"])


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def bench_publish(args, apkit, key, pubdir):
    pkg = packed(apkit, key, args.publish_mib, os.path.join(OPS, "publish"), f"bench-random-{args.publish_mib}m", "random", "fast")
    size = os.path.getsize(pkg)
    digest = sha256_file(pkg)
    name = os.path.basename(pkg)
    aws = shutil.which(args.aws) or args.aws
    env = {"AWS_ACCESS_KEY_ID": MOTO_KEY, "AWS_SECRET_ACCESS_KEY": MOTO_SECRET, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_REGION": "us-east-1"}
    samples, checks, moto_cpu = {}, {}, {}
    with Moto() as moto:
        s3 = s3_client(moto.endpoint)
        bucket = "apkit-ops-bench"
        try:
            s3.create_bucket(Bucket=bucket)
        except Exception as e:  # already there (an outside server reused)
            log(f"create_bucket: {e}")
        tools = {}
        for c in args.concurrency:
            tools[f"apkit publish --concurrency {c}"] = lambda prefix, c=c: (
                [apkit, "publish", "--to", f"s3://{bucket}/{prefix}", "--endpoint", moto.endpoint, "--path-style",
                 "--key", key, "--keys-dir", pubdir, "--no-progress", "--concurrency", str(c), pkg],
                f"{prefix}/x86_64/{name}")
        tools["aws s3 cp"] = lambda prefix: (
            [aws, "--endpoint-url", moto.endpoint, "s3", "cp", pkg, f"s3://{bucket}/{prefix}/x86_64/{name}",
             "--no-progress", "--only-show-errors"], f"{prefix}/x86_64/{name}")
        run.sh(["cat", pkg], stdout=subprocess.DEVNULL)
        log(f"== publish {size:,} bytes to moto at {moto.endpoint} (pid {moto.pid})")
        for r in range(args.runs):
            order = list(tools) if r % 2 == 0 else list(reversed(list(tools)))
            for t in order:
                prefix = f"run{r}-{t.replace(' ', '_').replace('-', '')}"
                argv, obj = tools[t](prefix)
                m0 = proc_cpu(moto.pid) if moto.pid else None
                s = timed(argv, env=env)
                m1 = proc_cpu(moto.pid) if moto.pid else None
                head = s3.head_object(Bucket=bucket, Key=obj)
                if head["ContentLength"] != size:
                    raise RuntimeError(f"{t}: {obj} has {head['ContentLength']} bytes, not {size}")
                if t not in checks:
                    with tempfile.NamedTemporaryFile(dir=OPS) as tmp:
                        s3.download_file(bucket, obj, tmp.name)
                        got = sha256_file(tmp.name)
                    if got != digest:
                        raise RuntimeError(f"{t}: {obj} differs from the package (sha256 {got})")
                    listed = sorted(o["Key"][len(prefix) + 1:] for o in
                                    s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", []))
                    checks[t] = f"{obj}: {size:,} bytes, SHA-256 matches the package; objects written: {', '.join(listed)}"
                s["mbps"] = size / s["wall"] / 1e6
                if m0 is not None and m1 is not None:
                    s["server_cpu"] = m1 - m0
                    moto_cpu.setdefault(t, []).append(m1 - m0)
                record(samples, t, s, f"{s['mbps']:.0f} MB/s, server cpu {s.get('server_cpu', float('nan')):.2f}s")
                s3_clear(s3, bucket, prefix + "/")
    summary = {}
    for t, v in samples.items():
        summary[t] = summarize(v)
        summary[t]["mbps"] = size / summary[t]["wall"] / 1e6
        if moto_cpu.get(t):
            summary[t]["server_cpu"] = run.median(moto_cpu[t])
    return {"package": {"path": os.path.relpath(pkg, ROOT), "bytes": size, "data_mib": args.publish_mib},
            "server": "moto " + version_of([sys.executable, "-c", "import moto; print(moto.__version__)"]),
            "aws": version_of([aws, "--version"]), "samples": samples, "checks": checks, "summary": summary}


# ---------------------------------------------------------------- index

def generated(fmt, key, count, start, dest):
    """`count` packages from pkg-gen (numbers start..), cached by a stamp."""
    stamp = dest + ".stamp"
    want = json.dumps({"count": count, "start": start})
    if os.path.isdir(dest) and os.path.exists(stamp) and open(stamp).read() == want:
        return sorted(os.listdir(dest))
    if not os.access(PKG_GEN, os.X_OK):
        sys.exit(f"{PKG_GEN} missing: cd Benchmarks/Tools && swift build -c release --scratch-path ../../.build-speed-tools --product pkg-gen")
    shutil.rmtree(dest, ignore_errors=True)
    log(f"generating {count:,} {fmt} packages in {dest} ...")
    run.sh([PKG_GEN, "--format", fmt, "--count", str(count), "--start", str(start), "--key", key, "--output", dest])
    with open(stamp, "w") as f:
        f.write(want)
    return sorted(os.listdir(dest))


def index_entries(path, fmt, apkit, apk3, pubdir):
    if fmt == "v2":
        with tarfile.open(path) as t:
            text = t.extractfile("APKINDEX").read().decode()
        return text.count("\nP:") + text.startswith("P:")
    out = subprocess.run([apkit, "verify", "--keys-dir", pubdir, path], capture_output=True, text=True)
    if out.returncode != 0 or ": OK" not in out.stdout:
        raise RuntimeError(f"apkit verify {path}: {out.stdout} {out.stderr}")
    if not apk3:
        return None
    dump = subprocess.run([apk3, "adbdump", "--keys-dir", pubdir, path], capture_output=True, text=True, check=True).stdout
    return sum(1 for l in dump.splitlines() if l.startswith("  - name: "))


def bench_index(args, apkit, key, pubdir):
    results = {}
    for fmt in args.index_formats:
        base = os.path.join(OPS, "index", fmt)
        names = generated(fmt, key, args.index_packages, 0, os.path.join(base, "pkgs"))
        new = generated(fmt, key, 1, args.index_packages, os.path.join(base, "new"))
        pkgdir = os.path.join(base, "pkgs")
        out = os.path.join(base, "out")
        os.makedirs(out, exist_ok=True)
        idx = "APKINDEX.tar.gz" if fmt == "v2" else "packages.adb"
        fresh = names[:args.fresh_packages]
        common = ["--key", key, "--keys-dir", pubdir]
        samples, checks, setup = {}, {}, {}
        # The big index: a fresh index of the first batch, then the others merged in (batches keep the
        # command line under ARG_MAX); each step is timed and kept as setup information.
        big = os.path.join(base, f"big-{args.index_packages}.{idx}")
        if not os.path.exists(big):
            log(f"== {fmt}: building the {args.index_packages:,}-entry index in batches of {args.fresh_packages:,}")
            cur = None
            for b in range(0, len(names), args.fresh_packages):
                batch = names[b:b + args.fresh_packages]
                dst = os.path.join(out, f"batch-{b}.{idx}")
                s = timed([apkit, "index"] + common + (["--merge", cur] if cur else []) + ["-o", dst] + batch, cwd=pkgdir)
                setup[f"{'merge' if cur else 'fresh'} {len(batch):,} into {b:,}"] = {k: s[k] for k in ("wall", "cpu", "rss_kib")}
                log(f"  batch {b:,}: wall {s['wall']:.2f}s")
                if cur:
                    os.remove(cur)
                cur = dst
            os.replace(cur, big)
        n_big = index_entries(big, fmt, apkit, args.apk3, pubdir)
        if n_big is not None and n_big != len(names):
            raise RuntimeError(f"{big}: {n_big} entries, not {len(names)}")
        tools = {} if args.index_merge_only else {
            f"apkit index, fresh {len(fresh):,}": ([apkit, "index"] + common + ["-o", os.path.join(out, "fresh-apkit." + idx)] + fresh,
                                                   pkgdir, len(fresh), os.path.join(out, "fresh-apkit." + idx)),
        }
        tools |= {
            f"apkit index --merge 1 into {len(names):,}": (
                [apkit, "index"] + common + ["--merge", big, "-o", os.path.join(out, "merged." + idx), os.path.join(base, "new", new[0])],
                pkgdir, len(names) + 1, os.path.join(out, "merged." + idx)),
        }
        if args.baseline and not args.index_merge_only:
            tools[f"apkit index, fresh {len(fresh):,} (baseline)"] = (
                [args.baseline, "index"] + common + ["-o", os.path.join(out, "fresh-base." + idx)] + fresh,
                pkgdir, len(fresh), os.path.join(out, "fresh-base." + idx))
        if args.baseline:
            tools[f"apkit index --merge 1 into {len(names):,} (baseline)"] = (
                [args.baseline, "index"] + common + ["--merge", big, "-o", os.path.join(out, "merged-base." + idx),
                                                     os.path.join(base, "new", new[0])],
                pkgdir, len(names) + 1, os.path.join(out, "merged-base." + idx))
        # What the command line alone costs: the same arguments, stopped at the (missing) key
        # right after they are parsed.
        if not args.index_merge_only:
            tools[f"apkit index: parse {len(fresh):,} arguments, stop"] = (
            [apkit, "index", "--key", os.path.join(out, "no-such-key.rsa"), "-o", os.path.join(out, "never." + idx)] + fresh,
            pkgdir, None, None)
        if fmt == "v2" and args.apk2 and not args.index_merge_only:
            tools[f"apk 2.14 index, fresh {len(fresh):,} (unsigned)"] = (
                [args.apk2, "index", "--keys-dir", pubdir, "-o", os.path.join(out, "fresh-apk2." + idx)] + fresh,
                pkgdir, len(fresh), os.path.join(out, "fresh-apk2." + idx))
        if fmt == "v3" and args.apk3 and not args.index_merge_only:
            tools[f"apk 3 mkndx, fresh {len(fresh):,} (unsigned)"] = (
                [args.apk3, "mkndx", "--keys-dir", pubdir, "-o", os.path.join(out, "fresh-apk3." + idx)] + fresh,
                pkgdir, len(fresh), os.path.join(out, "fresh-apk3." + idx))
        log(f"== index {fmt}: {len(names):,} packages, fresh {len(fresh):,}, merge into {len(names):,}")
        for r in range(args.index_runs):
            order = list(tools) if r % 2 == 0 else list(reversed(list(tools)))
            for t in order:
                argv, cwd, want, dst = tools[t]
                if dst is None:  # expected to fail on the key, after parsing
                    s = timed(argv, cwd=cwd, check=False)
                    if s["rc"] == 0 or "no-such-key" not in s["output"]:
                        raise RuntimeError(f"{t}: expected a failure naming the key: {s['output'][-300:]}")
                    record(samples, t, s, "(fails on the key, as intended)")
                    continue
                s = timed(argv, cwd=cwd)
                s["size"] = os.path.getsize(dst)
                if t not in checks:
                    n = index_entries(dst, fmt, apkit, args.apk3 if "apkit" in t else None, pubdir) \
                        if "apkit" in t or fmt == "v2" else None
                    if n is not None and n != want:
                        raise RuntimeError(f"{t}: {n} entries, not {want}")
                    checks[t] = f"{n if n is not None else '?'} entries" + (" (apkit verify: OK)" if fmt == "v3" and "apkit" in t else "")
                record(samples, t, s, f"{s['size']:,} bytes")
        if args.baseline:
            for a, b in (("fresh-apkit", "fresh-base"), ("merged", "merged-base"))[1 if args.index_merge_only else 0:]:
                pa, pb = os.path.join(out, f"{a}.{idx}"), os.path.join(out, f"{b}.{idx}")
                same = open(pa, "rb").read() == open(pb, "rb").read()
                checks[f"{a}.{idx} vs baseline"] = "byte-identical" if same else "DIFFERENT"
        results[fmt] = {"packages": len(names), "fresh": len(fresh), "index_bytes": os.path.getsize(big),
                        "setup": setup, "samples": samples, "checks": checks,
                        "summary": {t: summarize(v) for t, v in samples.items()}}
    return results


# ---------------------------------------------------------------- report

def version_of(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
        out = (p.stdout or p.stderr).strip()
        return out.splitlines()[0] if out else "?"
    except OSError:
        return "missing"


def cpu_model():
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for l in out.splitlines():
        if l.startswith("Model name:"):
            return l.split(":", 1)[1].strip()
    return platform.processor() or "?"


def table(summary, peer=None, extra=()):
    head = "| tool | wall s | CPU s | peak RSS MiB |" + "".join(f" {h} |" for h, _ in extra) + (" wall / peer |" if peer else "")
    md = [head, "| --- " + "| ---: " * (3 + len(extra) + (1 if peer else 0)) + "|"]
    for t, s in summary.items():
        row = f"| {t} | {s['wall']:.2f} | {s['cpu']:.2f} | {s['rss_mib']:.1f} |" + "".join(f" {f(s)} |" for _, f in extra)
        if peer:
            row += f" {s['wall'] / summary[peer]['wall']:.3f} |" if peer in summary else " |"
        md.append(row)
    return md + [""]


def write_report(meta, res, stamp):
    md = [f"# apkit operations benchmark, {stamp}", "",
          f"- machine: {meta['cpu']}, {meta['cores']} cores (lscpu); load average at start {meta['load']}, at the end {meta['load_end']}",
          (f"- apkit {meta['apkit_commit']} (release build)" if meta.get("apkit_commit") else f"- apkit: `{meta['apkit']}`")
          + (f"; baseline `{meta['baseline']}`" if meta.get("baseline") else "") + f"; {(meta['apk2'] or 'no apk 2').rstrip('.')}; {(meta['apk3'] or 'no apk 3').rstrip('.')}",
          f"- {meta['runs']} runs per tool, interleaved (order reversed every other run); medians. Wall = whole process;"
          " CPU = user+sys of the process tree; peak RSS = largest single process (GNU time %M).",
          f"- command: `{meta['command']}`"] + ([f"- note: {meta['note']}"] if meta["note"] else []) + [""]
    nhead = len(md)
    goals = []
    if "verify" in res:
        v = res["verify"]
        s = v["summary"]
        big, small = v["packages"]["large"], v["packages"]["small"]
        md += ["## verify", "",
               f"v2 packages packed by apkit (default compression) from run.py's one-large tree: large = {big['data_mib']:,} MiB of"
               f" data, {big['bytes']:,} bytes of package; small = {small['data_mib']:,} MiB, {small['bytes']:,} bytes. "
               + (f"A Python busy loop runs on cpu {v['hog_cpu']} (`taskset`) during every run. " if v["hog_cpu"] is not None else "")
               + "Every run printed OK (apkit: `FILE: OK`; apk: `FILE: 0 - OK`, with `--keys-dir`, so signatures are checked).", ""]
        md += table(s, None)
        a, p = s.get("apkit verify (large)"), s.get("apk 2.14 verify (large)")
        if a and p:
            goals.append(f"| verify {big['data_mib']:,} MiB v2, one core busy | wall | {a['wall'] / p['wall']:.3f} × apk 2.14 | ≤ 1.0 | {'met' if a['wall'] <= p['wall'] else 'NOT met'} |")
            goals.append(f"| (verify, same run) | CPU | {a['cpu'] / p['cpu']:.3f} × apk 2.14 (apkit also checks every file's SHA-1) | | |")
        a2 = s.get("apkit verify (small)")
        if a and a2:
            goals.append(f"| verify memory | peak RSS large / small | {a['rss_mib']:.1f} / {a2['rss_mib']:.1f} MiB = {a['rss_mib'] / a2['rss_mib']:.2f} | flat | {'met' if a['rss_mib'] <= 1.1 * a2['rss_mib'] + 2 else 'NOT met'} |")
    if "publish" in res:
        p = res["publish"]
        s = p["summary"]
        md += ["## publish", "",
               f"One v2 package of {p['package']['data_mib']:,} MiB of random data ({p['package']['bytes']:,} bytes) to {p['server']} on"
               f" 127.0.0.1, {p['aws']}. apkit publish also reads the package's control part, writes the public key and a"
               " signed APKINDEX.tar.gz; `aws s3 cp` uploads the file only (its defaults: 8 MiB parts, 10 at once)."
               " Server CPU = user+sys seconds of the moto process during the run.", ""]
        md += table(s, "aws s3 cp", extra=[("MB/s", lambda x: f"{x['mbps']:.0f}"),
                                           ("server CPU s", lambda x: f"{x['server_cpu']:.2f}" if "server_cpu" in x else "?")])
        md += ["Checks (first upload of each tool):", ""] + [f"- {t}: {c}" for t, c in p["checks"].items()] + [""]
        peer = s.get("aws s3 cp")
        for t, x in s.items():
            if t.startswith("apkit") and peer:
                goals.append(f"| publish {p['package']['bytes'] / 2**30:.2f} GiB, {t[len('apkit publish '):]} | throughput | {x['mbps'] / peer['mbps']:.3f} × aws s3 cp | ≥ 1.0 | {'met' if x['mbps'] >= peer['mbps'] else 'NOT met'} |")
    if "index" in res:
        md += ["## index at scale", ""]
        for fmt, r in res["index"].items():
            md += [f"### {fmt} ({'APKINDEX.tar.gz' if fmt == 'v2' else 'packages.adb'})", "",
                   f"{r['packages']:,} small packages from `pkg-gen` (one 64-byte file; names, versions, depends and"
                   f" provides shaped like Alpine's); the {r['packages']:,}-entry index is {r['index_bytes']:,} bytes.", ""]
            md += table(r["summary"], None, extra=[("index bytes", lambda x: f"{int(x['size']):,}" if x["size"] else "")])
            md += ["Checks: " + "; ".join(f"{t}: {c}" for t, c in r["checks"].items()), ""]
            if r["setup"]:
                md += ["Building the big index (untimed setup, one run): " + "; ".join(
                    f"{k}: {v['wall']:.2f} s" for k, v in r["setup"].items()), ""]
            for t, x in r["summary"].items():
                if "baseline" in t:
                    continue
                if t.startswith("apkit index --merge"):
                    goals.append(f"| index {fmt}: merge 1 into {r['packages']:,} | wall | {x['wall']:.2f} s | < 1 s | {'met' if x['wall'] < 1 else 'NOT met'} |")
                elif t.startswith("apkit index, fresh"):
                    goals.append(f"| index {fmt}: fresh {r['fresh']:,} | wall | {x['wall']:.2f} s | seconds | {'met' if x['wall'] < 60 else 'NOT met'} |")
    md = md[:nhead] + ["## Goals (issue 13, wave 2)", "", "| what | measure | value | target | |", "| --- | --- | --- | --- | --- |"] + goals + [""] + md[nhead:]
    return run.save_results(stamp, md, meta, res)


def main():
    global OPS, PKG_GEN
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sections", default="verify,publish,index", help="comma list of verify, publish, index")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--apkit", help="apkit binary (default: release build in .build-release, built unless --no-build)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--apk2", default=os.environ.get("APK2"), help="apk-tools 2.14 binary (default $APK2); needed for verify")
    ap.add_argument("--apk3", default=os.environ.get("APK3"), help="apk-tools 3 binary (default $APK3): extra reference rows")
    ap.add_argument("--aws", default="aws", help="AWS CLI (pip install awscli)")
    ap.add_argument("--baseline", help="another apkit binary (e.g. before a change): extra verify and index rows")
    ap.add_argument("--verify-mib", type=int, default=2048, help="data in the large verify package, MiB")
    ap.add_argument("--verify-small-mib", type=int, default=64, help="data in the small verify package, MiB")
    ap.add_argument("--hog-cpu", default="1", help="cpu the busy loop is pinned to during verify, or none")
    ap.add_argument("--publish-mib", type=int, default=1024, help="data in the published package, MiB")
    ap.add_argument("--concurrency", default="4,10", help="apkit publish --concurrency values (4: apkit's default; 10: aws's)")
    ap.add_argument("--index-packages", type=int, default=100000)
    ap.add_argument("--fresh-packages", type=int, default=20000)
    ap.add_argument("--index-formats", default="v2,v3")
    ap.add_argument("--index-runs", type=int, default=3, help="runs per index tool (a fresh 20,000 takes ~10-30 s)")
    ap.add_argument("--index-merge-only", action="store_true",
                    help="index: time only the merge of one package into the big index (and its baseline)")
    ap.add_argument("--pkg-gen", help="pkg-gen binary (default: .build-speed-tools/release/pkg-gen)")
    ap.add_argument("--work", default=OPS, help="where packages and outputs are kept (default Benchmarks/work/ops)")
    ap.add_argument("--tag", default="ops")
    ap.add_argument("--note", default="")
    ap.add_argument("--report-only", metavar="JSON", help="rewrite the .md of an earlier run from its .json, and stop")
    args = ap.parse_args()
    if args.report_only:
        saved = json.load(open(args.report_only))
        log("wrote " + write_report(saved["meta"], saved["results"], saved["meta"]["date"]))
        return
    sections = [s for s in args.sections.split(",") if s]
    args.hog_cpu = None if args.hog_cpu == "none" else int(args.hog_cpu)
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    args.index_formats = [f for f in args.index_formats.split(",") if f]
    for a in ("apk2", "apk3", "baseline"):
        if getattr(args, a):
            setattr(args, a, os.path.abspath(getattr(args, a)))
    if "verify" in sections and not args.apk2:
        sys.exit("verify needs --apk2 PATH (apk-tools 2.14)")

    if args.pkg_gen:
        PKG_GEN = os.path.abspath(args.pkg_gen)
    OPS = os.path.abspath(args.work)
    os.makedirs(OPS, exist_ok=True)
    apkit = args.apkit or os.path.join(ROOT, ".build-release", "release", "apkit")
    if not args.apkit and not args.no_build:
        log("building apkit (release) ...")
        run.sh(["swift", "build", "-c", "release", "--scratch-path", ".build-release", "--product", "apkit"], cwd=ROOT)
    key = os.path.join(WORK, "keys", "bench.rsa")
    if not os.path.exists(key):
        os.makedirs(os.path.dirname(key), exist_ok=True)
        run.sh(["openssl", "genrsa", "-out", key, "2048"], stderr=subprocess.DEVNULL)
        run.sh(["openssl", "rsa", "-in", key, "-pubout", "-out", key + ".pub"], stderr=subprocess.DEVNULL)
    pubdir = os.path.join(WORK, "keys-pub")
    os.makedirs(pubdir, exist_ok=True)
    shutil.copyfile(key + ".pub", os.path.join(pubdir, "bench.rsa.pub"))

    stamp = datetime.date.today().isoformat() + (f"-{args.tag}" if args.tag else "")
    meta = {"date": stamp, "cpu": cpu_model(), "cores": os.cpu_count(),
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            # The working tree's commit only when the binary was built from it here.
            "apkit_commit": None if args.apkit else subprocess.run(
                ["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip(),
            "apk2": version_of([args.apk2, "--version"]) if args.apk2 else None,
            "apk3": version_of([args.apk3, "--version"]) if args.apk3 else None,
            "apkit": apkit, "baseline": args.baseline, "runs": args.runs, "command": " ".join(["python3", "Benchmarks/ops.py"] + sys.argv[1:]), "note": args.note,
            "python": platform.python_version()}
    started = time.time()
    res = {}
    for sec in sections:
        res[sec] = {"verify": bench_verify, "publish": bench_publish, "index": bench_index}[sec](args, apkit, key, pubdir)
    meta["minutes"] = round((time.time() - started) / 60, 1)
    meta["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    path = write_report(meta, res, stamp)
    log(f"wrote {path} in {meta['minutes']} min")
    print(open(path).read())


if __name__ == "__main__":
    main()
