#!/usr/bin/env python3
"""tests/fault-client.py - the misbehaving and the checking HTTP client of
tests/faults.bats and tests/security.bats (python3, standard library only).

Owns nothing but its output: every mode prints one line of JSON (or the raw
response) on stdout and exits 0 unless its own arguments are wrong, so that
the bats file decides what is right.

    summary DIALECT FILE
        What a response body (stream or JSON, in DIALECT: openai, anthropic
        or gemini) says: {"utf8", "stream", "text", "errors", "terminators",
        "after_terminator"}.  "text" is the answer's text (decoded with
        U+FFFD for invalid bytes), "errors" the error messages of in-stream
        error events or of an error body, "terminators" how many stream ends
        it holds ([DONE], message_stop, a Gemini chunk with finishReason) and
        "after_terminator" how many events came after the first one.
    slowloris PORT GAP SECONDS
        Sends a request's headers one byte every GAP seconds, for at most
        SECONDS; prints {"closed_after": s or null, "sent": bytes}.
    bytewise PORT PATH BODY
        One request written one byte at a time (TCP_NODELAY, a short pause
        between bytes); prints the raw response.
    pipeline PORT PATH BODY [BODY...]
        Every request written at once on one connection, the last with
        Connection: close; prints {"responses": [{"status", "body"}...]}.
    hangup PORT PHASE PATH BODY
        Hangs up at PHASE: "headers" (half the headers sent), "body" (the
        headers and half the body), "wait" (the whole request, then 0.5 s of
        waiting for the answer), "stream" (after the first body bytes of the
        answer).  Prints {"phase", "received": bytes}.
    keepalive PORT PATH BODY GAP
        One request on a kept-alive connection; once it is answered, the
        next one trickled a byte every GAP seconds (0: nothing sent). Prints
        {"first": status, "closed_after": s since the answer, "sent": bytes}.
    raw PORT HEXBYTES
        Sends the bytes (hex) and prints {"status", "response"} of what
        came back before the server closed or 5 s passed.
"""
import hashlib
import json
import socket
import sys
import time


def out(o):
    sys.stdout.write(json.dumps(o) + "\n")


# ---- summary ----

def sse_events(text):
    """(event, data) pairs of an SSE text (LF, CRLF or CR line ends)."""
    events, name, data = [], None, []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line == "":
            if data or name is not None:
                events.append((name, "\n".join(data)))
            name, data = None, []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    if data or name is not None:
        events.append((name, "\n".join(data)))
    return events


def load(s):
    try:
        return json.loads(s)
    except ValueError:
        return None


def error_message(o):
    if not isinstance(o, dict):
        return None
    e = o.get("error")
    if o.get("type") == "error" or e is not None:
        if isinstance(e, dict):
            return str(e.get("message", e))
        return str(e)
    return None


def summary(dialect, path):
    raw = open(path, "rb").read()
    try:
        raw.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
    text = raw.decode("utf-8", errors="replace")
    r = {"utf8": utf8, "stream": False, "text": "", "errors": [], "terminators": 0, "after_terminator": 0,
         "bytes": len(raw)}
    summary_body(dialect, text, r)
    # A long text is shown by its length and digest: 10 MB does not belong
    # in a test's output.
    t = r["text"].encode("utf-8", errors="surrogatepass")
    r["text_len"] = len(r["text"])
    r["text_sha256"] = hashlib.sha256(t).hexdigest()
    if len(r["text"]) > 1000:
        r["text"] = r["text"][:100] + "..." + r["text"][-100:]
    out(r)


def summary_body(dialect, text, r):
    whole = load(text)
    if whole is not None and not text.lstrip().startswith("data:"):
        if isinstance(whole, list):  # Gemini's JSON array stream
            chunks = whole
        else:
            chunks = [whole]
        for o in chunks:
            m = error_message(o)
            if m is not None:
                r["errors"].append(m)
            elif dialect == "openai":
                for c in o.get("choices") or []:
                    r["text"] += (c.get("message") or {}).get("content") or ""
            elif dialect == "anthropic":
                for b in o.get("content") or []:
                    if b.get("type") == "text":
                        r["text"] += b.get("text", "")
            else:
                for c in o.get("candidates") or []:
                    for p in (c.get("content") or {}).get("parts") or []:
                        if not p.get("thought"):
                            r["text"] += p.get("text", "")
        return
    r["stream"] = True
    for name, data in sse_events(text):
        if r["terminators"]:
            r["after_terminator"] += 1
        if dialect == "openai" and data == "[DONE]":
            r["terminators"] += 1
            continue
        o = load(data)
        if name == "error" or error_message(o) is not None:
            r["errors"].append(error_message(o) or data)
            continue
        if o is None:
            r["errors"].append("not JSON: " + data[:80])
            continue
        if dialect == "openai":
            for c in o.get("choices") or []:
                r["text"] += (c.get("delta") or {}).get("content") or ""
        elif dialect == "anthropic":
            if o.get("type") == "content_block_delta" and (o.get("delta") or {}).get("type") == "text_delta":
                r["text"] += o["delta"].get("text", "")
            if name == "message_stop" or o.get("type") == "message_stop":
                r["terminators"] += 1
        else:
            for c in o.get("candidates") or []:
                for p in (c.get("content") or {}).get("parts") or []:
                    if not p.get("thought"):
                        r["text"] += p.get("text", "")
                if c.get("finishReason"):
                    r["terminators"] += 1


# ---- raw clients ----

