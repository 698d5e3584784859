#!/usr/bin/env python3
"""A fault-injecting HTTP proxy between apkit and a real S3 server (Python stdlib only).

    fault_proxy.py UPSTREAM_URL [PLAN_JSON]

Listens on 127.0.0.1 (a free port, printed on stdout), and forwards each request to UPSTREAM_URL
(http://host:port) byte for byte: the request line, every header (Host included, so a SigV4
signature made for the proxy's address still checks out upstream, where only the header's value
counts) and the body. Keep-alive on the client side; one upstream connection per request. Stops
when its stdin is closed (or on SIGTERM).

The plan (JSON) is a list of rules, or {"rules": [...], "seed": N}; the first rule that matches a
request and still has shots left decides its fate. A rule:
  op           S3 operation: PutObject, GetObject, HeadObject, DeleteObject, CreateMultipartUpload,
               UploadPart, CompleteMultipartUpload, AbortMultipartUpload, ListMultipartUploads,
               ListObjectsV2, CreateBucket, ... ("*" or absent: any)
  method       HTTP method (absent: any)
  key          a substring the request path must contain (absent: any)
  skip         let this many matching requests through first (default 0)
  count        fire at most this many times (default 1; -1: always)
  probability  chance of firing on a matching request (default 1; seeded, see "seed")
  fault        what happens:
    slowdown   answered by the proxy, not forwarded: 503 <Error><Code>SlowDown</Code>...
    error      answered by the proxy, not forwarded: "status" (default 500) with an S3 <Error>
               whose <Code> is "code" (default InternalError), or the raw "body" given (an HTML
               page from a load balancer, say); status 200 gives CompleteMultipartUpload's
               200-with-an-error answer
    drop       forwarded; the server acts and answers; the answer is thrown away and the client
               connection closed (a lost answer)
    half       forwarded; the client gets the status line, the headers and half the body (half
               the header block when there is no body), then the connection is closed
    reset      not forwarded: the client connection is closed without an answer
    delay      "seconds" (default 2) of silence before forwarding, then the answer
    trickle    forwarded; the answer goes back in "chunk" bytes (default 256) every "interval"
               seconds (default 0.05)

Control endpoints (answered by the proxy itself, never forwarded):
  GET  /__proxy/stats   {"requests": {op: n}, "faults": {"op fault": n}, "rules": [times each rule fired],
                        "fired": [[op, fault, path]...]}
  POST /__proxy/plan    body: a new plan (counters of the rules start again)
"""
import json, random, socket, socketserver, sys, threading, time, urllib.parse

lock = threading.Lock()
state = {"rules": [], "requests": {}, "faults": {}, "fired": []}
rng = random.Random(0)


def set_plan(plan):
    if isinstance(plan, dict):
        rules = plan.get("rules", [])
        if "seed" in plan:
            rng.seed(plan["seed"])
    else:
        rules = plan
    with lock:
        state["rules"] = [dict(r, _seen=0, _fired=0) for r in rules]
        state["requests"], state["faults"], state["fired"] = {}, {}, []


def operation(method, target):
    parsed = urllib.parse.urlsplit(target)
    query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
    parts = parsed.path.lstrip("/").split("/", 1)
    has_key = len(parts) == 2 and parts[1] != ""
    if method == "PUT":
        if "partNumber" in query and "uploadId" in query:
            return "UploadPart"
        return "PutObject" if has_key else "CreateBucket"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        return "DeleteObjects" if "delete" in query else "PostObject"
    if method == "DELETE":
        if "uploadId" in query:
            return "AbortMultipartUpload"
        return "DeleteObject" if has_key else "DeleteBucket"
    if method == "GET":
        if "uploads" in query:
            return "ListMultipartUploads"
        if "uploadId" in query:
            return "ListParts"
        return "GetObject" if has_key else "ListObjectsV2"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    return method


def choose(op, method, path):
    """The rule that fires for this request, or None; counts it."""
    with lock:
        state["requests"][op] = state["requests"].get(op, 0) + 1
        for rule in state["rules"]:
            if rule.get("op", "*") not in ("*", op):
                continue
            if "method" in rule and rule["method"] != method:
                continue
            if "key" in rule and rule["key"] not in urllib.parse.unquote(path):
                continue
            count = rule.get("count", 1)
            if count != -1 and rule["_fired"] >= count:
                continue
            rule["_seen"] += 1
            if rule["_seen"] <= rule.get("skip", 0):
                continue
            if rng.random() >= rule.get("probability", 1.0):
                continue
            rule["_fired"] += 1
            name = "%s %s" % (op, rule["fault"])
            state["faults"][name] = state["faults"].get(name, 0) + 1
            state["fired"].append([op, rule["fault"], path])
            return rule
    return None


class Closed(Exception):
    pass


def read_head(f):
    """Reads a header block (start line + headers) from a binary file; returns the raw bytes."""
    lines = []
    while True:
        line = f.readline(65537)
        if not line:
            if lines:
                raise Closed("connection closed inside a header block")
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)
        if len(lines) > 200:
            raise Closed("too many header lines")


