#!/usr/bin/env bash
# make-corpus.sh - (re)builds the seed corpus in tests/fuzz/corpus/ from the
# test suite's own traffic. Run by hand after the dialects change; the
# result is committed.
#
#   tests/fuzz/make-corpus.sh [--bats] BUILDDIR [FUZZBUILDDIR]
#
# BUILDDIR holds a normal build (src/arouter and tests/fake-upstream, from
# `make check` or `make tests/fake-upstream`); FUZZBUILDDIR, a build
# configured with --enable-fuzzing after `make fuzz`. The script gathers
# inputs (below) and, given FUZZBUILDDIR, merges them into the corpus with
# libFuzzer's -merge=1 (only inputs that add coverage are kept); without
# it every input is copied. It gathers:
#   1. asks the fake upstream (tests/fake-upstream.c) directly for every
#      dialect's answer, streamed and whole, plain and with tool calls,
#      reasoning, in-stream errors, garbage, HTML and error statuses: SSE
#      streams seed fuzz-sse and fuzz-decode, whole bodies and errors
#      fuzz-response, OpenAI stream chunks (the canonical chunk shape)
#      fuzz-encode;
#   2. sends client requests of every dialect through `arouter proxy` to
#      the fake: the client bodies seed fuzz-ingress and fuzz-json, the bodies the proxy
#      sent upstream (the fake's record) seed fuzz-ingress and, in OpenAI
#      form, fuzz-egress; the proxy's translated answers seed fuzz-decode,
#      fuzz-response and fuzz-encode;
#   3. with --bats, also runs tests/proxy-matrix.bats, proxy.bats and
#      chat.bats with the fake's record copied as it is written, and adds
#      every request body arouter sent in those tests;
#   4. adds the config files of the bats suites (write_config) to
#      fuzz-config.
# Hand-written seeds (fuzz-route, fuzz-config, fuzz-account, fuzz-listener,
# fuzz-http1, fuzz-httpd, fuzz-json, fuzz-sse edge cases) sit in the corpus under descriptive names
# and are left alone.
# Files are named by the SHA-1 of their content, so reruns add nothing
# twice; inputs over 32 KiB are skipped.
set -euo pipefail

bats_too=false
if [[ ${1:-} == --bats ]]; then
	bats_too=true
	shift
