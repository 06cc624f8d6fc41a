#!/usr/bin/env bash
# bench/cli.sh - what the CLI itself costs: start-up to exit for --version,
# and `chat --no-stream` against a local upstream compared with curl making
# the same request. Run by hand on a quiet machine after a non-sanitized
# build (./configure && make && make tests/fake-upstream); results are
# appended to bench/RESULTS.md. Needs hyperfine (apt-get install hyperfine).
set -euo pipefail
cd "$(dirname "$0")/.."
AROUTER=${AROUTER:-src/arouter}
FAKE=${FAKE_UPSTREAM:-tests/fake-upstream}
RUNS=${RUNS:-200}
out=$(mktemp -d)
trap 'kill "$fake_pid" 2>/dev/null; rm -rf "$out"' EXIT

if grep -q -- '-fsanitize' Makefile 2>/dev/null; then
	echo "bench: this tree is built with sanitizers; reconfigure without --enable-sanitizers" >&2
	exit 1
fi
"$FAKE" --port-file "$out/port" --record /dev/null &
fake_pid=$!
for _ in $(seq 50); do [ -s "$out/port" ] && break; sleep 0.1; done
port=$(cat "$out/port")
url="http://127.0.0.1:$port"

export HOME="$out/home" XDG_CONFIG_HOME="$out/home/.config" XDG_STATE_HOME="$out/home/.state"
export OPENAI_API_KEY=sk-bench-000000000000 AROUTER_OPENAI_BASE_URL="$url"
body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":false}'

hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$out/h.json" \
	-n 'arouter --version' "$AROUTER --version" \
	-n 'curl (same request)' "curl -s -o /dev/null -H 'Content-Type: application/json' -H 'Authorization: Bearer sk-bench' -d '$body' $url/v1/chat/completions" \
	-n 'arouter chat --no-stream' "$AROUTER chat --no-save --no-stream -m openai/gpt-4o-mini hi" \
	-n 'arouter chat (stream)' "$AROUTER chat --no-save -m openai/gpt-4o-mini hi" >&2

peak() { /usr/bin/time -o "$out/rss" -f '%M' "$@" >/dev/null 2>&1; cat "$out/rss"; }
rss=$(peak "$AROUTER" chat --no-save --no-stream -m openai/gpt-4o-mini hi)
rss_curl=$(peak curl -s -H 'Content-Type: application/json' -d "$body" "$url/v1/chat/completions")
rss_version=$(peak "$AROUTER" --version)

{
	echo "## CLI ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m), $(curl --version | head -1 | cut -d' ' -f1-2))"
	echo
	echo "| command | mean | median | min |"
	echo "|---|---|---|---|"
	jq -r '.results[] | "| \(.command) | \(.mean*1000|.*100|round/100) ms | \(.median*1000|.*100|round/100) ms | \(.min*1000|.*100|round/100) ms |"' "$out/h.json"
	echo
	echo "Peak RSS: \`arouter chat --no-stream\` ${rss} KB, curl making the same request ${rss_curl} KB,"
	echo "\`arouter --version\` (shared libraries mapped, nothing else) ${rss_version} KB."
	echo
} | tee -a bench/RESULTS.md
