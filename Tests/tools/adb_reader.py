#!/usr/bin/env python3
"""Independent reader for apk v3 ("ADB") packages and indexes.

Written from docs/apk-v3-format.md (not from apk-tools code).

  adb_reader.py dump   FILE [--pubkey PEM ...]   text dump like `apk adbdump`
  adb_reader.py json   FILE                      decoded tree as JSON
  adb_reader.py verify FILE --pubkey PEM ... [--allow-untrusted]
        checks framing, block order, structure bounds and kinds, signatures
        (key matched by key id), unique id, DATA blocks and file hashes.
        Prints OK (exit 0) or one line describing the problem (exit 1).

Only the Python standard library is required. zstd input needs the
`zstandard` module or the `zstd` command; signatures need `openssl`.
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib


class AdbError(Exception):
    """A problem with the input file (reported, never a traceback)."""


class OOBBlob(bytes):
    """Lenient read of a blob whose data lies outside the ADB block: apk
    then sees a NULL pointer with a non-zero length (dump emulation only)."""
    oob_len = 0


# --------------------------------------------------------------------------
# Constants (doc §1-§5)

SCHEMA_PACKAGE = 0x676B6370   # "pckg"
SCHEMA_INDEX = 0x78646E69     # "indx"
SCHEMA_IDB = 0x00626469       # "idb\0"
MAGIC = b"ADB."

BLK_ADB, BLK_SIG, BLK_DATA, BLK_EXT = 0, 1, 2, 3

T_SPECIAL, T_INT, T_INT32, T_INT64 = 0x0, 0x1, 0x2, 0x3
T_BLOB8, T_BLOB16, T_BLOB32 = 0x8, 0x9, 0xA
T_ARRAY, T_OBJECT = 0xD, 0xE

# Scalar kinds: storage class, dump hint
BLOB_KINDS = {"string", "mstring", "hexblob", "xattr"}
INT_KINDS = {"int", "time", "hsize", "oct"}

# Schema tables (field number = position + 1). A kind is a scalar kind name,
# ("obj", schema) or ("arr", item kind).
DEP = ("obj", "dependency")
DEPS = ("arr", DEP)
SCHEMAS = {
    "dependency": [("name", "string"), ("version", "string"), ("match", "int")],
    "pkginfo": [
        ("name", "string"), ("version", "string"), ("hashes", "hexblob"),
        ("description", "string"), ("arch", "string"), ("license", "string"),
        ("origin", "string"), ("maintainer", "string"), ("url", "string"),
        ("repo-commit", "hexblob"), ("build-time", "time"),
        ("installed-size", "hsize"), ("file-size", "hsize"),
        ("provider-priority", "int"), ("depends", DEPS), ("provides", DEPS),
        ("replaces", DEPS), ("install-if", DEPS), ("recommends", DEPS),
        ("layer", "int"), ("tags", ("arr", "string")),
    ],
    "acl": [("mode", "oct"), ("user", "string"), ("group", "string"),
            ("xattrs", ("arr", "xattr"))],
    "file": [("name", "string"), ("acl", ("obj", "acl")), ("size", "int"),
             ("mtime", "time"), ("hash", "hexblob"), ("target", "hexblob")],
    "dir": [("name", "string"), ("acl", ("obj", "acl")),
            ("files", ("arr", ("obj", "file")))],
    "scripts": [(n, "mstring") for n in (
        "trigger", "pre-install", "post-install", "pre-deinstall",
        "post-deinstall", "pre-upgrade", "post-upgrade")],
    "package": [("info", ("obj", "pkginfo")),
                ("paths", ("arr", ("obj", "dir"))),
                ("scripts", ("obj", "scripts")),
                ("triggers", ("arr", "string")),
                ("replaces-priority", "int")],
    "index": [("description", "string"),
              ("packages", ("arr", ("obj", "pkginfo"))),
              ("pkgname-spec", "string")],
    "idb": [("packages", ("arr", "adb"))],
}
ROOT_SCHEMA = {SCHEMA_PACKAGE: "package", SCHEMA_INDEX: "index",
               SCHEMA_IDB: "idb"}

DIGEST_LEN = {2: 20, 3: 32, 4: 64, 5: 20}
DIGEST_FN = {2: "sha1", 3: "sha256", 4: "sha512", 5: "sha256"}
HASH_BY_LEN = {20: "sha1", 32: "sha256", 64: "sha512"}

OP_STR = {2: "<", 3: "<=", 11: "<~", 8: "~", 9: "~", 1: "=", 5: ">=",
          13: ">~", 4: ">", 6: "><", 7: ""}


# --------------------------------------------------------------------------
# Decompression and block framing (doc §1-§3)

def decompress(data):
    """Return (compression description, uncompressed ADB file bytes)."""
    if len(data) < 4 or data[:3] != b"ADB":
        raise AdbError("not an apk v3 file (bad magic)")
    kind = data[3:4]
    if kind == b".":
        return "none", data
    if kind == b"d":
        return "deflate", inflate_raw(data[4:])
    if kind == b"c":
        if len(data) < 6:
            raise AdbError("truncated ADBc header")
        alg, level = data[4], data[5]
        if alg == 0:
            return "none(ADBc)", data[6:]
        if alg == 1:
            return "deflate:%d" % level, inflate_raw(data[6:])
        if alg == 2:
            return "zstd:%d" % level, unzstd(data[6:])
        raise AdbError("unknown compression algorithm %d" % alg)
    raise AdbError("unknown ADB compression marker %r" % kind)


def inflate_raw(buf):
    d = zlib.decompressobj(-15)
    try:
        out = d.decompress(buf) + d.flush()
    except zlib.error as e:
        raise AdbError("deflate stream error: %s" % e)
    if not d.eof:
        raise AdbError("deflate stream truncated")
    if d.unused_data:
        raise AdbError("%d bytes of trailing data after deflate stream"
                       % len(d.unused_data))
    return out


def unzstd(buf):
    try:
        import zstandard  # optional
        try:
            return zstandard.ZstdDecompressor().decompressobj().decompress(buf)
        except zstandard.ZstdError as e:
            raise AdbError("zstd stream error: %s" % e)
    except ImportError:
        pass
    try:
        p = subprocess.run(["zstd", "-d", "-c", "-q"], input=buf,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError:
        raise AdbError("zstd input but neither `zstandard` nor `zstd` found")
    if p.returncode != 0:
        raise AdbError("zstd stream error: %s"
                       % p.stderr.decode(errors="replace").strip())
    return p.stdout


class Block:
    def __init__(self, btype, start, hdr, length, payload, padding):
        self.type, self.start, self.hdr = btype, start, hdr
        self.length, self.payload, self.padding = length, payload, padding


def split_blocks(raw, compressed):
    """Parse header + blocks. Returns (schema, blocks, error or None).

    Errors in block framing stop the scan; blocks before the error are
    returned so that `dump` can print them like apk does."""
    if len(raw) < 8 or raw[:4] != MAGIC:
        raise AdbError("ADB header error (bad file magic)")
    schema = struct.unpack_from("<I", raw, 4)[0]
    blocks, pos, allowed = [], 8, {BLK_ADB}
    while pos < len(raw):
        left = len(raw) - pos
        if left < 4:
            return schema, blocks, "ADB block error (truncated block header)"
        tag = struct.unpack_from("<I", raw, pos)[0]
        if tag >> 30 == BLK_EXT:
            if left < 16:
                return schema, blocks, "ADB block error (truncated ext header)"
            btype, hdr = tag & 0x3FFFFFFF, 16
            rawsize = struct.unpack_from("<Q", raw, pos + 8)[0]
        else:
            btype, hdr, rawsize = tag >> 30, 4, tag & 0x3FFFFFFF
        if rawsize < hdr:
            return schema, blocks, "ADB block error (size smaller than header)"
        padded = (rawsize + 7) & ~7
        if padded > left:
            return schema, blocks, "ADB block error (block exceeds file)"
        if btype not in allowed:
            return schema, blocks, "ADB block error (block type %d not allowed here)" % btype
        payload = raw[pos + hdr:pos + rawsize]
        if btype == BLK_ADB:
            if len(payload) < (16 if compressed else 8):
                return schema, blocks, "ADB block error (ADB block too small)"
            if payload[0] != 0:
                return schema, blocks, "incompatible ADB version"
            allowed = {BLK_SIG, BLK_DATA}
        elif btype == BLK_DATA:
            allowed = {BLK_DATA}
        blocks.append(Block(btype, pos, hdr, rawsize - hdr, payload,
                            raw[pos + rawsize:pos + padded]))
        pos += padded
    if not blocks:
        return schema, blocks, "ADB block error (no ADB block)"
    return schema, blocks, None


# --------------------------------------------------------------------------
# Value access (doc §4). strict=True raises on anything apk would silently
# read as empty/zero; strict=False mimics apk's lenient reading for dumps.

class Adb:
    def __init__(self, payload, strict):
        self.buf, self.strict = payload, strict

    def fail(self, what):
        if self.strict:
            raise AdbError(what)

    @staticmethod
    def vtype(v):
        return v >> 28

    def _u(self, fmt, off, size, what):
        if off + size > len(self.buf):
            self.fail("%s out of bounds (offset %d)" % (what, off))
            return None
        return struct.unpack_from(fmt, self.buf, off)[0]

    def root(self):
        return struct.unpack_from("<I", self.buf, 4)[0]

    def r_int(self, v, what="int"):
        t, off = v >> 28, v & 0x0FFFFFFF
        if t == T_INT:
            return off
        if t == T_INT32:
            r = self._u("<I", off, 4, what)
        elif t == T_INT64:
            r = self._u("<Q", off, 8, what)
        else:
            self.fail("%s: expected an integer, found type 0x%x" % (what, t))
            r = None
        return 0 if r is None else r

    def r_blob(self, v, what="blob"):
        """Return (bytes or None, offset of content)."""
        t, off = v >> 28, v & 0x0FFFFFFF
        widths = {T_BLOB8: ("<B", 1), T_BLOB16: ("<H", 2), T_BLOB32: ("<I", 4)}
        if t not in widths:
            self.fail("%s: expected a blob, found type 0x%x" % (what, t))
            return None, 0
        fmt, w = widths[t]
        n = self._u(fmt, off, w, what + " length")
        if n is None:
            return None, 0
        if off + w + n > len(self.buf):
            self.fail("%s: blob data out of bounds" % what)
            bad = OOBBlob()
            bad.oob_len = n
            return bad, 0
        return self.buf[off + w:off + w + n], off + w

    def r_obj(self, v, what="object"):
        """Slot list (slot 0 = count). Invalid -> [1] like apk."""
        t, off = v >> 28, v & 0x0FFFFFFF
        if t not in (T_ARRAY, T_OBJECT):
            self.fail("%s: expected object/array, found type 0x%x" % (what, t))
            return [1]
        n = self._u("<I", off, 4, what + " header")
        if not n:
            if n == 0:
                self.fail("%s: zero slot count" % what)
            return [1]
        if off + 4 * n > len(self.buf):
            self.fail("%s: %d slots out of bounds" % (what, n))
            return [1]
        return list(struct.unpack_from("<%dI" % n, self.buf, off))


def slot(slots, i):
    return slots[i] if i < len(slots) else 0


# --------------------------------------------------------------------------
# Strict decoding into Python data (json + verify)

def decode(adb, v, kind, path):
    if v == 0:
        return None
    if v >> 28 == T_SPECIAL:
        raise AdbError("%s: unexpected special value 0x%08x" % (path, v))
    if isinstance(kind, tuple) and kind[0] == "obj":
        slots = adb.r_obj(v, path)
        fields = SCHEMAS[kind[1]]
        out = {}
        for i in range(1, len(slots)):
            if slots[i] == 0:
                continue
            if i > len(fields):
                raise AdbError("%s: unknown field #%d" % (path, i))
            name, fk = fields[i - 1]
            out[name] = decode(adb, slots[i], fk, path + "." + name)
        return out
    if isinstance(kind, tuple) and kind[0] == "arr":
        slots = adb.r_obj(v, path)
        items = []
        for i in range(1, len(slots)):
            if slots[i] == 0:
                raise AdbError("%s[%d]: NULL array item" % (path, i))
            items.append(decode(adb, slots[i], kind[1], "%s[%d]" % (path, i)))
        return items
    if kind in INT_KINDS:
        return adb.r_int(v, path)
    if kind == "adb":
        b, _ = adb.r_blob(v, path)
        return {"nested_adb_bytes": len(b)}
    b, _ = adb.r_blob(v, path)
    if kind in ("hexblob", "xattr"):
        return b.hex() if kind == "hexblob" else xattr_text(b).decode(
            "utf-8", "surrogateescape")
    return b.decode("utf-8", "surrogateescape")


def xattr_text(b):
    if b is None or b"\0" not in b:
        return b""
    k, val = b.split(b"\0", 1)
    s = k + b"=" + val.hex().encode()
    if len(s) > 256:
        s = k + b"=(%d bytes)" % len(val)
    return s


# --------------------------------------------------------------------------
# YAML-like text output, mirroring the adbdump serializer rules (doc §10)

class Yaml:
    def __init__(self):
        self.out = []
        self.nest = self.indent = 0
        self.line_started = self.key_printed = False
        self.flags = [0] * 64

    def w(self, b):
        self.out.append(b)

    def _indent(self, item, cont):
        if not self.line_started:
            self.w(b" " * (2 * self.indent))
            if item and self.flags[self.nest] & 1:
                self.w(b"- ")
        elif self.key_printed and cont:
            self.w(b" ")
        self.line_started = True

    def _push(self, flags):
        if self.nest > 0:
            self.indent += 1
        self.nest += 1
        self.flags[self.nest] = flags

    def _nl(self):
        self.w(b"\n")
        self.line_started = self.key_printed = False

    def start_object(self, schema_id=0):
        self._indent(True, False)
        self._push(0)
        if schema_id:
            self.w(b"#%%SCHEMA: %08X" % schema_id)
            self._nl()

    def start_array(self, num):
        self._indent(True, True)
        self.w(b"# %d items" % num)
        self._nl()
        self._push(1)

    def end(self):
        if self.line_started:
            self._indent(False, True)
            self.w(b"# empty object")
            self._nl()
        self.nest -= 1
        if self.nest:
            self.indent -= 1

    def comment(self, text):
        self._indent(False, True)
        self.w(b"# " + text)
        self._nl()

    def key(self, name):
        if self.key_printed:
            self._nl()
        self._indent(True, True)
        self.w(name + b":")
        self.key_printed = True

    @staticmethod
    def quoting(b, multiline):
        if not b:
            return "plain"
        if len(b) >= 80 or multiline:
            return "block"
        style = "single" if b[0] in b"-?:,[]{}#&*!|>'\"%@`\0" else "plain"
        prev = 0
        for c in b:
            if c in b"\r\n'":
                return "block"
            if c == 0x20 and prev == 0x3A:
                style = "single"
            if c == 0x23:
                if prev == 0x20:
                    return "block"
                style = "single"
            prev = c
        return style

    def string(self, b, multiline=False):
        self._indent(True, True)
        n = getattr(b, "oob_len", 0)
        q = "block" if n >= 80 or (n and multiline) else self.quoting(b, multiline)
        if q == "plain":
            self.w(b)
            self._nl()
        elif q == "single":
            self.w(b"'" + b + b"'")
            self._nl()
        else:
            self.w(b"|")
            self._nl()
            self.indent += 1
            for line in b.split(b"\n"):
                if line:
                    self._indent(False, True)
                    self.w(line)
                    self._nl()
            self.indent -= 1

    def numeric(self, val, kind):
        self._indent(True, True)
        if kind == "oct":
            self.w(b"0%o" % val if val else b"0")
        else:
            self.w(b"%d" % val)
        self._nl()


def dep_text(adb, slots):
    # apk formats with printf "%.*s", which stops at a NUL byte
    name, _ = adb.r_blob(slot(slots, 1))
    ver, _ = adb.r_blob(slot(slots, 2))
    name = None if name is None else bytes(name).split(b"\0")[0]
    ver = None if ver is None else bytes(ver).split(b"\0")[0]
    op = adb.r_int(slot(slots, 3)) or 1
    if name is None:
        return b""
    bang = b"!" if op & 16 else b""
    if ver is None:
        return bang + name if op & 16 else name
    s = bang + name + OP_STR.get(op & ~16, "?").encode() + ver
    return s if len(s) < 256 else b""


def scalar_text(adb, v, kind):
    b, _ = adb.r_blob(v)
    if kind == "hexblob":
        if b is None:
            return b""
        return b.hex().encode() if 2 * len(b) <= 256 else b"(%d bytes)" % len(b)
    if kind == "xattr":
        return xattr_text(b)
    return b if b is not None else b""


def dump_item(y, adb, name, kind, v):
    if v == 0:
        return
    if name is not None:
        y.key(name.encode())
    if isinstance(kind, tuple) and kind[0] == "arr":
        slots = adb.r_obj(v)
        y.start_array(len(slots) - 1)
        for i in range(1, len(slots)):
            dump_item(y, adb, None, kind[1], slots[i])
        y.end()
    elif isinstance(kind, tuple) and kind[0] == "obj":
        if kind[1] == "dependency":
            y.string(dep_text(adb, adb.r_obj(v)))
        else:
            y.start_object()
            dump_fields(y, adb, kind[1], v)
            y.end()
    elif kind in INT_KINDS:
        y.numeric(adb.r_int(v), kind)
    elif kind == "adb":
        pass  # nested databases (installed db only) are not expanded
    else:
        y.string(scalar_text(adb, v, kind), kind == "mstring")


def dump_fields(y, adb, schema, v):
    fields = SCHEMAS[schema]
    slots = adb.r_obj(v)
    for i in range(1, len(slots)):
        if slots[i] != 0 and i <= len(fields):
            dump_item(y, adb, fields[i - 1][0], fields[i - 1][1], slots[i])


# --------------------------------------------------------------------------
# Keys and signatures (doc §7)

def der_read(buf, pos):
    """Return (tag, content_start, content_end) of the DER element at pos."""
    if pos + 2 > len(buf):
        raise AdbError("bad DER")
    tag, ln = buf[pos], buf[pos + 1]
    pos += 2
    if ln & 0x80:
        nb = ln & 0x7F
        if nb == 0 or nb > 4 or pos + nb > len(buf):
            raise AdbError("bad DER length")
        ln = int.from_bytes(buf[pos:pos + nb], "big")
        pos += nb
    if pos + ln > len(buf):
        raise AdbError("bad DER length")
    return tag, pos, pos + ln


class PubKey:
    def __init__(self, path):
        self.path = path
        try:
            with open(path, "rb") as f:
                text = f.read()
        except OSError as e:
            raise AdbError("cannot read key %s: %s" % (path, e.strerror))
        begin = b"-----BEGIN PUBLIC KEY-----"
        if begin not in text:
            raise AdbError("%s: expected a PEM 'PUBLIC KEY'" % path)
        import base64
        body = text.split(begin, 1)[1].split(b"-----END", 1)[0]
        try:
            der = base64.b64decode(b"".join(body.split()))
        except ValueError:
            raise AdbError("%s: bad base64" % path)
        # SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, BIT STRING }
        tag, s, e = der_read(der, 0)
        tag1, s1, e1 = der_read(der, s)
        tag2, s2, e2 = der_read(der, e1)
        if tag != 0x30 or tag1 != 0x30 or tag2 != 0x03 or s2 >= e2:
            raise AdbError("%s: not a SubjectPublicKeyInfo" % path)
        self.key_id = hashlib.sha512(der[s2 + 1:e2]).digest()[:16]


def openssl_verify(key, message, signature):
    with tempfile.TemporaryDirectory() as d:
        mp, sp = os.path.join(d, "msg"), os.path.join(d, "sig")
        with open(mp, "wb") as f:
            f.write(message)
        with open(sp, "wb") as f:
            f.write(signature)
        try:
            p = subprocess.run(["openssl", "dgst", "-sha512", "-verify",
                                key.path, "-signature", sp, mp],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError:
            raise AdbError("openssl command not found")
        return p.returncode == 0


def check_signature(payload, schema, adb_payload, keys):
    """Return 'OK', 'UNTRUSTED signature' or 'ADB signature block error'
    (the strings adbdump prints), plus 'BAD' for a known key that fails."""
    if len(payload) < 2 or payload[0] != 0 or len(payload) < 18:
        return "ADB signature block error"
    alg, key_id = payload[1], payload[2:18]
    for k in keys:
        if k.key_id != key_id or alg not in DIGEST_FN:
            continue
        md = hashlib.new(DIGEST_FN[alg], adb_payload).digest()[:DIGEST_LEN[alg]]
        msg = struct.pack("<I", schema) + payload[:18] + md
        return "OK" if openssl_verify(k, msg, payload[18:]) else "BAD"
    return "UNTRUSTED signature"


# --------------------------------------------------------------------------
# Commands

def load(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise AdbError("cannot read %s: %s" % (path, e.strerror))
    comp, raw = decompress(data)
    schema, blocks, err = split_blocks(raw, comp != "none")
    return comp, schema, blocks, err


def cmd_dump(path, keys):
    _, schema, blocks, err = load(path)
    y = Yaml()
    adb_payload = None
    for b in blocks:
        if b.type == BLK_ADB:
            adb_payload = b.payload
            adb = Adb(b.payload, strict=False)
            y.start_object(schema)
            y.comment(b"ADB block, size: %d, compat: %d, ver: %d"
                      % (b.length, b.payload[0], b.payload[1]))
            if schema in ROOT_SCHEMA:
                dump_fields(y, adb, ROOT_SCHEMA[schema], adb.root())
            y.end()
        elif b.type == BLK_SIG:
            res = check_signature(b.payload, schema, adb_payload, keys)
            if res == "BAD":
                res = "UNTRUSTED signature"
            p = b.payload
            text = b"sig v%02x h%02x " % (p[0] if p else 0,
                                          p[1] if len(p) > 1 else 0)
            text += p[2:56].hex().encode() + (b".." if len(p) >= 56 else b"")
            y.comment(text + b": " + res.encode())
        elif b.type == BLK_DATA:
            y.comment(b"data block, size: %d" % b.length)
    sys.stdout.buffer.write(b"".join(y.out))
    sys.stdout.buffer.flush()
    if err:
        raise AdbError(err)


def cmd_json(path):
    comp, schema, blocks, err = load(path)
    if err:
        raise AdbError(err)
    adb_blk = blocks[0]
    adb = Adb(adb_blk.payload, strict=True)
    name = ROOT_SCHEMA.get(schema)
    if name is None:
        raise AdbError("unknown schema 0x%08x" % schema)
    out = {
        "compression": comp,
        "schema": struct.pack("<I", schema).decode("latin-1").rstrip("\0"),
        "adb": {"size": adb_blk.length, "compat": adb_blk.payload[0],
                "version": adb_blk.payload[1]},
        "root": decode(adb, adb.root(), ("obj", name), name),
        "signatures": [], "data": [],
    }
    for b in blocks[1:]:
        p = b.payload
        if b.type == BLK_SIG:
            out["signatures"].append({
                "sign_ver": p[0] if p else None,
                "hash_alg": p[1] if len(p) > 1 else None,
                "key_id": p[2:18].hex(), "signature_len": max(0, len(p) - 18)})
        elif b.type == BLK_DATA and len(p) >= 8:
            pi, fi = struct.unpack_from("<II", p, 0)
            out["data"].append({"path_idx": pi, "file_idx": fi,
                                "size": len(p) - 8})
    print(json.dumps(out, indent=2))


def unique_id_ok(adb, info_slots):
    v = slot(info_slots, 3)
    if v == 0:
        raise AdbError("unique id (info.hashes) missing")
    b, off = adb.r_blob(v, "info.hashes")
    if len(b) != 20:
        raise AdbError("unique id has %d bytes, expected 20" % len(b))
    zeroed = adb.buf[:off] + bytes(20) + adb.buf[off + 20:]
    if hashlib.sha256(zeroed).digest()[:20] != b:
        raise AdbError("unique id mismatch: stored %s, computed %s"
                       % (b.hex(), hashlib.sha256(zeroed).hexdigest()[:40]))


def check_sorted(names, what):
    for a, b in zip(names, names[1:]):
        if a >= b:
            raise AdbError("%s not sorted/unique by name (%r before %r)"
                           % (what, a, b))


def cmd_verify(path, keys, allow_untrusted):
    _, schema, blocks, err = load(path)
    if err:
        raise AdbError(err)
    if schema not in (SCHEMA_PACKAGE, SCHEMA_INDEX):
        raise AdbError("unexpected schema 0x%08x" % schema)
    for b in blocks:
        if b.padding.strip(b"\0"):
            raise AdbError("non-zero padding after block at offset %d" % b.start)
    adb = Adb(blocks[0].payload, strict=True)
    name = ROOT_SCHEMA[schema]
    tree = decode(adb, adb.root(), ("obj", name), name)  # bounds + kinds
    if tree is None:
        raise AdbError("root object missing")

    # signatures
    sigs = [b for b in blocks if b.type == BLK_SIG]
    results = [check_signature(b.payload, schema, adb.buf, keys) for b in sigs]
    if "ADB signature block error" in results:
        raise AdbError("malformed SIG block")
    if "BAD" in results:
        raise AdbError("BAD signature (key id matched, verification failed)")
    if "OK" not in results and not allow_untrusted:
        ids = ",".join(b.payload[2:18].hex() for b in sigs) or "none"
        raise AdbError("no trusted signature (signature key ids: %s)" % ids)

    data = [b for b in blocks if b.type == BLK_DATA]
    if schema == SCHEMA_INDEX:
        if data:
            raise AdbError("DATA block in an index")
        for i, p in enumerate(tree.get("packages", []), 1):
            for f in ("name", "version", "hashes"):
                if f not in p:
                    raise AdbError("packages[%d]: %s missing" % (i, f))
        print("OK")
        return

    root = adb.r_obj(adb.root())
    info = adb.r_obj(slot(root, 1), "info") if slot(root, 1) else [1]
    for f in ("name", "version"):
        if f not in (tree.get("info") or {}):
            raise AdbError("info.%s missing" % f)
    unique_id_ok(adb, info)

    # expected DATA blocks: files with size != 0 and no target (doc §9)
    paths = tree.get("paths") or []
    check_sorted([d.get("name", "") for d in paths], "paths")
    expected = []
    for pi, d in enumerate(paths, 1):
        files = d.get("files") or []
        check_sorted([f.get("name", "") for f in files],
                     "files of '%s'" % d.get("name", ""))
        for fi, f in enumerate(files, 1):
            where = "%s/%s" % (d.get("name", ""), f.get("name", "?"))
            if "name" not in f:
                raise AdbError("file entry without name in '%s'" % d.get("name", ""))
            tgt = f.get("target")
            if tgt is not None:
                check_target(bytes.fromhex(tgt), where)
            elif len(f.get("hash") or "") // 2 not in HASH_BY_LEN:
                raise AdbError("%s: regular file without valid hash" % where)
            if f.get("size", 0) != 0 and tgt is None:
                expected.append((pi, fi, f, where))
    if len(data) != len(expected):
        raise AdbError("%d DATA blocks, expected %d" % (len(data), len(expected)))
    for b, (pi, fi, f, where) in zip(data, expected):
        p = b.payload
        if len(p) < 8:
            raise AdbError("DATA block too short")
        bp, bf = struct.unpack_from("<II", p, 0)
        if (bp, bf) != (pi, fi):
            raise AdbError("DATA block for (%d,%d), expected (%d,%d) %s"
                           % (bp, bf, pi, fi, where))
        if len(p) - 8 != f["size"]:
            raise AdbError("%s: DATA size %d != size %d"
                           % (where, len(p) - 8, f["size"]))
        h = bytes.fromhex(f["hash"])
        if hashlib.new(HASH_BY_LEN[len(h)], p[8:]).digest() != h:
            raise AdbError("%s: content hash mismatch" % where)
    print("OK")


def check_target(t, where):
    if len(t) < 2:
        raise AdbError("%s: target shorter than 2 bytes" % where)
    mode = struct.unpack_from("<H", t, 0)[0]
    if mode in (0x6000, 0x2000, 0x1000):
        if len(t) != 10:
            raise AdbError("%s: device target must be 10 bytes" % where)
    elif mode not in (0xA000, 0x8000):
        raise AdbError("%s: unknown target file type 0x%04x" % (where, mode))


def main(argv):
    usage = ("usage: adb_reader.py dump FILE [--pubkey PEM...]\n"
             "       adb_reader.py json FILE\n"
             "       adb_reader.py verify FILE --pubkey PEM... "
             "[--allow-untrusted]\n")
    if len(argv) < 2 or argv[0] not in ("dump", "json", "verify"):
        sys.stderr.write(usage)
        return 2
    cmd, path, rest = argv[0], argv[1], argv[2:]
    keyfiles, allow = [], False
    i = 0
    while i < len(rest):
        if rest[i] == "--pubkey":
            i += 1
            while i < len(rest) and not rest[i].startswith("--"):
                keyfiles.append(rest[i])
                i += 1
            continue
        if rest[i] == "--allow-untrusted":
            allow = True
        else:
            sys.stderr.write(usage)
            return 2
        i += 1
    try:
        keys = [PubKey(k) for k in keyfiles]
        if cmd == "dump":
            cmd_dump(path, keys)
        elif cmd == "json":
            cmd_json(path)
        else:
            cmd_verify(path, keys, allow)
        return 0
    except AdbError as e:
        if cmd == "verify":
            print("FAIL: %s" % e)
        else:
            sys.stderr.write("ERROR: %s: %s\n" % (path, e))
        return 1
    except Exception as e:  # never show a traceback on hostile input
        msg = "internal error while reading %s: %s: %s" % (
            path, type(e).__name__, e)
        print("FAIL: " + msg) if cmd == "verify" else sys.stderr.write(
            "ERROR: " + msg + "\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
