#!/usr/bin/env python3
"""Reference data tar for a staged tree, made the way abuild 3.18 makes it, for apkit's tests.

Runs GNU tar with the flags of abuild's `create_apks`/`apk_tar` (sorted `find` list, posix format,
`%d/PaxHeaders/%f` header names, atime/ctime records of 0, xattrs without security.selinux,
owner/group maps to root), then applies what `abuild-tar --hash` does to that stream: every
regular file (type 0/7) and symlink (type 2) gets an `APK-TOOLS.checksum.SHA1=<hex>` record
appended to its pax header (SHA-1 of the content, or of the link target), with the pax header's
size and checksum fields updated. Writes the resulting uncompressed tar to stdout.

usage: abuild_data_tar.py STAGEDIR EPOCH [user:NAME | group:NAME ...]
(abuild's pkgusers / pkggroups: files they own keep the name, with id 0)
       abuild_data_tar.py --hash < TAR > HASHED_TAR
(only the `abuild-tar --hash` step, as a filter over a posix tar whose every entry has a pax
header, as abuild's GNU tar flags make; Benchmarks/run.py uses it when no abuild-tar is given)
"""
import hashlib, os, subprocess, sys, tempfile


def octal(value, width):
    return ("%0*o" % (width - 1, value)).encode() + b"\0"


def header_checksum(h):
    h = bytearray(h)
    h[148:156] = b" " * 8
    s = sum(h)
    h[148:156] = ("%06o" % s).encode() + b"\0 "
    return bytes(h)


def record(key, value):
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + len(str(len(body)))
    if len(str(n)) != len(str(len(body))):
        n = len(body) + len(str(n))
    return str(n).encode() + body


def main():
    stage, epoch = sys.argv[1], sys.argv[2]
    users = [a[5:] for a in sys.argv[3:] if a.startswith("user:")]
    group_names = [a[6:] for a in sys.argv[3:] if a.startswith("group:")]
    with tempfile.TemporaryDirectory() as d:
        owners = os.path.join(d, "owners")
        groups = os.path.join(d, "groups")
        with open(owners, "w") as f:
            for u in ["root"] + users:
                f.write("%s %s:0\n" % (u, u))
        with open(groups, "w") as f:
            for g in ["root"] + group_names:
                f.write("%s %s:0\n" % (g, g))
        script = (
            'cd "$1" && set -- * && '
            '{ if [ "$1" != "*" ]; then find "$@" -exec touch -h -d "@$EPOCH" {} + ; find "$@" -print0; fi; } '
            '| LC_ALL=C sort -z | tar --mtime="@$EPOCH" --format=posix '
            '--pax-option=exthdr.name=%d/PaxHeaders/%f,atime:=0,ctime:=0 --no-recursion --null -f - -c -T - '
            '--xattrs --xattrs-exclude=security.selinux --owner-map="$OWNERS" --group-map="$GROUPS"'
        )
        env = dict(os.environ, EPOCH=epoch, OWNERS=owners, GROUPS=groups)
        r = subprocess.run(["bash", "-c", script, "x", stage], env=env, capture_output=True)
        if r.returncode != 0:
            sys.exit("abuild_data_tar.py: GNU tar failed: " + r.stderr.decode(errors="replace"))
        raw = r.stdout
    sys.stdout.buffer.write(add_checksums(raw))


def add_checksums(raw):
    """`abuild-tar --hash`: an APK-TOOLS.checksum.SHA1 record in the pax header of every regular
    file (type 0/7, of its content) and symlink (type 2, of its target)."""
    out = bytearray()
    off = 0
    pax_header, pax_body = None, b""
    while off + 512 <= len(raw):
        h = raw[off:off + 512]
        size = int(h[124:136].rstrip(b"\0 ") or b"0", 8)
        body = raw[off + 512:off + 512 + size]
        padded = (size + 511) // 512 * 512
        off += 512 + padded
        if h == b"\0" * 512:
            out += h
            continue
        t = h[156:157]
        if t == b"x":
            pax_header, pax_body = h, body
            continue
        if t in (b"0", b"7", b"2"):
            if t == b"2":
                target = h[157:257].split(b"\0")[0]
                for line in pax_body.split(b"\n"):
                    if b" linkpath=" in line:
                        target = line.split(b" linkpath=", 1)[1]
                digest = hashlib.sha1(target).hexdigest().encode()
            else:
                digest = hashlib.sha1(body).hexdigest().encode()
            pax_body = pax_body + record(b"APK-TOOLS.checksum.SHA1", digest)
            ph = bytearray(pax_header)
            ph[124:136] = octal(len(pax_body), 12)
            pax_header = header_checksum(ph)
        if pax_header is not None:
            out += pax_header + pax_body + b"\0" * ((512 - len(pax_body) % 512) % 512)
        out += h + raw[off - padded:off]
        pax_header, pax_body = None, b""
    return bytes(out)


if __name__ == "__main__":
    if sys.argv[1:] == ["--hash"]:
        sys.stdout.buffer.write(add_checksums(sys.stdin.buffer.read()))
    else:
        main()