fi
[[ $# -eq 1 || $# -eq 2 ]] || { echo "usage: $0 [--bats] BUILDDIR [FUZZBUILDDIR]" >&2; exit 2; }
build=$(cd "$1" && pwd)
fuzzbuild=
[[ $# -eq 2 ]] && fuzzbuild=$(cd "$2" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
corpus=$src/tests/fuzz/corpus
fake=$build/tests/fake-upstream
arouter=$build/src/arouter
for b in "$fake" "$arouter"; do
	[[ -x $b ]] || { echo "$0: $b is missing (make check, or make src/arouter tests/fake-upstream)" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "$0: needs jq" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# add TARGET FILE: keeps FILE as a candidate seed of TARGET.
add() {
	local size
	size=$(wc -c < "$2")
	[[ $size -gt 0 && $size -le 32768 ]] || return 0
	mkdir -p "$tmp/raw/$1"
	cp "$2" "$tmp/raw/$1/$(sha1sum < "$2" | cut -c1-16)"
}
# add_text TARGET TEXT
add_text() {
	printf '%s' "$2" > "$tmp/text"
	add "$1" "$tmp/text"
}

# wait_port FILE PID
wait_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s $1 ]] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

"$fake" --port-file "$tmp/fake.port" --record "$tmp/record.jsonl" 2>"$tmp/fake.err" &
pids+=($!)
wait_port "$tmp/fake.port" "$!" || { cat "$tmp/fake.err" >&2; exit 1; }
FAKE=http://127.0.0.1:$(<"$tmp/fake.port")

# ---- 1. the fake's own answers ----
# fetch NAME URL BODY DIRECTIVE: saves the answer to $tmp/NAME
fetch() {
	curl -sS -N -o "$tmp/$1" -H 'Content-Type: application/json' -H "X-Fake: $4" -d "$3" "$2" || true
}
oai='{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}'
ant='{"model":"claude-x","max_tokens":64,"messages":[{"role":"user","content":"hi"}]'
gem='{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
directives=("" "tool" "tool=3" "reasoning" "reasoning;tool" "reasoning;tool=2" "stream_error" "garbage"
	"html" "nousage" "status=429" "status=500" "status=529" "status=401" "cut=3" "cut=7" "reply=a\nb\r\nc")
n=0
for d in "${directives[@]}"; do
	for stream in false true; do
		n=$((n + 1))
		fetch "o$n" "$FAKE/v1/chat/completions" "$oai,\"stream\":$stream}" "$d"
		fetch "a$n" "$FAKE/v1/messages" "$ant,\"stream\":$stream}" "$d"
		if [[ $stream == true ]]; then
			fetch "g$n" "$FAKE/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" "$gem" "$d"
		else
			fetch "g$n" "$FAKE/v1beta/models/gemini-2.5-flash:generateContent" "$gem" "$d"
		fi
		for f in "o$n" "a$n" "g$n"; do
			if [[ $stream == true ]] && grep -q '^data:' "$tmp/$f"; then
				add fuzz-sse "$tmp/$f"
				add fuzz-decode "$tmp/$f"
			else
				add fuzz-response "$tmp/$f"
			fi
		done
		if [[ $stream == true ]]; then
			sed -n 's/^data: //p' "$tmp/o$n" | grep -v '^\[DONE\]$' > "$tmp/chunks" || true
			add fuzz-encode "$tmp/chunks"
		fi
	done
done

# ---- 2. client requests through the proxy ----
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config XDG_STATE_HOME=$tmp/home/.state XDG_DATA_HOME=$tmp/home/.data
mkdir -p "$XDG_CONFIG_HOME"
unset AROUTER_CONFIG AROUTER_MODEL AROUTER_DEFAULT_BACKEND AROUTER_API_KEY
for slug in openai anthropic google; do
	up=$(echo "$slug" | tr 'a-z-' 'A-Z_')
	export "AROUTER_${up}_BASE_URL=$FAKE"
done
export AROUTER_BASE_URL=$FAKE
export OPENAI_API_KEY=sk-corpus-OPENAI-1234 ANTHROPIC_API_KEY=sk-ant-corpus-5678 GEMINI_API_KEY=AIza-corpus-9012
"$arouter" proxy --listen 127.0.0.1:0 --port-file "$tmp/proxy.port" --log /dev/null 2>"$tmp/proxy.err" &
pids+=($!)
wait_port "$tmp/proxy.port" "$!" || { cat "$tmp/proxy.err" >&2; exit 1; }
PROXY=http://127.0.0.1:$(<"$tmp/proxy.port")
curl -sS -X POST "$FAKE/_fake/reset" >/dev/null

tool_oai='"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the weather","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}],"tool_choice":"auto"'
tool_ant='"tools":[{"name":"get_weather","description":"Get the weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}],"tool_choice":{"type":"auto"}'
tool_gem='"tools":[{"functionDeclarations":[{"name":"get_weather","description":"Get the weather","parameters":{"type":"OBJECT","properties":{"location":{"type":"STRING"}},"required":["location"]}}]}],"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}'
img='iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='

oai_bodies=(
	'{"model":"M","max_tokens":77,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"T hi"}]}'
	'{"model":"M","messages":[{"role":"user","content":"T hi"}],'"$tool_oai"'}'
	'{"model":"M","messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny"},{"role":"user","content":"T thanks"}],'"$tool_oai"'}'
	'{"model":"M","messages":[{"role":"user","content":[{"type":"text","text":"T what is this"},{"type":"image_url","image_url":{"url":"data:image/png;base64,'"$img"'"}}]}],"temperature":0.5,"top_p":0.9,"stop":["x","y"],"seed":7}'
	'{"model":"M","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":"T hi"}],"reasoning_effort":"high","max_completion_tokens":200,"response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object","properties":{"a":{"type":"string"}}}}}}'
	'{"model":"M","messages":[{"role":"user","content":"T hi"}],"models":["openai/gpt-4o","anthropic/claude-x"],"user":"u1","n":1,"frequency_penalty":0.1,"presence_penalty":0.2,"logit_bias":{"50256":-100}}'
)
ant_bodies=(
	'{"model":"M","max_tokens":77,"system":"You are terse.","messages":[{"role":"user","content":"T hi"}]}'
	'{"model":"M","max_tokens":77,"system":[{"type":"text","text":"sys","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"T hi"}]}],'"$tool_ant"'}'
	'{"model":"M","max_tokens":77,"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"ZmFrZS1zaWduYXR1cmU="},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"location":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"sunny"},{"type":"text","text":"T thanks"}]}],'"$tool_ant"'}'
	'{"model":"M","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"'"$img"'"}},{"type":"text","text":"T what"}]}],"stop_sequences":["END"],"temperature":1,"top_k":5,"metadata":{"user_id":"u"}}'
	'{"model":"M","max_tokens":77,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0xLjQK"}},{"type":"text","text":"T summarize"}]},{"role":"assistant","content":"Sure"},{"role":"user","content":"T go"}],"tool_choice":{"type":"tool","name":"get_weather"},'"$tool_ant"'}'
)
gem_bodies=(
	'{"systemInstruction":{"parts":[{"text":"You are terse."}]},"contents":[{"role":"user","parts":[{"text":"T hi"}]}],"generationConfig":{"maxOutputTokens":77}}'
	'{"contents":[{"role":"user","parts":[{"text":"T hi"}]}],'"$tool_gem"'}'
	'{"contents":[{"role":"user","parts":[{"text":"weather?"}]},{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"location":"Paris"}},"thoughtSignature":"ZmFrZS1zaWduYXR1cmU="}]},{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"sunny"}}},{"text":"T thanks"}]}],'"$tool_gem"'}'
	'{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"image/png","data":"'"$img"'"}},{"text":"T what"}]}],"generationConfig":{"temperature":0.3,"topP":0.8,"topK":5,"stopSequences":["x"],"thinkingConfig":{"thinkingBudget":1024,"includeThoughts":true},"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","properties":{"a":{"type":"STRING"}}}},"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]}'
)
upstreams=(openai/gpt-4o anthropic/claude-x google/gemini-2.5-flash)
markers=("" "[[fake:tool]]" "[[fake:reasoning;tool=2]]" "[[fake:stream_error]]")

# client DIALECT URL BODY: saves the body and the proxy's answer.
client() {
	printf '%s' "$3" > "$tmp/req"
	add fuzz-ingress "$tmp/req"
	add fuzz-json "$tmp/req"
	[[ $1 == openai ]] && add fuzz-egress "$tmp/req"
	curl -sS -N -o "$tmp/resp" -H 'Content-Type: application/json' -H 'anthropic-version: 2023-06-01' \
		-d "$3" "$2" || return 0
	if grep -q '^data:' "$tmp/resp"; then
		add fuzz-decode "$tmp/resp"
		add fuzz-sse "$tmp/resp"
		if [[ $1 == openai ]]; then
			sed -n 's/^data: //p' "$tmp/resp" | grep -v '^\[DONE\]$' > "$tmp/chunks" || true
			add fuzz-encode "$tmp/chunks"
		fi
	else
		add fuzz-response "$tmp/resp"
	fi
}

for up in "${upstreams[@]}"; do
	for mark in "${markers[@]}"; do
		for stream in false true; do
			for b in "${oai_bodies[@]}"; do
				b=${b//\"M\"/\"$up\"}
				b=${b//T /$mark }
				[[ $stream == true ]] && b=${b%\}}',"stream":true,"stream_options":{"include_usage":true}}'
				client openai "$PROXY/v1/chat/completions" "$b"
			done
			for b in "${ant_bodies[@]}"; do
				b=${b//\"M\"/\"$up\"}
				b=${b//T /$mark }
				[[ $stream == true ]] && b=${b%\}}',"stream":true}'
				client anthropic "$PROXY/v1/messages" "$b"
			done
			enc=${up//\//%2F}
			for b in "${gem_bodies[@]}"; do
				b=${b//T /$mark }
				if [[ $stream == true ]]; then
					client gemini "$PROXY/v1beta/models/$enc:streamGenerateContent?alt=sse" "$b"
				else
					client gemini "$PROXY/v1beta/models/$enc:generateContent" "$b"
				fi
			done
		done
	done
done

# harvest RECORD: every request body arouter sent upstream.
harvest() {
	local i=0 path
	while IFS= read -r line; do
		i=$((i + 1))
		path=$(jq -r '.path // ""' <<< "$line" 2>/dev/null) || continue
		jq -j '.body // ""' <<< "$line" > "$tmp/body" 2>/dev/null || continue
		jq -e 'type == "object"' "$tmp/body" >/dev/null 2>&1 || continue
		add fuzz-ingress "$tmp/body"
		case $path in
		*/chat/completions) add fuzz-egress "$tmp/body" ;;
		esac
	done < "$1"
}
harvest "$tmp/record.jsonl"

# ---- 3. the bats suites' traffic ----
if $bats_too; then
	command -v bats >/dev/null || { echo "$0: --bats needs bats" >&2; exit 1; }
	# The fake truncates its record between tests; a copy follows it.
	cat > "$tmp/fake-wrapper" <<EOF
#!/usr/bin/env bash
rec=
args=("\$@")
for ((i = 0; i < \${#args[@]}; i++)); do
	[[ \${args[i]} == --record ]] && rec=\${args[i+1]}
done
"$fake" "\$@" &
pid=\$!
trap 'kill -TERM \$pid 2>/dev/null' TERM INT
for ((i = 0; i < 50; i++)); do [[ -e \$rec ]] && break; sleep 0.05; done
tail -n +1 -F "\$rec" 2>/dev/null >> "$tmp/bats-record.jsonl" &
tpid=\$!
wait \$pid
st=\$?
[[ \$st -gt 128 ]] && { wait \$pid; st=\$?; }
sleep 0.2
kill \$tpid 2>/dev/null
exit \$st
EOF
	chmod +x "$tmp/fake-wrapper"
	(
		cd "$src"
		FAKE_UPSTREAM=$tmp/fake-wrapper AROUTER=$arouter AROUTER_SRCDIR=$src LEDGER_TOOL=$build/tests/ledger-tool \
			bats tests/proxy-matrix.bats tests/proxy.bats tests/chat.bats >/dev/null 2>&1 || true
	)
	echo "bats: $(wc -l < "$tmp/bats-record.jsonl" 2>/dev/null || echo 0) requests recorded"
	[[ -s $tmp/bats-record.jsonl ]] && harvest "$tmp/bats-record.jsonl"
fi

# ---- 4. the bats suites' config files ----
# (the hand-written seeds of fuzz-route, fuzz-config, fuzz-account,
# fuzz-listener, fuzz-http1, fuzz-httpd and fuzz-sse live in the corpus under
# descriptive names and are kept)
for f in "$src"/tests/*.bats; do
	awk -v dir="$tmp" -v base="$(basename "$f" .bats)" '
		/write_config <<-?.?JSON.?$/ {on = 1; n++; next}
		on && /^JSON$/ {on = 0; close(dir "/cfg." base "." n); next}
		on {print > (dir "/cfg." base "." n)}' "$f"
	sed -n "s/.*write_config <<< '\\(.*\\)'.*/\\1/p" "$f" | while IFS= read -r line; do
		add_text fuzz-config "$line"
	done
done
for f in "$tmp"/cfg.*; do
	[[ -e $f ]] && add fuzz-config "$f"
done
for raw in "$tmp"/raw/*; do
	t=$(basename "$raw")
	echo "$t: $(find "$raw" -type f | wc -l) inputs gathered"
	mkdir -p "$corpus/$t"
	if [[ -n $fuzzbuild && -x $fuzzbuild/tests/fuzz/$t ]]; then
		"$fuzzbuild/tests/fuzz/$t" -merge=1 -timeout=10 -rss_limit_mb=4096 "$corpus/$t" "$raw" \
			>"$tmp/merge.log" 2>&1 || { tail -20 "$tmp/merge.log" >&2; exit 1; }
	else
		cp "$raw"/* "$corpus/$t"/
	fi
done
for t in "$corpus"/*; do
	echo "$(basename "$t"): $(find "$t" -type f | wc -l) seeds, $(cat "$t"/* | wc -c) bytes"
done