def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def request(port, path, body, close=True, extra=b""):
    body = body.encode() if isinstance(body, str) else body
    return (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n%s%s\r\n" % (path.encode(), port, len(body), extra,
                                                  b"Connection: close\r\n" if close else b"")) + body


def read_all(s, limit=10.0):
    s.settimeout(limit)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def slowloris(port, gap, seconds):
    s = connect(port)
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Slow: " % port + b"s" * 100000
    t0, sent = time.monotonic(), 0
    s.settimeout(gap)
    while time.monotonic() - t0 < seconds and sent < len(head):
        try:
            s.send(head[sent:sent + 1])
            sent += 1
        except OSError:
            out({"closed_after": round(time.monotonic() - t0, 2), "sent": sent})
            return
        # A close shows as EOF (or a reset) on a read.
        try:
            if s.recv(4096) == b"":
                out({"closed_after": round(time.monotonic() - t0, 2), "sent": sent})
                return
        except socket.timeout:
            pass
        except OSError:
            out({"closed_after": round(time.monotonic() - t0, 2), "sent": sent})
            return
    out({"closed_after": None, "sent": sent})


def bytewise(port, path, body):
    s = connect(port)
    for b in request(port, path, body):
        s.send(bytes([b]))
        time.sleep(0.0005)
    sys.stdout.buffer.write(read_all(s))


def parse_responses(data):
    """Splits HTTP/1.1 responses (Content-Length or chunked) in order."""
    res = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for l in lines[1:]:
            k, _, v = l.partition(b":")
            hdrs[k.strip().lower()] = v.strip()
        if b"content-length" in hdrs:
            n = int(hdrs[b"content-length"])
            body, data = rest[:n], rest[n:]
        elif hdrs.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                n = int(size_line.split(b";")[0], 16)
                body += rest[:n]
                rest = rest[n + 2:]
                if n == 0:
                    break
            data = rest
        else:
            body, data = rest, b""
        res.append({"status": status, "body": body.decode("utf-8", errors="replace")})
    return res


def pipeline(port, path, bodies):
    s = connect(port)
    s.sendall(b"".join(request(port, path, b, close=(i == len(bodies) - 1)) for i, b in enumerate(bodies)))
    out({"responses": parse_responses(read_all(s, 20))})


def hangup(port, phase, path, body):
    s = connect(port)
    req = request(port, path, body)
    head_len = req.index(b"\r\n\r\n") + 4
    received = 0
    if phase == "headers":
        s.sendall(req[:head_len // 2])
        time.sleep(0.3)
    elif phase == "body":
        s.sendall(req[:head_len + (len(req) - head_len) // 2])
        time.sleep(0.3)
    elif phase == "wait":
        s.sendall(req)
        s.settimeout(0.5)
        try:
            received = len(s.recv(65536))
        except socket.timeout:
            pass
    elif phase == "stream":
        s.sendall(req)
        s.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data or len(data) <= data.index(b"\r\n\r\n") + 4:
            d = s.recv(65536)
            if not d:
                break
            data += d
        received = len(data)
    else:
        sys.exit("hangup: unknown phase " + phase)
    s.close()
    out({"phase": phase, "received": received})


def keepalive(port, path, body, gap):
    """One request on a kept-alive connection, answered; then the next one
    trickled a byte every GAP seconds (GAP 0: nothing sent). Reports when,
    after the first answer, the proxy closed the connection."""
    s = connect(port)
    s.sendall(request(port, path, body, close=False))
    s.settimeout(10)
    data = b""
    while True:
        res = parse_responses(data)
        if res and b"\r\n\r\n" in data:
            head = data[:data.index(b"\r\n\r\n")].lower()
            if b"content-length" in head:
                n = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
                if len(data) >= data.index(b"\r\n\r\n") + 4 + n:
                    break
        d = s.recv(65536)
        if not d:
            out({"first": None, "closed_after": 0})
            return
        data += d
    first = parse_responses(data)[0]["status"]
    t0, sent = time.monotonic(), 0
    nxt = request(port, path, body)
    s.settimeout(gap if gap > 0 else 0.2)
    while time.monotonic() - t0 < 30:
        if gap > 0 and sent < len(nxt) - 1:
            try:
                s.send(nxt[sent:sent + 1])
                sent += 1
            except OSError:
                break
        try:
            if s.recv(4096) == b"":
                break
        except socket.timeout:
            continue
        except OSError:
            break
    out({"first": first, "closed_after": round(time.monotonic() - t0, 2), "sent": sent})


def raw(port, hexbytes):
    s = connect(port)
    s.sendall(bytes.fromhex(hexbytes))
    data = read_all(s, 5)
    status = int(data.split(b" ")[1]) if data.startswith(b"HTTP/") else None
    out({"status": status, "response": data.decode("utf-8", errors="replace")})


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    mode, args = argv[1], argv[2:]
    if mode == "summary":
        summary(args[0], args[1])
    elif mode == "slowloris":
        slowloris(int(args[0]), float(args[1]), float(args[2]))
    elif mode == "bytewise":
        bytewise(int(args[0]), args[1], args[2])
    elif mode == "pipeline":
        pipeline(int(args[0]), args[1], args[2:])
    elif mode == "hangup":
        hangup(int(args[0]), args[1], args[2], args[3])
    elif mode == "keepalive":
        keepalive(int(args[0]), args[1], args[2], float(args[3]))
    elif mode == "raw":
        raw(int(args[0]), args[1])
    else:
        sys.exit("fault-client.py: unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
