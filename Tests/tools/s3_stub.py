#!/usr/bin/env python3
"""A scriptable S3 stub for apkit's tests (Python stdlib only, 127.0.0.1, in memory).

Enough of S3 for `apkit publish`: PUT/GET/HEAD/DELETE object (Content-MD5 checked), conditional
writes (If-None-Match: *, If-Match), ListObjectsV2, multipart create/upload-part/complete/abort/list.
Path-style only; buckets exist on first use; signatures are not checked (only their presence and
X-Amz-Date, for clock skew).

Prints its port on stdout; stops when its stdin is closed. Control endpoints (not S3):
  POST /__script   JSON object merged into the script (below); {"reset": true} clears everything
  GET  /__state    JSON: objects {bucket/key: {etag, size, meta}}, uploads [{bucket, key, id}],
                   counts {operation or answer: n}

Script (each key optional):
  list_uploads     "ok" | "NoSuchUpload" | "NotImplemented" | "501" | "empty" | "AccessDenied"
  conditional      "ok" | "ignore" (If-None-Match / If-Match ignored) | "501"
  etag_quotes      true (default) | false: ETags sent bare (headers and XML)
  complete_error   {"code": "InternalError", "times": 1}: CompleteMultipartUpload answers 200 with
                   an <Error> body (and does nothing) that many times (-1: always)
  skew             seconds the server's clock is ahead; requests whose X-Amz-Date is more than
                   15 minutes off get 403 RequestTimeTooSkewed
  skew_server_time false: leave <ServerTime> out of RequestTimeTooSkewed (only the Date header)
  skew_always      true: every signed request gets RequestTimeTooSkewed (a server whose clock lies)
  drop_create      n: the first n CreateMultipartUpload requests create the upload, then the
                   connection is cut without an answer (the answer is "lost")
No x-amz-checksum-* header is ever sent back.
"""
import base64, calendar, hashlib, http.server, json, sys, threading, time, urllib.parse, uuid
from email.utils import formatdate

lock = threading.Lock()
script, objects, uploads, counts = {}, {}, {}, {}


def now():
    return time.time() + float(script.get("skew", 0))


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def bare(etag):
    return (etag or "").strip().strip('"')