def headers_of(head):
    out = {}
    for line in head.split(b"\r\n")[1:]:
        if b":" in line:
            name, value = line.split(b":", 1)
            out[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return out


def read_body(f, headers, until_close):
    """The raw body bytes as they came (chunked bodies kept chunked)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = []
        while True:
            size_line = f.readline(1024)
            if not size_line:
                raise Closed("connection closed inside a chunked body")
            out.append(size_line)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers up to the blank line
                    t = f.readline(65537)
                    out.append(t)
                    if t in (b"\r\n", b"\n", b""):
                        return b"".join(out)
            data = f.read(size + 2)
            if len(data) < size + 2:
                raise Closed("connection closed inside a chunk")
            out.append(data)
    if "content-length" in headers:
        n = int(headers["content-length"])
        data = f.read(n)
        if len(data) < n:
            raise Closed("connection closed inside a body")
        return data
    return f.read() if until_close else b""


SLOWDOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            b'<Message>Please reduce your request rate. (fault_proxy)</Message>'
            b'<RequestId>FAULTPROXY</RequestId></Error>')


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            while self.one():
                pass
        except (Closed, OSError, ValueError):
            pass

    def answer(self, status, reason, body, ctype="application/xml", method="GET"):
        head = "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (status, reason, ctype, len(body))
        self.wfile.write(head.encode() + b"\r\n" + (b"" if method == "HEAD" else body))
        self.wfile.flush()

    def one(self):
        head = read_head(self.rfile)
        if head is None:
            return False
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, target = request_line.split(" ")[:2]
        headers = headers_of(head)
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        body = read_body(self.rfile, headers, until_close=False)

        if target.startswith("/__proxy/"):
            if target.startswith("/__proxy/plan") and method == "POST":
                set_plan(json.loads(body or b"[]"))
                self.answer(200, "OK", b"{}", "application/json")
            else:
                with lock:
                    snapshot = {k: state[k] for k in ("requests", "faults", "fired")}
                    snapshot["rules"] = [r["_fired"] for r in state["rules"]]
                    data = json.dumps(snapshot).encode()
                self.answer(200, "OK", data, "application/json")
            return True

        op = operation(method, target)
        rule = choose(op, method, target.split("?", 1)[0])
        fault = rule["fault"] if rule else None
        if fault == "slowdown":
            self.answer(503, "Slow Down", SLOWDOWN, method=method)
            return True
        if fault == "error":
            status = int(rule.get("status", 500))
            if "body" in rule:
                body, ctype = rule["body"].encode(), rule.get("content_type", "text/html")
            else:
                body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>fault_proxy</Message>'
                        '<RequestId>FAULTPROXY</RequestId></Error>' % rule.get("code", "InternalError")).encode()
                ctype = "application/xml"
            self.answer(status, "OK" if status == 200 else "Error", body, ctype, method=method)
            return True
        if fault == "reset":
            return False
        if fault == "delay":
            time.sleep(float(rule.get("seconds", 2)))

        raw, keep = self.forward(head, body, method)
        if fault == "drop":
            return False
        if fault == "half":
            rhead, rbody = raw
            if rbody:
                self.wfile.write(rhead + rbody[: len(rbody) // 2])
            else:
                self.wfile.write(rhead[: len(rhead) // 2])
            self.wfile.flush()
            return False
        data = raw[0] + raw[1]
        if fault == "trickle":
            step, pause = int(rule.get("chunk", 256)), float(rule.get("interval", 0.05))
            for i in range(0, len(data), step):
                self.wfile.write(data[i:i + step])
                self.wfile.flush()
                time.sleep(pause)
        else:
            self.wfile.write(data)
            self.wfile.flush()
        return keep

    def forward(self, head, body, method):
        """Sends the request upstream as it came; returns ((head, body) of the final answer, keep-alive)."""
        up = socket.create_connection(UPSTREAM, timeout=120)
        try:
            up.sendall(head + body)
            f = up.makefile("rb")
            while True:
                rhead = read_head(f)
                if rhead is None:
                    raise Closed("upstream closed without an answer")
                status = int(rhead.split(b" ", 2)[1])
                if status >= 200 or status == 101:
                    break  # 1xx interim answers (100 Continue) are not passed on
            rheaders = headers_of(rhead)
            if method == "HEAD" or status in (204, 304):
                rbody = b""
            else:
                rbody = read_body(f, rheaders, until_close=True)
            framed = "content-length" in rheaders or "chunked" in rheaders.get("transfer-encoding", "").lower() \
                or method == "HEAD" or status in (204, 304)
            return (rhead, rbody), framed
        finally:
            up.close()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    global UPSTREAM
    url = urllib.parse.urlsplit(sys.argv[1])
    UPSTREAM = (url.hostname, url.port or 80)
    set_plan(json.loads(sys.argv[2]) if len(sys.argv) > 2 else [])
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
