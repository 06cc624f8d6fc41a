#!/usr/bin/env bash
# bench/proxy.sh - what `arouter proxy` costs, measured against a direct
# baseline in the same run. nginx (bench/nginx.conf, in a temp prefix)
# answers a fixed chat.completion and a fixed SSE stream on loopback, and
# bench/drip.py a slow SSE stream (an event a second); wrk drives them
# directly and through the proxy:
#
#   latency      1 connection, 1 thread: p50/p99 direct vs proxied (added),
#                with wrk, nginx and the proxy on one CPU, then unpinned;
#                for reference, the same through a second nginx that only
#                relays (bench/nginx-relay.conf): what a mature C reverse
#                proxy adds on this machine, in the same run; and a
#                request of 256 KiB (an agent's conversation), where the
#                proxy's cost is reading and writing the JSON
#   throughput   32 connections, 2 threads: requests/s proxied (and direct)
#   streaming    32 connections: a whole SSE stream per request
#   streams      STREAMS (1000) concurrent slow streams held open by a small
#                python asyncio client, directly and proxied: every event's
#                arrival time (batching would delay it by the drip interval),
#                and the proxy's VmRSS idle, under the streams, and after
#
# Results are printed as markdown and appended to bench/RESULTS.md. Every
# run is bounded in time (under 2 minutes in all). Run it by hand on a quiet
# machine, against a build without sanitizers, e.g.:
#
#   git clone /path/to/arouter /tmp/arouter-bench && cd /tmp/arouter-bench &&
#     ./autogen.sh && ./configure CFLAGS='-O2 -g' && make -j2
#   AROUTER=/tmp/arouter-bench/src/arouter bench/proxy.sh
#
# Needs nginx, wrk, python3 and curl (apt-get install -y nginx-light wrk).
# Environment: AROUTER (default src/arouter), DURATION (seconds per wrk
# run, default 10), STREAMS (default 1000), RESULTS (default
# bench/RESULTS.md; /dev/null to only print), PROFILE=1 (afterwards, run the
# proxy under callgrind for a short 1-connection load and print the top
# functions; needs valgrind; adds about 30 s; PROFILE=only skips the
# measurements and only profiles), KEEP=1 (keep the temp dir:
# wrk output, nginx config, callgrind.out).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/bench${PYTHONPATH:+:$PYTHONPATH}"
AROUTER=${AROUTER:-src/arouter}
DURATION=${DURATION:-10}
STREAMS=${STREAMS:-1000}
RESULTS=${RESULTS:-bench/RESULTS.md}
PROFILE=${PROFILE:-0}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
TEMPLATE=bench/nginx.conf

die() { echo "bench/proxy.sh: $*" >&2; exit 1; }

# ---- prerequisites ----
missing=
[ -x "$NGINX" ] || missing="$missing nginx-light"
command -v wrk >/dev/null || missing="$missing wrk"
command -v python3 >/dev/null || missing="$missing python3"
command -v curl >/dev/null || missing="$missing curl"
command -v taskset >/dev/null || missing="$missing util-linux"
[ -z "$missing" ] || die "missing:$missing (apt-get install -y$missing)"
[ "$PROFILE" = 0 ] || command -v valgrind >/dev/null || die "PROFILE=1 needs valgrind (apt-get install -y valgrind)"
[ -x "$AROUTER" ] || die "no arouter binary at '$AROUTER' (set AROUTER=path)"
AROUTER=$(cd "$(dirname "$AROUTER")" && pwd)/$(basename "$AROUTER")
if grep -aqE '__(asan|ubsan|tsan|msan|lsan)_' "$AROUTER" ||
	{ command -v ldd >/dev/null && ldd "$AROUTER" 2>/dev/null | grep -qE 'lib(a|ub|t|m|l)san'; }; then
	die "$AROUTER is built with sanitizers; benchmark a plain build (./configure CFLAGS='-O2 -g')"
fi
# Each proxied stream holds two sockets in the proxy.
want_fds=$((2 * STREAMS + 256))
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge "$want_fds" ] ||
	die "STREAMS=$STREAMS needs $want_fds descriptors; the hard limit is $(ulimit -Hn)"
[ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ] && ulimit -n "$want_fds"

# How idle the CPUs are over 2 s, in percent: other work skews the figures.
idle_pct() {
	local a b
	a=$(head -1 /proc/stat)
	sleep 2
	b=$(head -1 /proc/stat)
	echo "$a $b" | awk '{t = 0; for (i = 2; i <= 9; i++) t += $(i + 11) - $i; print int(100 * ($16 - $5) / t)}'
}
idle_start=$(idle_pct)
[ "$idle_start" -ge 90 ] ||
	echo "bench: warning: the CPUs were only $idle_start% idle just now; other work will skew the figures" >&2
tmp=$(mktemp -d /tmp/bench-proxy.XXXXXX)
nginx_pid= proxy_pid= drip_pid= relay_pid=
cleanup() {
	[ -z "$relay_pid" ] || kill "$relay_pid" 2>/dev/null || true
	[ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null || true
	[ -z "$nginx_pid" ] || kill "$nginx_pid" 2>/dev/null || true
	[ -z "$drip_pid" ] || kill "$drip_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	if [ "${KEEP:-0}" != 0 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- the upstream: nginx in $tmp ----
nport=$(free_port)
mkdir -p "$tmp/logs"
sed -e "s#@PREFIX@#$tmp#g" -e "s#@PORT@#$nport#g" "$TEMPLATE" >"$tmp/nginx.conf"
"$NGINX" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/logs/error.log" >"$tmp/logs/nginx.out" 2>&1 &
nginx_pid=$!
up="http://127.0.0.1:$nport"
# The reference relay: a second nginx in front of the first.
rport=$(free_port)
sed -e "s#@PREFIX@#$tmp#g" -e "s#@PORT@#$rport#g" -e "s#@UPSTREAM@#$nport#g" bench/nginx-relay.conf >"$tmp/nginx-relay.conf"
"$NGINX" -p "$tmp" -c "$tmp/nginx-relay.conf" -e "$tmp/logs/relay-error.log" >"$tmp/logs/relay.out" 2>&1 &
relay_pid=$!
relay="http://127.0.0.1:$rport"
# The slow model: bench/drip.py, one event a second from each request.
dport=$(free_port)
python3 bench/drip.py "$dport" >"$tmp/logs/drip.out" 2>&1 &
drip_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null --max-time 1 -d '{}' "$up/v1/chat/completions" && break; sleep 0.1; done
curl -sf -o /dev/null --max-time 2 -d '{}' "$up/v1/chat/completions" ||
	die "nginx did not start: $(cat "$tmp/logs/nginx.out" "$tmp/logs/error.log" 2>/dev/null)"
for _ in $(seq 50); do grep -q ready "$tmp/logs/drip.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$tmp/logs/drip.out" || die "bench/drip.py did not start: $(cat "$tmp/logs/drip.out")"
for _ in $(seq 50); do curl -s -o /dev/null --max-time 1 -d '{}' "$relay/v1/chat/completions" && break; sleep 0.1; done

# ---- the proxy, with a config and a home of its own ----
cat >"$tmp/config.json" <<EOF
{"providers": {"nginxsse": {"base_url": "$up/stream", "dialect": "openai"},
               "drip": {"base_url": "http://127.0.0.1:$dport", "dialect": "openai"}},
 "routes": {"bench/fallback3": {"models": ["openai/gpt-4o-mini", "nginxsse/gpt-4o-mini", "drip/gpt-4o-mini"]}}}
EOF
# The same without the usage ledger, for what recording costs.
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["proxy"]={"ledger": False}; json.dump(c, open(sys.argv[2],"w"))' \
	"$tmp/config.json" "$tmp/config-noledger.json"
mkdir -p "$tmp/home"
for v in $(env | sed -n 's/^\(AROUTER_[A-Za-z0-9_]*\)=.*/\1/p; s/^\([A-Z0-9_]*_API_KEY\)=.*/\1/p'); do unset "$v"; done
export HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/home/.config" XDG_STATE_HOME="$tmp/home/.state" \
	XDG_CACHE_HOME="$tmp/home/.cache" XDG_DATA_HOME="$tmp/home/.local/share"
export AROUTER_CONFIG="$tmp/config.json" OPENAI_API_KEY=sk-bench-000000000000 AROUTER_OPENAI_BASE_URL="$up"

start_proxy() { # [wrapper...]
	rm -f "$tmp/proxy.port"
	"$@" "$AROUTER" proxy --listen 127.0.0.1:0 --port-file "$tmp/proxy.port" --log /dev/null \
		>"$tmp/logs/proxy.out" 2>&1 &
	proxy_pid=$!
	for _ in $(seq 300); do [ -s "$tmp/proxy.port" ] && break; sleep 0.1; done
	[ -s "$tmp/proxy.port" ] || die "the proxy did not start: $(cat "$tmp/logs/proxy.out")"
	pport=$(cat "$tmp/proxy.port")
	px="http://127.0.0.1:$pport"
}
stop_proxy() {
	kill -TERM "$proxy_pid" 2>/dev/null || true
	wait "$proxy_pid" 2>/dev/null || true
	proxy_pid=
}
start_proxy
sleep 0.5
rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$proxy_pid/status"; }
rss_idle=$(rss VmRSS) anon_idle=$(rss RssAnon) file_idle=$(rss RssFile)

body_direct='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
body_proxy='{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
body_route='{"model":"bench/fallback3","messages":[{"role":"user","content":"hi"}]}'
body_sse_direct='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
body_sse_proxy='{"model":"nginxsse/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
# A long conversation: 256 KiB of turns of code-like text (quotes,
# backslashes, newlines: what a coding agent sends). Too big for an
# environment variable, so wrk reads it from a file ("@path").
python3 - "$tmp" <<'PYEOF'
import json, sys
line = 'if (x->name[i] == \'"\') { printf("%s\\n", s); } /* quoted: "yes" */\n'
turns = []
while len(json.dumps(turns)) < 256 * 1024:
    turns.append({"role": "user" if len(turns) % 2 == 0 else "assistant", "content": line * 40})
for name, model in (("direct", "gpt-4o-mini"), ("proxy", "openai/gpt-4o-mini")):
    with open(f"{sys.argv[1]}/big_{name}.json", "w") as f:
        json.dump({"model": model, "messages": turns}, f)
PYEOF
body_big_direct="@$tmp/big_direct.json"
body_big_proxy="@$tmp/big_proxy.json"

# ---- each path answers what it should ----
check() { # url body expected-substring (a body of @path: that file)
	local got
	got=$(curl -s --max-time 5 -H 'Content-Type: application/json' --data-binary "$2" -w '\n%{http_code}' "$1") || true
	case "$got" in
	*"$3"*200) ;;
	*) die "$1 with $2 answered: $got" ;;
	esac
}
check "$up/v1/chat/completions" "$body_direct" '"content":"Hello! How can I help you today?"'
check "$relay/v1/chat/completions" "$body_direct" '"content":"Hello! How can I help you today?"'
check "$px/v1/chat/completions" "$body_proxy" '"content":"Hello! How can I help you today?"'
check "$px/v1/chat/completions" "$body_route" '"content":"Hello! How can I help you today?"'
check "$up/stream/v1/chat/completions" "$body_sse_direct" 'data: [DONE]'
check "$px/v1/chat/completions" "$body_sse_proxy" 'data: [DONE]'
check "$up/v1/chat/completions" "$body_big_direct" '"content":"Hello! How can I help you today?"'
check "$px/v1/chat/completions" "$body_big_proxy" '"content":"Hello! How can I help you today?"'

