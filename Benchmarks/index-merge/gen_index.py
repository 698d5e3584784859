#!/usr/bin/env python3
"""Writes an unsigned APKINDEX.tar.gz with N generated entries shaped like Alpine's (fixed seed)."""
import base64, hashlib, io, random, sys, tarfile

n, out = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(42)
words = ["lib", "py3", "perl", "ruby", "lua", "dev", "doc", "openrc", "static", "utils", "tools", "data", "x11", "gtk", "qt5"]
lines = []
for i in range(n):
    name = f"{rnd.choice(words)}-{rnd.choice(words)}-{i}"
    ver = f"{rnd.randint(0, 30)}.{rnd.randint(0, 99)}.{rnd.randint(0, 20)}-r{rnd.randint(0, 5)}"
    csum = base64.b64encode(hashlib.sha1(f"{name}{ver}".encode()).digest()).decode()
    deps = " ".join(f"so:lib{rnd.choice(words)}{rnd.randint(0, 99)}.so.{rnd.randint(0, 9)}" for _ in range(rnd.randint(0, 6)))
    provs = " ".join(f"cmd:{name}{k}={ver}" for k in range(rnd.randint(0, 4)))
    e = [f"C:Q1{csum}", f"P:{name}", f"V:{ver}", "A:x86_64", f"S:{rnd.randint(2000, 5000000)}",
         f"I:{rnd.randint(4000, 20000000)}", f"T:Generated package number {i} for the merge benchmark",
         f"U:https://example.org/{name}", "L:MIT", f"o:{name}", "m:Bench Mark <bench@example.org>",
         f"t:{1700000000 + i}", f"c:{hashlib.sha1(name.encode()).hexdigest()}"]
    if deps: e.append("D:" + deps)
    if provs: e.append("p:" + provs)
    lines.append("\n".join(e) + "\n\n")
text = "".join(lines).encode()
buf = io.BytesIO()
with tarfile.open(out, "w:gz", format=tarfile.USTAR_FORMAT) as t:
    for name, data in [("DESCRIPTION", b"benchmark"), ("APKINDEX", text)]:
        ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = 0o644; ti.mtime = 1700000000
        t.addfile(ti, io.BytesIO(data))
print(f"generated {n} entries, {len(text)} bytes of APKINDEX text")
