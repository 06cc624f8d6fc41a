#!/usr/bin/env bash
# bench/soak.sh - `arouter proxy` under a long, faulty load, on loopback only.
#
# CLIENTS (1000) concurrent streaming clients, each on one keep-alive
# connection, send requests back to back for DURATION (60) seconds, in the
# three ingress dialects in turn, to the route "soak": a flaky OpenAI-dialect
# upstream (a fake upstream started with --directive fail_pct=FAIL_PCT: that
# share of its answers, drawn from a PRNG seeded with SEED, is cut after its
# second word) and a healthy Anthropic-dialect fallback (a second fake). Both
# drip their events DRIP (100) ms apart, so a stream takes about a second.
# Then, unless KILL=0, a fresh proxy on the same ledger and a second load
# of KILL_DURATION (10) seconds during which it is killed with SIGKILL at a
# random moment.
#
# What it checks (the exit status is 1 when one fails; the summary says which):
#   errors    no client sees an error: every stream is 200, holds the fake's
#             text exactly once (a cut stream is continued on the fallback)
#             and ends with exactly one terminator
#   rss       the proxy's VmRSS after warm-up (the first quarter) grows by
#             less than RSS_SLACK_KB (8192) to the end; samples reported
#   fds       the proxy's open descriptors when idle after the load are no
#             more than before it plus FD_SLACK (16)
#   rows      ledger rows == requests completed (the ledger-tool counts them)
#   exit      then SIGTERM: the proxy exits 0 (under ASan: no error, no leak)
#   kill      after the SIGKILL: rows of that load >= requests completed
#             50 ms before the kill (the writer's commit window, ledger.h)
#             and <= requests started; the ledger passes its integrity check
#
# Results are printed as markdown and appended to RESULTS (bench/RESULTS.md;
# /dev/null to only print); SUMMARY=FILE also writes them as JSON (what
# tests/soak.bats reads). It runs against any build, sanitizers included
# (tests/soak.bats uses a short one: CLIENTS=100 DURATION=10); for figures
# use a plain one, e.g.
#
#   git clone /path/to/arouter /tmp/arouter-soak && cd /tmp/arouter-soak &&
#     ./autogen.sh && ./configure CFLAGS='-O2 -g' && make -j2 &&
#     make tests/fake-upstream tests/ledger-tool && bench/soak.sh
#
# Needs python3 (standard library only). Environment: AROUTER (default
# src/arouter), FAKE_UPSTREAM (tests/fake-upstream), LEDGER_TOOL
# (tests/ledger-tool), CLIENTS, DURATION, FAIL_PCT (5), SEED (1), DRIP, KILL,
# KILL_DURATION, RESULTS, SUMMARY, KEEP=1 (keep the temp dir: configs,
# records, the access log).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/bench${PYTHONPATH:+:$PYTHONPATH}"
AROUTER=${AROUTER:-src/arouter}
FAKE_UPSTREAM=${FAKE_UPSTREAM:-tests/fake-upstream}
LEDGER_TOOL=${LEDGER_TOOL:-tests/ledger-tool}
CLIENTS=${CLIENTS:-1000}
DURATION=${DURATION:-60}
FAIL_PCT=${FAIL_PCT:-5}
SEED=${SEED:-1}
DRIP=${DRIP:-100}
KILL=${KILL:-1}
KILL_DURATION=${KILL_DURATION:-10}
RESULTS=${RESULTS:-bench/RESULTS.md}
SUMMARY=${SUMMARY:-}
RSS_SLACK_KB=${RSS_SLACK_KB:-8192}
FD_SLACK=${FD_SLACK:-16}

die() { echo "bench/soak.sh: $*" >&2; exit 2; }

command -v python3 > /dev/null || die "needs python3"
for b in "$AROUTER" "$FAKE_UPSTREAM" "$LEDGER_TOOL"; do
	[ -x "$b" ] || die "no executable '$b' (make, then make tests/fake-upstream tests/ledger-tool)"