# ---- wrk ----
cat >"$tmp/post.lua" <<'EOF'
wrk.method = "POST"
local body = os.getenv("BENCH_BODY")
if body:sub(1, 1) == "@" then
	local f = assert(io.open(body:sub(2), "rb"))
	body = f:read("*a")
	f:close()
end
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("BENCH requests=%d seconds=%.3f rps=%.1f p50=%d p90=%d p99=%d max=%d mean=%.1f errors=%d non2xx=%d\n",
		summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
		e.connect + e.read + e.write + e.timeout, e.status))
end
EOF
proxy_ticks() { awk '{print $14 + $15}' "/proc/${CPU_PID:-$proxy_pid}/stat"; }
# run NAME THREADS CONNS URL BODY: wrk's summary, and the CPU time the proxy
# used meanwhile (CPU_PID=pid: that process's instead), into $tmp/NAME.txt.
# With PIN=1, wrk, nginx's worker, the relay's worker and the proxy (every
# thread of it: -a) share CPU 0.
run() {
	local name=$1 t=$2 c=$3 url=$4 body=$5 t0 pin=
	echo "bench: $name (-t$t -c$c -d${DURATION}s${PIN:+, all on CPU 0})" >&2
	if [ -n "${PIN:-}" ]; then
		pin="taskset -c 0"
		for p in $proxy_pid $(pgrep -P "$nginx_pid") $(pgrep -P "$relay_pid"); do taskset -apc 0 "$p" >/dev/null; done
	fi
	t0=$(proxy_ticks)
	BENCH_BODY=$body timeout $((DURATION + 30)) $pin wrk -t"$t" -c"$c" -d"${DURATION}s" --timeout 10s --latency \
		-s "$tmp/post.lua" "$url" >"$tmp/$name.txt" 2>&1 || die "wrk $name failed: $(cat "$tmp/$name.txt")"
	grep -q '^BENCH ' "$tmp/$name.txt" || die "wrk $name printed no summary: $(cat "$tmp/$name.txt")"
	echo "PROXYCPU ticks=$(($(proxy_ticks) - t0)) hz=$(getconf CLK_TCK)" >>"$tmp/$name.txt"
	if [ -n "${PIN:-}" ]; then
		for p in $proxy_pid $(pgrep -P "$nginx_pid") $(pgrep -P "$relay_pid"); do taskset -apc "0-$(($(nproc) - 1))" "$p" >/dev/null; done
	fi
}
# At one connection, a wake-up across CPUs costs more than the work when the
# other CPU is idle (tens of µs under KVM), so latency is measured twice:
# all on one CPU (the proxy's own cost; the targets) and unpinned.
if [ "$PROFILE" != only ]; then
PIN=1 run lat_direct 1 1 "$up/v1/chat/completions" "$body_direct"
PIN=1 run lat_proxy 1 1 "$px/v1/chat/completions" "$body_proxy"
PIN=1 CPU_PID=$(pgrep -P "$relay_pid") run lat_relay 1 1 "$relay/v1/chat/completions" "$body_direct"
PIN=1 run lat_big_direct 1 1 "$up/v1/chat/completions" "$body_big_direct"
PIN=1 run lat_big_proxy 1 1 "$px/v1/chat/completions" "$body_big_proxy"
run lat_direct_unpinned 1 1 "$up/v1/chat/completions" "$body_direct"
run lat_proxy_unpinned 1 1 "$px/v1/chat/completions" "$body_proxy"
run tput_direct 2 32 "$up/v1/chat/completions" "$body_direct"
run tput_proxy 2 32 "$px/v1/chat/completions" "$body_proxy"
run sse_direct 2 32 "$up/stream/v1/chat/completions" "$body_sse_direct"
run sse_proxy 2 32 "$px/v1/chat/completions" "$body_sse_proxy"
# Routing: a three-model fallback route whose first candidate is healthy.
PIN=1 run lat_route 1 1 "$px/v1/chat/completions" "$body_route"
run tput_route 2 32 "$px/v1/chat/completions" "$body_route"
# The baseline again, next to the runs it is compared with: on a VM the
# same run minutes apart differs by more than the 10% being judged.
run tput_proxy_again 2 32 "$px/v1/chat/completions" "$body_proxy"
PIN=1 run lat_proxy_again 1 1 "$px/v1/chat/completions" "$body_proxy"
sleep 1
rss_after_wrk=$(rss VmRSS)
# The ledger: the same proxy without it (every run above records a row a request).
stop_proxy
AROUTER_CONFIG="$tmp/config-noledger.json" start_proxy
PIN=1 run lat_noledger 1 1 "$px/v1/chat/completions" "$body_proxy"
run tput_noledger 2 32 "$px/v1/chat/completions" "$body_proxy"
stop_proxy
start_proxy
sleep 0.5

