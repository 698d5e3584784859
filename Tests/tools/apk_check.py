#!/usr/bin/env python3
"""Independent reader of apk v2 packages and indexes, for apkit's tests.

Uses only Python's zlib, gzip, tarfile and hashlib (and `openssl` for signatures), never apkit's
code. Prints one JSON document describing what it found; the tests assert on it.

usage: apk_check.py FILE [--pubkey KEY.rsa.pub]
"""
import base64, gzip, hashlib, io, json, os, subprocess, sys, tarfile, tempfile, zlib


def split_members(data):
    """Split concatenated gzip members; each must be complete."""
    members, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        raw = d.decompress(data[pos:]) + d.flush()
        if not d.eof:
            raise ValueError("truncated gzip member at offset %d" % pos)
        used = len(data) - pos - len(d.unused_data)
        members.append((data[pos:pos + used], raw))
        pos += used
    return members


def tar_entries(raw, cut):
    """Parse a tar (cut or not) with tarfile; a cut tar gets end blocks appended."""
    if cut:
        raw = raw + b"\0" * 1024
    t = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
    out = []
    for m in t.getmembers():
        e = {
            "name": m.name, "type": m.type.decode(), "mode": m.mode, "uid": m.uid, "gid": m.gid,
            "uname": m.uname, "gname": m.gname, "size": m.size, "mtime": int(m.mtime),
            "linkname": m.linkname, "pax": {k: v for k, v in m.pax_headers.items()},
        }
        if m.isfile():
            content = t.extractfile(m).read()
            e["sha1"] = hashlib.sha1(content).hexdigest()
            if m.name in (".PKGINFO", "DESCRIPTION", "APKINDEX"):
                e["text"] = content.decode("utf-8", "replace")
        elif m.issym():
            e["sha1"] = hashlib.sha1(m.linkname.encode()).hexdigest()
        out.append(e)
    return out


def openssl_verify(pubkey, digest, sig, data):
    with tempfile.TemporaryDirectory() as d:
        sp, dp = os.path.join(d, "sig"), os.path.join(d, "data")
        open(sp, "wb").write(sig)
        open(dp, "wb").write(data)
        r = subprocess.run(["openssl", "dgst", "-" + digest, "-verify", pubkey, "-signature", sp, dp],
                           capture_output=True)
        return r.returncode == 0


def main():
    path = sys.argv[1]
    pubkey = sys.argv[sys.argv.index("--pubkey") + 1] if "--pubkey" in sys.argv else None
    data = open(path, "rb").read()
    members = split_members(data)
    report = {"members": len(members), "member_sizes": [len(m[0]) for m in members]}
    # Every member must also be accepted by Python's gzip module on its own.
    for comp, raw in members:
        assert gzip.decompress(comp) == raw
    sig_entries = tar_entries(members[0][1], cut=True)
    report["signatures"] = [e["name"] for e in sig_entries]
    control_comp, control_raw = members[1]
    is_index = len(members) == 2
    control = tar_entries(control_raw, cut=not is_index)
    report["control"] = [{k: e[k] for k in ("name", "mode", "uname", "gname", "type", "mtime")} for e in control]
    report["control_sha1_b64"] = "Q1" + base64.b64encode(hashlib.sha1(control_comp).digest()).decode()
    for e in control:
        if "text" in e:
            report[e["name"].lstrip(".").lower()] = e["text"]
    if pubkey:
        algos = {"RSA": "sha1", "RSA256": "sha256", "RSA512": "sha512"}
        results = {}
        with tarfile.open(fileobj=io.BytesIO(members[0][1] + b"\0" * 1024)) as t:
            for m in t.getmembers():
                kind = m.name.split(".")[2]
                results[m.name] = openssl_verify(pubkey, algos[kind], t.extractfile(m).read(), control_comp)
        report["signature_valid"] = results
    if not is_index:
        data_comp, data_raw = members[2]
        report["datahash"] = hashlib.sha256(data_comp).hexdigest()
        entries = tar_entries(data_raw, cut=False)
        bad = []
        for e in entries:
            stored = e["pax"].get("APK-TOOLS.checksum.SHA1")
            if e["type"] in ("0", "2"):
                if stored != e["sha1"]:
                    bad.append(e["name"])
            elif stored is not None:
                bad.append(e["name"])
        report["checksum_mismatches"] = bad
        report["entries"] = [{k: v for k, v in e.items() if k not in ("text",)} for e in entries]
    print(json.dumps(report, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