def count(name):
    counts[name] = counts.get(name, 0) + 1


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def date_time_string(self, timestamp=None):
        return formatdate(now() if timestamp is None else timestamp, usegmt=True)

    def etag_out(self, md5hex):
        return '"%s"' % md5hex if script.get("etag_quotes", True) else md5hex

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def xml(self, status, body):
        self.reply(status, ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode(),
                   [("Content-Type", "application/xml")])

    def error(self, status, code, message="stub", extra=""):
        count("answer " + code)
        self.xml(status, "<Error><Code>%s</Code><Message>%s</Message>%s<RequestId>stub</RequestId></Error>"
                 % (code, esc(message), extra))

    def do_control(self, path, data):
        if path == "/__script":
            new = json.loads(data or b"{}")
            with lock:
                if new.pop("reset", False):
                    script.clear(); objects.clear(); uploads.clear(); counts.clear()
                script.update(new)
            return self.reply(200, b"{}")
        with lock:
            state = {"objects": {"%s/%s" % k: {"etag": v["etag"], "size": len(v["data"]), "meta": v["meta"]}
                                 for k, v in objects.items()},
                     "uploads": [{"bucket": u["bucket"], "key": u["key"], "id": i} for i, u in uploads.items()],
                     "counts": dict(counts)}
        self.reply(200, json.dumps(state).encode(), [("Content-Type", "application/json")])

    def handle_any(self):
        raw_path, _, raw_query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if raw_path.startswith("/__"):
            return self.do_control(raw_path, data)
        query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        path = urllib.parse.unquote(raw_path)
        bucket, _, key = path.lstrip("/").partition("/")
        if "Signature=" not in self.headers.get("Authorization", ""):
            return self.error(403, "AccessDenied", "unsigned request")
        # Clock skew: the request's time against the server's (skewed) clock.
        amz = self.headers.get("X-Amz-Date", "")
        if amz:
            sent = calendar.timegm(time.strptime(amz, "%Y%m%dT%H%M%SZ"))
            if abs(sent - now()) > 900 or script.get("skew_always"):
                extra = "<RequestTime>%s</RequestTime>" % amz
                if script.get("skew_server_time", True):
                    extra += "<ServerTime>%s</ServerTime>" % iso(now())
                return self.error(403, "RequestTimeTooSkewed",
                                  "The difference between the request time and the current time is too large.", extra)
        with lock:
            return self.route(bucket, key, query, data)

    def check_conditions(self, current):
        """None when the write may go ahead, else True after answering 412/501."""
        inm, im = self.headers.get("If-None-Match"), self.headers.get("If-Match")
        if not inm and not im:
            return None
        mode = script.get("conditional", "ok")
        if mode == "501":
            self.error(501, "NotImplemented", "A header you provided implies functionality that is not implemented")
            return True
        if mode == "ignore":
            return None
        if inm == "*" and current is not None:
            self.error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
            return True
        if im is not None and (current is None or bare(im) != current["etag"]):
            self.error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
            return True
        return None

    def object_headers(self, o):
        h = [("ETag", self.etag_out(o["etag"])), ("Last-Modified", formatdate(o["mtime"], usegmt=True)),
             ("Content-Type", o["ctype"])]
        if o["cache"]:
            h.append(("Cache-Control", o["cache"]))
        h += [("x-amz-meta-" + k, v) for k, v in o["meta"].items()]
        return h

    def new_object(self, data, source_headers):
        meta = {k[len("x-amz-meta-"):].lower(): v for k, v in source_headers.items()
                if k.lower().startswith("x-amz-meta-")}
        return {"data": data, "etag": hashlib.md5(data).hexdigest(), "meta": meta, "mtime": now(),
                "ctype": source_headers.get("Content-Type", "application/octet-stream"),
                "cache": source_headers.get("Cache-Control")}

    def route(self, bucket, key, query, data):
        m = self.command
        ok_key = (bucket, key)
        if not key:
            if m == "GET" and "uploads" in query:
                count("ListMultipartUploads")
                mode = script.get("list_uploads", "ok")
                if mode == "501":
                    return self.reply(501)
                if mode == "empty":
                    return self.reply(200)
                if mode != "ok":
                    return self.error(404 if mode == "NoSuchUpload" else 501 if mode == "NotImplemented" else 403, mode)
                prefix = query.get("prefix", "")
                items = sorted((u["key"], i) for i, u in uploads.items() if u["bucket"] == bucket and u["key"].startswith(prefix))
                body = "".join("<Upload><Key>%s</Key><UploadId>%s</UploadId><Initiated>%s</Initiated></Upload>"
                               % (esc(k), i, iso(uploads[i]["initiated"])) for k, i in items)
                return self.xml(200, "<ListMultipartUploadsResult><Bucket>%s</Bucket><IsTruncated>false</IsTruncated>%s"
                                "</ListMultipartUploadsResult>" % (bucket, body))
            if m == "GET" and query.get("list-type") == "2":
                count("ListObjectsV2")
                prefix = query.get("prefix", "")
                items = sorted(k for (b, k) in objects if b == bucket and k.startswith(prefix))
                body = "".join("<Contents><Key>%s</Key><Size>%d</Size><ETag>%s</ETag><LastModified>%s</LastModified></Contents>"
                               % (esc(k), len(objects[(bucket, k)]["data"]), esc(self.etag_out(objects[(bucket, k)]["etag"])),
                                  iso(objects[(bucket, k)]["mtime"])) for k in items)
                return self.xml(200, "<ListBucketResult><IsTruncated>false</IsTruncated>%s</ListBucketResult>" % body)
            if m == "PUT":
                return self.reply(200)
            return self.error(400, "InvalidRequest", "not in the stub")
        current = objects.get(ok_key)
        if m == "POST" and "uploads" in query:
            count("CreateMultipartUpload")
            uid = uuid.uuid4().hex
            uploads[uid] = {"bucket": bucket, "key": key, "parts": {}, "initiated": now(),
                            "headers": {k: v for k, v in self.headers.items()}}
            if script.get("drop_create", 0) > 0:
                script["drop_create"] -= 1
                count("dropped CreateMultipartUpload")
                self.close_connection = True
                self.connection.shutdown(2)
                return
            return self.xml(200, "<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId>"
                            "</InitiateMultipartUploadResult>" % (bucket, esc(key), uid))
        if m == "PUT" and "uploadId" in query:
            count("UploadPart")
            u = uploads.get(query["uploadId"])
            if u is None:
                return self.error(404, "NoSuchUpload")
            md5 = self.headers.get("Content-MD5")
            if md5 and base64.b64encode(hashlib.md5(data).digest()).decode() != md5:
                return self.error(400, "BadDigest")
            u["parts"][int(query["partNumber"])] = data
            return self.reply(200, b"", [("ETag", self.etag_out(hashlib.md5(data).hexdigest()))])
        if m == "POST" and "uploadId" in query:
            count("CompleteMultipartUpload")
            u = uploads.get(query["uploadId"])
            if u is None:
                return self.error(404, "NoSuchUpload")
            ce = script.get("complete_error")
            if ce and ce.get("times", 1) != 0:
                if ce.get("times", 1) > 0:
                    ce["times"] = ce.get("times", 1) - 1
                count("answer 200 " + ce["code"])
                return self.xml(200, "<Error><Code>%s</Code><Message>injected in a 200 answer</Message></Error>" % ce["code"])
            if self.check_conditions(current):
                return
            text = data.decode()
            numbers = [int(x.split("</PartNumber>")[0]) for x in text.split("<PartNumber>")[1:]]
            etags = [x.split("</ETag>")[0].replace("&quot;", '"') for x in text.split("<ETag>")[1:]]
            for n, e in zip(numbers, etags):
                if n not in u["parts"] or bare(e) != hashlib.md5(u["parts"][n]).hexdigest():
                    return self.error(400, "InvalidPart")
            whole = b"".join(u["parts"][n] for n in numbers)
            o = self.new_object(whole, u["headers"])
            o["etag"] = hashlib.md5(b"".join(hashlib.md5(u["parts"][n]).digest() for n in numbers)).hexdigest() + "-%d" % len(numbers)
            objects[ok_key] = o
            del uploads[query["uploadId"]]
            return self.xml(200, "<CompleteMultipartUploadResult><Key>%s</Key><ETag>%s</ETag></CompleteMultipartUploadResult>"
                            % (esc(key), esc(self.etag_out(o["etag"]))))
        if m == "DELETE" and "uploadId" in query:
            count("AbortMultipartUpload")
            if uploads.pop(query["uploadId"], None) is None:
                return self.error(404, "NoSuchUpload")
            return self.reply(204)
        if m == "PUT":
            count("PutObject")
            md5 = self.headers.get("Content-MD5")
            if md5 and base64.b64encode(hashlib.md5(data).digest()).decode() != md5:
                return self.error(400, "BadDigest")
            if self.check_conditions(current):
                return
            o = self.new_object(data, {k: v for k, v in self.headers.items()})
            objects[ok_key] = o
            return self.reply(200, b"", [("ETag", self.etag_out(o["etag"]))])
        if m in ("GET", "HEAD"):
            count("GetObject" if m == "GET" else "HeadObject")
            if current is None:
                return self.error(404, "NoSuchKey") if m == "GET" else self.reply(404)
            return self.reply(200, current["data"], self.object_headers(current))
        if m == "DELETE":
            count("DeleteObject")
            objects.pop(ok_key, None)
            return self.reply(204)
        return self.error(400, "InvalidRequest", "not in the stub")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print(srv.server_address[1], flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), srv.shutdown()), daemon=True).start()
srv.serve_forever()