# ---- STREAMS slow streams at once, direct and proxied ----
cat >"$tmp/streams.py" <<'EOF'
"""Holds N SSE streams open at once; records when each event arrives and,
given a pid, that process's VmRSS while all N are open."""
import asyncio, json, sys, time
from benchlib import proc_status, wait_or_cancel

host, port, path, model, n, pid, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
body = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
req = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
st = {"open": 0, "max_open": 0, "started": 0, "ok": 0, "fail": {}, "times": [], "rss_held": None,
      "open_at_sample": 0, "rss_max_open": 0}
held = asyncio.Event()

def status(key):
    return proc_status(pid, key)

async def one():
    t0 = time.monotonic()
    times, buf, started = [], b"", False
    try:
        r, w = await asyncio.open_connection(host, port)
    except OSError as e:
        st["fail"][f"connect: {e.strerror}"] = st["fail"].get(f"connect: {e.strerror}", 0) + 1
        return
    st["open"] += 1
    st["max_open"] = max(st["max_open"], st["open"])
    try:
        w.write(req)
        code = int((await r.readline()).split()[1])
        chunked = False
        while (line := await r.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower():
                chunked = True
        last = b""
        while True:
            if chunked:
                size = int((await r.readline()).split(b";")[0], 16)
                data = (await r.readexactly(size + 2))[:-2] if size else b""
                if size == 0:
                    break
            else:
                data = await r.read(65536)
                if not data:
                    break
            now = time.monotonic() - t0
            buf += data
            while b"\n\n" in buf:
                last, buf = buf.split(b"\n\n", 1)
                times.append(now)
                if not started:
                    started = True
                    st["started"] += 1
                    if st["started"] == n:
                        held.set()
            if last == b"data: [DONE]":
                break
        if code == 200 and last == b"data: [DONE]":
            st["ok"] += 1
            st["times"].append(times)
        else:
            k = f"status {code}" if code != 200 else "no [DONE]"
            st["fail"][k] = st["fail"].get(k, 0) + 1
    except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as e:
        st["fail"][type(e).__name__] = st["fail"].get(type(e).__name__, 0) + 1
    finally:
        st["open"] -= 1
        w.close()

async def sample():
    while pid:
        if st["open"] == n:
            v = status("VmRSS")
            if v:
                st["rss_max_open"] = max(st["rss_max_open"], v)
        await asyncio.sleep(0.05)

async def main():
    t = asyncio.create_task(sample())
    jobs = [asyncio.create_task(one()) for _ in range(n)]
    async def when_held():
        await held.wait()
        await asyncio.sleep(0.2)
        if pid:
            st["rss_held"], st["open_at_sample"] = status("VmRSS"), st["open"]
    h = asyncio.create_task(when_held())
    late = await wait_or_cancel(jobs, 60)
    if late:
        st["fail"]["timed out"] = late
    t.cancel()
    h.cancel()
    if pid:
        st["hwm"] = status("VmHWM")
    times = st.pop("times")
    ne = max((len(x) for x in times), default=0)
    st["events"] = ne
    # Per event: the median and the worst arrival over all streams.
    med = lambda v: sorted(v)[len(v) // 2]
    st["event_p50_s"] = [med([x[i] for x in times if len(x) > i]) for i in range(ne)]
    st["event_max_s"] = [max(x[i] for x in times if len(x) > i) for i in range(ne)]
    json.dump(st, open(out, "w"))

asyncio.run(main())
EOF
echo "bench: $STREAMS slow streams direct" >&2
timeout 90 python3 "$tmp/streams.py" 127.0.0.1 "$dport" /v1/chat/completions gpt-4o-mini "$STREAMS" 0 "$tmp/streams_direct.json"
sleep 0.5
rss_before_streams=$(rss VmRSS)
echo "bench: $STREAMS slow streams through the proxy" >&2
timeout 90 python3 "$tmp/streams.py" 127.0.0.1 "$pport" /v1/chat/completions drip/gpt-4o-mini "$STREAMS" "$proxy_pid" "$tmp/streams_proxy.json"
sleep 1
rss_after_streams=$(rss VmRSS)
stop_proxy

# ---- the report ----
ver_nginx=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
ver_wrk=$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2 || true)
ver_arouter=$("$AROUTER" --version 2>/dev/null | head -1)
src_dir=$(dirname "$(dirname "$AROUTER")")
commit=$(git -C "$src_dir" rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)

python3 - "$tmp" "$DURATION" "$STREAMS" "$idle_start" \
	"$rss_idle" "$anon_idle" "$file_idle" "$rss_after_wrk" "$rss_before_streams" "$rss_after_streams" \
	"$(date -u +%Y-%m-%d)" "$(nproc)" "$cpu" "$(uname -sr)" "$ver_nginx" "$ver_wrk" "$ver_arouter" "$commit" \
	>"$tmp/section.md" <<'EOF'
import json, os, re, sys
(tmp, duration, streams, idle_start, rss_idle, anon_idle, file_idle, rss_after_wrk, rss_before, rss_after,
 date, nproc, cpu, kernel, v_nginx, v_wrk, v_arouter, commit) = sys.argv[1:]
streams, rss_idle, anon_idle, file_idle = int(streams), int(rss_idle), int(anon_idle), int(file_idle)
rss_after_wrk, rss_before, rss_after = int(rss_after_wrk), int(rss_before), int(rss_after)
def w(name):
    text = open(f"{tmp}/{name}.txt").read()
    line = next(l for l in text.splitlines() if l.startswith("BENCH "))
    r = {k: float(v) for k, v in re.findall(r"(\w+)=([-\d.]+)", line)}
    cpu = dict(re.findall(r"(\w+)=(\d+)", next(l for l in text.splitlines() if l.startswith("PROXYCPU "))))
    r["cores"] = int(cpu["ticks"]) / int(cpu["hz"]) / r["seconds"]
    return r
ld, lp, ud, uprx, td, tp, sd, sp = (w(n) for n in ("lat_direct", "lat_proxy", "lat_direct_unpinned", "lat_proxy_unpinned",
                                                  "tput_direct", "tput_proxy", "sse_direct", "sse_proxy"))
lr, tr, ln, tn, ta, la, lx = (w(n) for n in ("lat_route", "tput_route", "lat_noledger", "tput_noledger",
                                              "tput_proxy_again", "lat_proxy_again", "lat_relay"))
lbd, lbp = w("lat_big_direct"), w("lat_big_proxy")
big_kib = os.path.getsize(f"{tmp}/big_proxy.json") / 1024
# The 10% comparisons judge against the mean of the two runs of the
# baseline, the second of which is adjacent to both.
tb = (tp["rps"] + ta["rps"]) / 2
lb = (lp["p50"] + la["p50"]) / 2
hd = json.load(open(f"{tmp}/streams_direct.json"))
hp = json.load(open(f"{tmp}/streams_proxy.json"))
for h in (hd, hp):
    h["rss_held"] = h.get("rss_held") or 0
    h["hwm"] = h.get("hwm") or 0
ok = lambda b: "met" if b else "**missed**"
errs = lambda r: f"{int(r['errors'])} errors, {int(r['non2xx'])} non-2xx" if r["errors"] or r["non2xx"] else "no errors"
add50, add99 = lp["p50"] - ld["p50"], lp["p99"] - ld["p99"]
# Batching would hold an event back until later ones came (a second apart).
lag = [p - d for p, d in zip(hp["event_p50_s"], hd["event_p50_s"])]
lag_max = [p - d for p, d in zip(hp["event_max_s"], hd["event_max_s"])]
n_ev = hd["events"]
stream_ok = hp["events"] == n_ev and n_ev >= 5 and max(lag) < 0.25 and hp["ok"] == streams
held = hp["ok"] == streams and hp["open_at_sample"] == streams and not hp["fail"]
per_stream = (hp["rss_held"] - rss_before) * 1024 / streams if hp["rss_held"] else float("nan")
per_stream_max = (hp["rss_max_open"] - rss_before) * 1024 / streams if hp["rss_max_open"] else float("nan")
fails = lambda h: ", ".join(f"{v} {k}" for k, v in h["fail"].items()) or "none failed"
us = lambda v: f"{v:.0f} µs"
P = print
P(f"## Proxy ({date}, {nproc} cores, {cpu}, {kernel})")
P()
P(f"`bench/proxy.sh`: {v_arouter} (commit {commit}, no sanitizers) in front of {v_nginx} (1 worker,")
P(f"fixed responses from `return`), driven by {v_wrk}; all on loopback, on the same {nproc} cores (for")
P(f"the latency targets all three on CPU 0); the CPUs were {idle_start}% idle just before. wrk runs {duration} s each;")
P(f"{streams} streams by a python asyncio client.")
P()
P("| target | measured | |")
P("|---|---|---|")
P(f"| added latency p50 ≤ 50 µs (1 connection, one CPU) | {us(add50)} ({us(lp['p50'])} proxied, {us(ld['p50'])} direct) | {ok(add50 <= 50)} |")
P(f"| added latency p99 ≤ 300 µs (1 connection, one CPU) | {us(add99)} ({us(lp['p99'])} proxied, {us(ld['p99'])} direct) | {ok(add99 <= 300)} |")
P(f"| for reference: nginx relaying (1 connection, one CPU) | adds {us(lx['p50'] - ld['p50'])} at p50, {us(lx['p99'] - ld['p99'])} at p99 ({us(lx['p50'])}, {us(lx['p99'])}) | |")
P(f"| for reference: a {big_kib:.0f} KiB request (1 connection, one CPU) | adds {us(lbp['p50'] - lbd['p50'])} at p50 ({us(lbp['p50'])} proxied, {us(lbd['p50'])} direct) | |")
P(f"| ≥ 20,000 req/s proxied, 32 connections, non-streaming | {tp['rps']:,.0f} req/s (direct {td['rps']:,.0f}) | {ok(tp['rps'] >= 20000 and not tp['errors'] and not tp['non2xx'])} |")
P(f"| each event forwarded as it arrives | {n_ev} events a stream, ~1 s apart: proxied later than direct by {', '.join(f'{1000*x:.0f}' for x in lag)} ms (median per event) | {ok(stream_ok)} |")
P(f"| {streams:,} concurrent streams held | {hp['ok']:,} of {streams:,} complete, {hp['open_at_sample']:,} open at once at the sample ({fails(hp)}) | {ok(held)} |")
P(f"| ≤ 10 MB RSS idle | {rss_idle/1024:.1f} MiB ({anon_idle/1024:.1f} MiB anonymous, {file_idle/1024:.1f} MiB mapped files) | {ok(rss_idle <= 10240)} |")
P(f"| ≤ 64 KB RSS per concurrent stream | {per_stream/1024:.1f} KiB ({hp['rss_held']/1024:.1f} MiB with {hp['open_at_sample']:,} open, {rss_before/1024:.1f} MiB before) | {ok(per_stream <= 65536)} |")
P(f"| fallback route of 3 (first healthy) within 10% of one model | {tr['rps']:,.0f} req/s vs {tb:,.0f} ({100*(tr['rps']/tb-1):+.1f}%); p50 {us(lr['p50'])} vs {us(lb)} | {ok(tr['rps'] >= 0.9*tb and lr['p50'] <= 1.1*lb)} |")
P(f"| ledger on within 10% of off | {tb:,.0f} req/s on vs {tn['rps']:,.0f} off ({100*(tb/tn['rps']-1):+.1f}%); p50 {us(lb)} vs {us(ln['p50'])} | {ok(tb >= 0.9*tn['rps'] and lb <= 1.1*ln['p50'])} |")
P()
P("| run | req/s | p50 | p90 | p99 | max | proxy CPU | |")
P("|---|---|---|---|---|---|---|---|")
for name, r in (("1 conn, one CPU, direct", ld), ("1 conn, one CPU, proxied", lp),
                ("1 conn, one CPU, nginx relaying (its CPU)", lx),
                ("1 conn, one CPU, 256 KiB request, direct", lbd), ("1 conn, one CPU, 256 KiB request, proxied", lbp),
                ("1 conn, direct", ud),
                ("1 conn, proxied", uprx), ("32 conns, direct", td), ("32 conns, proxied", tp),
                ("32 conns, SSE stream, direct", sd), ("32 conns, SSE stream, proxied", sp),
                ("1 conn, one CPU, fallback route of 3", lr), ("32 conns, fallback route of 3", tr),
                ("32 conns, proxied, again", ta), ("1 conn, one CPU, proxied, again", la),
                ("1 conn, one CPU, proxied, no ledger", ln), ("32 conns, proxied, no ledger", tn)):
    P(f"| {name} | {r['rps']:,.0f} | {us(r['p50'])} | {us(r['p90'])} | {us(r['p99'])} | {r['max']/1000:.1f} ms | {r['cores']:.2f} cores | {errs(r)} |")
P()
P(f"Unpinned, at 1 connection the proxy adds {us(uprx['p50'] - ud['p50'])} at p50 and {us(uprx['p99'] - ud['p99'])} at p99; there every hop")
P("may wake a process on the other, idle CPU, which a VM makes slow (compare the two direct rows).")
P()
P(f"Slow streams (bench/drip.py, {n_ev} events of 320 bytes a second apart): arrival of each event after the request, median over")
P(f"the streams, direct {', '.join(f'{x:.2f}' for x in hd['event_p50_s'])} s; proxied {', '.join(f'{x:.2f}' for x in hp['event_p50_s'])} s")
P(f"(slowest stream, proxied minus direct: {', '.join(f'{1000*x:.0f}' for x in lag_max)} ms). Direct: {hd['ok']:,} of {streams:,} complete ({fails(hd)}).")
P(f"Proxy VmRSS: {rss_idle/1024:.1f} MiB idle at start, {rss_after_wrk/1024:.1f} MiB after the wrk runs, {rss_before/1024:.1f} MiB before")
P(f"the streams, {hp['rss_held']/1024:.1f} MiB with {hp['open_at_sample']:,} open (most while all were open {hp['rss_max_open']/1024:.1f} MiB,")
P(f"{per_stream_max/1024:.1f} KiB a stream), {rss_after/1024:.1f} MiB after they ended; VmHWM {hp['hwm']/1024:.1f} MiB.")
P()
EOF
cat "$tmp/section.md"
[ "$RESULTS" = /dev/null ] || cat "$tmp/section.md" >>"$RESULTS"

else
	stop_proxy
fi # PROFILE=only
# ---- optional: where the proxy's time goes ----
if [ "$PROFILE" != 0 ]; then
	echo "bench: profiling the proxy under callgrind (1 connection, 5 s)" >&2
	# Start-up (config, dynamic linking) is left out: collection starts
	# once the proxy listens, and one request warms it first.
	start_proxy valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/callgrind.out"
	curl -s -o /dev/null --max-time 20 -H 'Content-Type: application/json' -d "$body_proxy" "$px/v1/chat/completions" || true
	callgrind_control -i on "$proxy_pid" >/dev/null
	BENCH_BODY=$body_proxy timeout 40 wrk -t1 -c1 -d5s --timeout 10s -s "$tmp/post.lua" "$px/v1/chat/completions" \
		>"$tmp/profile.txt" 2>&1 || true
	stop_proxy
	n=$(sed -n 's/^BENCH requests=\([0-9]*\).*/\1/p' "$tmp/profile.txt")
	echo "### callgrind: $n proxied non-streaming requests at 1 connection; top functions, exclusive"
	callgrind_annotate --inclusive=no "$tmp/callgrind.out" 2>/dev/null | sed -n '/^Ir/,$p' | head -32 || true
	echo "### inclusive"
	callgrind_annotate --inclusive=yes "$tmp/callgrind.out" 2>/dev/null | sed -n '/^Ir/,$p' | head -60 || true
fi