done
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
AROUTER=$(abs "$AROUTER") FAKE_UPSTREAM=$(abs "$FAKE_UPSTREAM") LEDGER_TOOL=$(abs "$LEDGER_TOOL")
# The proxy holds two sockets a stream, the client and each fake one.
want_fds=$((2 * CLIENTS + 256))
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge "$want_fds" ] ||
	die "CLIENTS=$CLIENTS needs $want_fds descriptors; the hard limit is $hard"
[ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ] && ulimit -n "$want_fds"
sanitized=no
grep -aq __asan_init "$AROUTER" && sanitized=ASan

tmp=$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX")
pids=()
proxy_pid=
cleanup() {
	local p
	[ -z "$proxy_pid" ] || kill -TERM "$proxy_pid" 2> /dev/null || true
	for p in "${pids[@]}"; do kill -TERM "$p" 2> /dev/null || true; done
	wait 2> /dev/null || true
	if [ "${KEEP:-0}" != 0 ]; then echo "soak: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# An isolated home: no key, config or ledger of the machine's.
for v in $(env | sed -n 's/^\(AROUTER_[A-Za-z0-9_]*\)=.*/\1/p; s/^\([A-Za-z0-9_]*_API_KEY\)=.*/\1/p'); do unset "$v"; done
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config XDG_STATE_HOME=$tmp/home/.state \
	XDG_DATA_HOME=$tmp/home/.local/share XDG_CACHE_HOME=$tmp/home/.cache
mkdir -p "$XDG_CONFIG_HOME"

# fake NAME DIRECTIVE: a fake upstream; its port in $tmp/NAME.port.
fake() {
	"$FAKE_UPSTREAM" --port-file "$tmp/$1.port" --record "$tmp/$1.jsonl" --directive "$2" --seed "$SEED" \
		2> "$tmp/$1.err" < /dev/null &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$tmp/$1.port" ] && return 0; sleep 0.05; done
	die "the fake upstream $1 did not start: $(cat "$tmp/$1.err")"
}
fake flaky "fail_pct=$FAIL_PCT;drip=$DRIP"
fake steady "drip=$DRIP"
export AROUTER_OPENAI_BASE_URL=http://127.0.0.1:$(cat "$tmp/flaky.port")
export AROUTER_ANTHROPIC_BASE_URL=http://127.0.0.1:$(cat "$tmp/steady.port")
for slug in google deepseek xai kimi minimax mistral groq cohere nvidia dashscope openrouter ollama azure arouter; do
	export "AROUTER_$(echo "$slug" | tr 'a-z-' 'A-Z_')_BASE_URL=http://127.0.0.1:9"
done
export OPENAI_API_KEY=sk-soak-openai-000000 ANTHROPIC_API_KEY=sk-soak-anthropic-000000
cat > "$XDG_CONFIG_HOME/config.json" << 'EOF'
{"routes": {"soak": ["openai/gpt-soak", "anthropic/claude-soak"]},
 "routing": {"breaker": {"failures": 1000000}},
 "proxy": {"idle_timeout": 30}}
EOF
chmod 600 "$XDG_CONFIG_HOME/config.json"
export AROUTER_CONFIG=$XDG_CONFIG_HOME/config.json

start_proxy() {
	rm -f "$tmp/proxy.port"
	"$AROUTER" proxy --listen 127.0.0.1:0 --port-file "$tmp/proxy.port" --log "$tmp/access.log" \
		2>> "$tmp/proxy.err" < /dev/null &
	proxy_pid=$!
	for _ in $(seq 200); do [ -s "$tmp/proxy.port" ] && break; sleep 0.05; done
	[ -s "$tmp/proxy.port" ] || die "the proxy did not start: $(cat "$tmp/proxy.err")"
	pport=$(cat "$tmp/proxy.port")
}
# fds: the proxy's open descriptors, and how many of them are connections
# to the fakes that libcurl keeps for reuse (its connection cache, which
# holds idle connections until the upstream closes them or they are 118 s
# old): "TOTAL POOLED".
cat > "$tmp/fds.py" << 'EOF'
import os, sys
def upstream_sockets(pid, ports):
    """How many of pid's descriptors are TCP connections to these ports."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for l in lines:
            f = l.split()
            if int(f[2].split(":")[1], 16) in ports and f[9] in inodes:
                n += 1
    return n
if __name__ == "__main__":
    pid, ports = int(sys.argv[1]), {int(p) for p in sys.argv[2:]}
    print(len(os.listdir(f"/proc/{pid}/fd")), upstream_sockets(pid, ports))
EOF
fds() { python3 "$tmp/fds.py" "$proxy_pid" "$(cat "$tmp/flaky.port")" "$(cat "$tmp/steady.port")"; }
rss() { awk '$1 == "VmRSS:" {print $2}' "/proc/$proxy_pid/status"; }
ledger=$XDG_DATA_HOME/arouter/ledger.db
rows() { "$LEDGER_TOOL" count "$ledger"; }

cat > "$tmp/soak.py" << 'EOF'
"""N keep-alive clients streaming to the proxy in the three dialects in
turn; checks every answer; samples the proxy's VmRSS and descriptors; in
kill mode SIGKILLs the proxy at a random moment. Writes a JSON summary."""
import asyncio, json, os, random, signal, sys, time
from benchlib import proc_status, wait_or_cancel

host, port, n, duration, pid, out, mode, seed = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                                 float(sys.argv[4]), int(sys.argv[5]), sys.argv[6],
                                                 sys.argv[7], int(sys.argv[8]))
upstream_ports = {int(p) for p in sys.argv[9:]}
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fds import upstream_sockets
ANSWER = "Hello from the fake upstream."
rng = random.Random(seed)
st = {"started": 0, "ok": 0, "fail": {}, "latency": [], "samples": [], "done_at": []}
stop = False
t0 = time.monotonic()
kill_at = None

def req(dialect, i):
    prompt = f"soak {i}"
    if dialect == "openai":
        path = "/v1/chat/completions"
        body = {"model": "soak", "stream": True, "messages": [{"role": "user", "content": prompt}]}
    elif dialect == "anthropic":
        path = "/v1/messages"
        body = {"model": "soak", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": prompt}]}
    else:
        path = "/v1beta/models/soak:streamGenerateContent?alt=sse"
        body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    b = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(b)}\r\n\r\n").encode() + b

def events(text):
    ev, name, data = [], None, []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data or name is not None:
                ev.append((name, "\n".join(data)))
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    return ev

def check(dialect, body):
    """None when the stream is whole and right, else what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    got, ends, after = "", 0, 0
    for name, data in events(text):
        if ends:
            after += 1
        if dialect == "openai" and data == "[DONE]":
            ends += 1
            continue
        try:
            o = json.loads(data)
        except ValueError:
            return "not JSON"
        if name == "error" or "error" in o:
            return "error event"
        if dialect == "openai":
            for c in o.get("choices") or []:
                got += (c.get("delta") or {}).get("content") or ""
        elif dialect == "anthropic":
            if o.get("type") == "content_block_delta":
                got += o["delta"].get("text", "")
            elif o.get("type") == "message_stop":
                ends += 1
        else:
            for c in o.get("candidates") or []:
                for p in (c.get("content") or {}).get("parts") or []:
                    got += p.get("text", "")
                if c.get("finishReason"):
                    ends += 1
    if got == ANSWER + ANSWER:
        return "text twice"
    if got != ANSWER:
        return "wrong text" if len(got) >= len(ANSWER) else "short text"
    if ends != 1 or after:
        return f"{ends} terminators, {after} events after"
    return None

def fail(kind):
    st["fail"][kind] = st["fail"].get(kind, 0) + 1

async def one(r, w, dialect, i):
    """One request on the connection; True when the connection may be reused."""
    w.write(req(dialect, i))
    line = await r.readline()
    if not line:
        raise ConnectionResetError("closed")
    status = int(line.split()[1])
    chunked, length, close = False, None, False
    while (h := await r.readline()) not in (b"\r\n", b""):
        k, _, v = h.decode("latin-1").partition(":")
        k, v = k.strip().lower(), v.strip().lower()
        if k == "transfer-encoding" and "chunked" in v:
            chunked = True
        elif k == "content-length":
            length = int(v)
        elif k == "connection" and v == "close":
            close = True
    body = b""
    if chunked:
        while True:
            size = int((await r.readline()).split(b";")[0], 16)
            body += (await r.readexactly(size + 2))[:-2]
            if size == 0:
                break
    elif length is not None:
        body = await r.readexactly(length)
    else:
        body = await r.read()
        close = True
    if status != 200:
        fail(f"HTTP {status}")
    else:
        why = check(dialect, body)
        if why:
            fail(why)
        else:
            st["ok"] += 1
    return not close

async def worker(k):
    i = k
    r = w = None
    while not stop:
        if w is None:
            try:
                r, w = await asyncio.open_connection(host, port)
            except OSError as e:
                if kill_at is None:
                    fail(f"connect: {e.strerror}")
                await asyncio.sleep(0.1)
                continue
        dialect = ("openai", "anthropic", "gemini")[i % 3]
        t = time.monotonic()
        st["started"] += 1
        try:
            reuse = await one(r, w, dialect, i)
            st["done_at"].append(time.monotonic())
            st["latency"].append(time.monotonic() - t)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as e:
            if kill_at is None or time.monotonic() < kill_at:
                fail(type(e).__name__)
            else:
                st["cut_by_kill"] = st.get("cut_by_kill", 0) + 1
            reuse = False
        if not reuse:
            w.close()
            w = None
        i += n
    if w is not None:
        w.close()

def proc(key):
    return proc_status(pid, key)

async def sampler():
    while True:
        try:
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            pooled = upstream_sockets(pid, upstream_ports)
        except OSError:
            fds = pooled = None
        st["samples"].append([round(time.monotonic() - t0, 1), proc("VmRSS"), fds, pooled, st["ok"], proc("RssAnon")])
        await asyncio.sleep(1)

async def killer():
    global kill_at, stop
    await asyncio.sleep(rng.uniform(0.3, 0.7) * duration)
    kill_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    st["kill_s"] = round(kill_at - t0, 3)
    await asyncio.sleep(1)
    stop = True

async def main():
    global stop
    s = asyncio.create_task(sampler())
    k = asyncio.create_task(killer()) if mode == "kill" else None
    jobs = [asyncio.create_task(worker(j)) for j in range(n)]
    await asyncio.sleep(duration)
    stop = True
    # In-flight requests finish (a stream takes about a second).
    late = await wait_or_cancel(jobs, 60)
    if late:
        st["fail"]["still running 60 s after the end"] = late
    s.cancel()
    if k:
        k.cancel()
    lat = sorted(st.pop("latency"))
    q = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 3) if lat else None
    st["latency_s"] = {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": q(1.0)}
    done_at = st.pop("done_at")
    if kill_at is not None:
        st["done_before_kill_minus_50ms"] = sum(1 for t in done_at if t < kill_at - 0.05)
        st["done_before_kill"] = sum(1 for t in done_at if t < kill_at)
        st["done_after_kill"] = sum(1 for t in done_at if t >= kill_at)
    st["completed"] = len(done_at)
    st["seconds"] = round(time.monotonic() - t0, 1)
    json.dump(st, open(out, "w"))

asyncio.run(main())
EOF

# ---- the soak ----
start_proxy
sleep 0.5
read -r fds_idle pooled_idle <<< "$(fds)"
rss_idle=$(rss)
ports="$(cat "$tmp/flaky.port") $(cat "$tmp/steady.port")"
echo "soak: $CLIENTS clients for $DURATION s through the proxy (pid $proxy_pid, $sanitized sanitizers)" >&2
python3 "$tmp/soak.py" 127.0.0.1 "$pport" "$CLIENTS" "$DURATION" "$proxy_pid" "$tmp/soak.json" soak "$SEED" $ports ||
	die "the soak client failed"
# Idle again: keep-alive connections to the client are gone.
sleep 2
read -r fds_after pooled_after <<< "$(fds)"
rss_after=$(rss)
sleep 0.2
rows_soak=$(rows)
flaky_reqs=$(grep -c '"method"' "$tmp/flaky.jsonl" || true)
flaky_cut=$(grep -c '"event":"fail_pct"' "$tmp/flaky.jsonl" || true)
steady_reqs=$(grep -c '"method"' "$tmp/steady.jsonl" || true)

# A clean stop: exit status 0 (a sanitizer report, a leak included, would
# make it 86 or 87).
kill -TERM "$proxy_pid"
proxy_rc=0
wait "$proxy_pid" || proxy_rc=$?
proxy_pid=
[ "$proxy_rc" = 0 ] || echo "soak: the proxy exited with $proxy_rc: $(tail -20 "$tmp/proxy.err")" >&2

# ---- SIGKILL in the middle of a load, on a fresh proxy and the same ledger ----
kill_json=null
if [ "$KILL" != 0 ]; then
	start_proxy
	echo "soak: $CLIENTS clients for $KILL_DURATION s, SIGKILL at a random moment" >&2
	python3 "$tmp/soak.py" 127.0.0.1 "$pport" "$CLIENTS" "$KILL_DURATION" "$proxy_pid" "$tmp/kill.json" kill \
		"$((SEED + 1))" $ports || die "the kill client failed"
	wait "$proxy_pid" 2> /dev/null || true
	proxy_pid=
	rows_total=$(rows) || die "the ledger fails its integrity check after the SIGKILL"
	kill_json=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["rows"]=int(sys.argv[2]); print(json.dumps(d))' \
		"$tmp/kill.json" "$((rows_total - rows_soak))")
fi

commit=$(git rev-parse --short HEAD 2> /dev/null || echo unknown)
python3 - "$tmp/soak.json" "$kill_json" "$CLIENTS" "$DURATION" "$FAIL_PCT" "$DRIP" "$fds_idle" "$fds_after" \
	"$pooled_idle" "$pooled_after" "$rss_idle" "$rss_after" "$proxy_rc" "$rows_soak" "$flaky_reqs" "$flaky_cut" "$steady_reqs" "$RSS_SLACK_KB" "$FD_SLACK" \
	"$sanitized" "$(date -u +%Y-%m-%d)" "$(nproc)" "$(uname -sr)" "$("$AROUTER" --version | head -1)" "$commit" \
	"$tmp/summary.json" > "$tmp/section.md" << 'EOF'
import json, sys
(soak_f, kill_s, clients, duration, fail_pct, drip, fds_idle, fds_after, pooled_idle, pooled_after, rss_idle, rss_after, proxy_rc, rows, flaky, cut,
 steady, rss_slack, fd_slack, san, date, nproc, kernel, version, commit, summary_f) = sys.argv[1:]
s = json.load(open(soak_f))
k = json.loads(kill_s)
clients, duration, fds_idle, fds_after = int(clients), int(duration), int(fds_idle), int(fds_after)
pooled_idle, pooled_after = int(pooled_idle), int(pooled_after)
rss_idle, rss_after, rows, rss_slack, fd_slack = int(rss_idle), int(rss_after), int(rows), int(rss_slack), int(fd_slack)
samples = s["samples"]
warm = [x for x in samples if x[0] >= duration / 4 and x[0] <= duration and x[1]]
rss_warm = warm[0][1] if warm else None
rss_max_after = max(x[1] for x in warm) if warm else None
rss_end = warm[-1][1] if warm else None
fds_max = max((x[2] or 0) for x in samples)
# Under load, descriptors other than the pooled upstream connections, at the
# first sample after warm-up and at most after it: no creep while it runs.
busy = [x[2] - x[3] for x in warm if x[2] is not None and x[3] is not None]
checks = {
    "errors": not s["fail"] and s["ok"] == s["completed"] and s["ok"] > 0,
    "rss": rss_warm is not None and rss_max_after - rss_warm < rss_slack,
    "fds": fds_after - pooled_after <= fds_idle - pooled_idle + fd_slack and
           pooled_after <= 2 * clients + fd_slack and bool(busy) and max(busy) <= busy[0] + fd_slack,
    "rows": rows == s["completed"],
    "exit": proxy_rc == "0",
}
if k:
    checks["kill"] = k["done_before_kill_minus_50ms"] <= k["rows"] <= k["started"] and \
        not {x: v for x, v in k["fail"].items() if not x.startswith("connect")}
summary = {"soak": s, "kill": k, "fds_idle": fds_idle, "fds_after": fds_after, "fds_max": fds_max,
           "pooled_idle": pooled_idle, "pooled_after": pooled_after, "fds_busy_first": busy[0] if busy else None,
           "fds_busy_max": max(busy) if busy else None,
           "rss_idle_kb": rss_idle, "rss_after_warmup_kb": rss_warm, "rss_max_after_warmup_kb": rss_max_after,
           "rss_end_kb": rss_end, "rss_after_kb": rss_after, "rows": rows, "flaky_requests": int(flaky),
           "flaky_cut": int(cut), "steady_requests": int(steady), "checks": checks, "passed": all(checks.values())}
json.dump(summary, open(summary_f, "w"), indent=1)
mb = lambda kb: f"{kb / 1024:.1f} MiB" if kb else "-"
ok = lambda b: "met" if b else "**missed**"
P = print
P(f"## Soak ({date}, {nproc} cores, {kernel})")
P()
P(f"`bench/soak.sh`: {version} (commit {commit}, {'no' if san == 'no' else san} sanitizers). {clients:,} concurrent")
P(f"keep-alive streaming clients (python asyncio) for {duration} s, the three ingress dialects in turn, to a route of a")
P(f"flaky OpenAI-dialect fake upstream ({fail_pct}% of answers cut after the second word, seeded) and a healthy")
P(f"Anthropic-dialect fallback; events {drip} ms apart. All on loopback, on the same {nproc} cores.")
P()
P("| check | measured | |")
P("|---|---|---|")
fails = ", ".join(f"{v} {x}" for x, v in s["fail"].items()) or "none"
P(f"| no client-visible error; every text whole and once | {s['ok']:,} of {s['completed']:,} streams right ({fails}); "
  f"{s['completed'] / s['seconds']:,.0f} streams/s; latency p50 {s['latency_s']['p50']} s, p99 {s['latency_s']['p99']} s | {ok(checks['errors'])} |")
P(f"| faults injected | {int(cut):,} of {int(flaky) + int(cut):,} flaky answers cut, each continued on the fallback "
  f"({int(steady):,} fallback requests) | |")
P(f"| RSS flat after warm-up (< {rss_slack // 1024} MiB growth) | {mb(rss_idle)} idle; {mb(rss_warm)} at {duration // 4} s, at most "
  f"{mb(rss_max_after)} after, {mb(rss_end)} at the end; {mb(rss_after)} idle after | {ok(checks['rss'])} |")
P(f"| no descriptor growth | {fds_idle} idle before; under load, besides pooled upstream connections, {busy[0] if busy else '-'} "
  f"at {duration // 4} s and at most {max(busy) if busy else '-'} after ({fds_max:,} in all at most); idle after, {fds_after} of which "
  f"{pooled_after} are idle upstream connections libcurl keeps for reuse | {ok(checks['fds'])} |")
P(f"| SIGTERM afterwards: exit status 0 | {proxy_rc} | {ok(checks['exit'])} |")
P(f"| ledger rows == completed requests | {rows:,} rows, {s['completed']:,} completed | {ok(checks['rows'])} |")
if k:
    P(f"| SIGKILL at {k['kill_s']} s of a {k['seconds']:.0f} s load: rows == completed before the kill (±50 ms) | "
      f"{k['rows']:,} rows; completed {k['done_before_kill_minus_50ms']:,} by 50 ms before, {k['done_before_kill']:,} by the kill, "
      f"{k['done_after_kill']:,} after it; {k.get('cut_by_kill', 0):,} streams cut by it | {ok(checks['kill'])} |")
P()
step = max(1, len(samples) // 12)
P("VmRSS (RssAnon, the heap's part) / descriptors (pooled upstream connections among them), sampled: " +
  ", ".join(f"{x[0]:.0f} s {mb(x[1])} ({mb(x[5])}) / {x[2]} ({x[3]})" for x in samples[::step] if x[1]))
P()
EOF
cat "$tmp/section.md"
[ "$RESULTS" = /dev/null ] || cat "$tmp/section.md" >> "$RESULTS"
[ -z "$SUMMARY" ] || cp "$tmp/summary.json" "$SUMMARY"
python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["passed"] else 1)' "$tmp/summary.json"
