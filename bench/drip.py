"""drip.py - a slow model for bench/proxy.sh: an SSE upstream that sends
each answer's events one second apart, timed from when it read that
request, on every connection alike.

    python3 bench/drip.py PORT

Any POST gets a chat.completion.chunk stream of six events of exactly 320
bytes, the first at once and the rest at 1, 2, 3, 4 and 5 seconds, the
last followed at once by "data: [DONE]", then the connection closes. A
proxy that forwards each event as it arrives delivers it that much later
than a direct client gets it; one that batches holds events back by a
second. (nginx's limit_rate, used before, counts whole seconds from the
request's start and a connection's earlier bytes, so direct and proxied
streams could differ by a second with no proxy in between.)"""
import asyncio
import json
import sys

EVENT_BYTES = 320


def event(delta, finish=None, usage=None):
    c = {"id": "chatcmpl-drip", "object": "chat.completion.chunk", "created": 1700000000,
         "model": "gpt-4o-mini", "system_fingerprint": "",
         "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        c["usage"] = usage
    n = len("data: " + json.dumps(c, separators=(",", ":")) + "\n\n")
    c["system_fingerprint"] = "fp_" + "x" * (EVENT_BYTES - n - 3)
    s = "data: " + json.dumps(c, separators=(",", ":")) + "\n\n"
    assert len(s) == EVENT_BYTES, len(s)
    return s.encode()


EVENTS = [event({"role": "assistant", "content": ""}), event({"content": "Hello"}),
          event({"content": "! How can"}), event({"content": " I help"}), event({"content": " you today?"}),
          event({}, "stop", {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18})]
DONE = b"data: [DONE]\n\n"
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Connection: close\r\n\r\n")


async def serve(r, w):
    try:
        length = 0
        while (line := await r.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if length:
            await r.readexactly(length)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        w.write(HEAD)
        for i, e in enumerate(EVENTS):
            delay = t0 + i - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            w.write(e + (DONE if i == len(EVENTS) - 1 else b""))
            await w.drain()
    except (OSError, ValueError, asyncio.IncompleteReadError):
        pass
    finally:
        w.close()


async def main(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=4096)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
