#!/usr/bin/env bats
# Faults, end to end: a hostile or broken upstream (the fake upstream's
# fault directives: huge_line, bad_utf8, wrong_ctype, error_200, gzip,
# no_terminator, never_close, reset) seen through `arouter proxy` in the
# three ingress dialects and through `arouter chat`; and misbehaving
# clients of the proxy (bodies and headers over the limits, a slowloris, a
# request in one-byte writes, pipelining, hanging up at every phase).
#
# What every test asks: the client gets a correct answer, or an error in
# its own dialect with the right status, or the fallback's answer when one
# is configured -- within a time bound -- and the proxy stays bounded in
# memory and keeps serving everyone else.
#
# Responses are read with tests/fault-client.py summary (python3, stdlib):
# the answer's text, in-stream errors, terminators and whether the bytes
# were valid UTF-8, for any dialect, streamed or not.

bats_require_minimum_version 1.5.0

setup_file() {
	load helper
	fake_start
}

teardown_file() {
	load helper
	fake_stop
}

setup() {
	load helper
	load proxy-helper
	command -v python3 > /dev/null || skip "needs python3"
	isolate_env
	use_fake_for_all
	unset AROUTER_BASE_URL
	fake_reset
	export OPENAI_API_KEY=sk-test-OPENAI-SECRET-1234 ANTHROPIC_API_KEY=sk-ant-SECRET-5678 GEMINI_API_KEY=AIza-SECRET-9012
	CLIENT=$BATS_TEST_DIRNAME/fault-client.py
	OUT=$BATS_TEST_TMPDIR/out
	HDRS=$BATS_TEST_TMPDIR/headers
	PROXY_PID=
}

teardown() {
	if [[ -n ${PROXY_PID:-} ]]; then proxy_stop; fi
}

ANSWER='Hello from the fake upstream.'
DIALECTS=(openai anthropic gemini)
UPSTREAMS=(openai/gpt-f anthropic/claude-f google/gemini-f)

# start [CONFIG-JSON]: writes the config (default {}) and starts the proxy.
# Breakers would open after five faults in a row and change which request
# meets which queued directive: they are set out of reach unless asked.
start() {
	local cfg='{}'
	[[ -z ${1:-} ]] || cfg=$1
	jq -c '.routing.breaker.failures //= 1000' <<< "$cfg" | write_config > /dev/null
	proxy_start
	PROXY_PORT=${PROXY_URL##*:}
}

# ask DIALECT MODEL STREAM [FALLBACK]: one model request in DIALECT's own
# shape, the answer in $OUT and its headers in $HDRS; prints the status.
# FALLBACK, if given, is a second candidate ("models" in an OpenAI body,
# X-Arouter-Models otherwise). $PROMPT is the user's text (default hi).
ask() {
	local dialect=$1 model=$2 stream=$3 fb=${4:-} url body extra=()
	case $dialect in
	openai)
		url=$PROXY_URL/v1/chat/completions
		body=$(jq -nc --arg m "$model" --arg p "${PROMPT:-hi}" --argjson s "$stream" --arg fb "$fb" \
			'{model: $m, stream: $s, messages: [{role: "user", content: $p}]} + (if $fb != "" then {models: [$fb]} else {} end)')
		;;
	anthropic)
		url=$PROXY_URL/v1/messages
		body=$(jq -nc --arg m "$model" --arg p "${PROMPT:-hi}" --argjson s "$stream" \
			'{model: $m, max_tokens: 64, stream: $s, messages: [{role: "user", content: $p}]}')
		;;
	gemini)
		model=${model//\//%2F}
		if [[ $stream == true ]]; then
			url="$PROXY_URL/v1beta/models/$model:streamGenerateContent?alt=sse"
		else
			url="$PROXY_URL/v1beta/models/$model:generateContent"
		fi
		body=$(jq -nc --arg p "${PROMPT:-hi}" '{contents: [{role: "user", parts: [{text: $p}]}]}')
		;;
	esac
	[[ -n $fb && $dialect != openai ]] && extra=(-H "X-Arouter-Models: $fb")
	curl -sS -N --max-time "${MAX_TIME:-20}" -o "$OUT" -D "$HDRS" -w '%{http_code}' \
		-H 'Content-Type: application/json' "${extra[@]}" --data-binary "$body" "$url"
}

# summary DIALECT [FILE]: tests/fault-client.py's reading of the answer,
# kept beside it (FILE.DIALECT.sum) until the file changes.
summary() {
	local f=${2:-$OUT}
	[[ -s $f.$1.sum && $f.$1.sum -nt $f ]] || python3 "$CLIENT" summary "$1" "$f" > "$f.$1.sum"
	cat "$f.$1.sum"
}

# assert_answer DIALECT [TEXT]: $OUT holds the whole answer (TEXT, default
# the fake's), valid UTF-8, no error, and for a stream exactly one
# terminator with nothing after it.
assert_answer() {
	local s sha
	s=$(summary "$1")
	sha=$(printf '%s' "${2:-$ANSWER}" | sha256sum | cut -d' ' -f1)
	jq -e --arg sha "$sha" '.utf8 and .text_sha256 == $sha and .errors == [] and
		((.stream | not) or (.terminators == 1 and .after_terminator == 0))' <<< "$s" > /dev/null ||
		fail "$1: not the whole answer: $s; body: $(head -c 600 "$OUT")"
}

# assert_dialect_error DIALECT STATUS CODE: an error in DIALECT's shape: a
# non-2xx STATUS with the dialect's error body, or a 200 stream that ends
# with the dialect's in-stream error event.
assert_dialect_error() {
	local dialect=$1 code=$2 s
	s=$(summary "$dialect")
	if [[ $code == 200 ]]; then
		jq -e '.stream and (.errors | length) >= 1' <<< "$s" > /dev/null ||
			fail "$dialect: a 200 without an in-stream error: $s; body: $(head -c 600 "$OUT")"
		return
	fi
	[[ $code == 5* ]] || fail "$dialect: status $code, not an upstream error: $(head -c 300 "$OUT")"
	case $dialect in
	openai) jq -e '.error.message and .error.type' "$OUT" > /dev/null ;;
	anthropic) jq -e '.type == "error" and .error.type and .error.message' "$OUT" > /dev/null ;;
	gemini) jq -e '.error.code and .error.message and .error.status' "$OUT" > /dev/null ;;
	esac || fail "$dialect: status $code without the dialect's error body: $(head -c 300 "$OUT")"
}

proxy_status() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$PROXY_PID/status"; }

# A sanitizer build carries the ASan runtime; its allocator and shadow
# memory cost more than the proxy itself.
asan_build() { grep -aq __asan_init "$AROUTER"; }
# The plain build links mimalloc (arouter --version names it).
mimalloc_build() { "$AROUTER" --version | grep -q mimalloc; }

# ==== a hostile or broken upstream ====

@test "gzip the client never asked for: decoded for every ingress and upstream dialect, streamed or not, the passthrough and chat" {
	start
	local d m s code
	for d in "${DIALECTS[@]}"; do
		for m in "${UPSTREAMS[@]}"; do
			for s in true false; do
				fake_next gzip
				code=$(ask "$d" "$m" "$s") || fail "$d $m stream=$s: curl failed"
				[[ $code == 200 ]] || fail "$d $m stream=$s: HTTP $code: $(head -c 300 "$OUT")"
				assert_answer "$d"
				grep -qi '^content-encoding' "$HDRS" && fail "$d $m: a Content-Encoding reached the client"
			done
		done
	done
	# The upstream did encode them all.
	assert_equal "$(fake_request_count)" 18
	# The passthrough hands on the decoded bytes, without the header.
	for s in true false; do
		fake_next gzip
		run curl -sS -D "$HDRS" -o "$OUT" -w '%{http_code}' "$PROXY_URL/openai/v1/chat/completions" \
			-d "{\"model\":\"gpt-4o\",\"stream\":$s,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
		assert_output 200
		assert_answer openai
		grep -qi '^content-encoding' "$HDRS" && fail "passthrough: Content-Encoding reached the client"
	done
	proxy_stop
	for m in openai/gpt-f anthropic/claude-f; do
		fake_next gzip
		run -0 timeout 20 "$AROUTER" chat -m "$m" hi < /dev/null
		assert_output "$ANSWER"
	done
}

@test "a 10 MB SSE line: delivered whole in every dialect, the proxy's peak memory bounded and given back, others served meanwhile" {
	# The SSE parser takes events up to 16 MiB (src/sse.c); a 10 MB one is
	# an answer. Bound (doc/SECURITY.md): the proxy's VmHWM rises less than
	# 100 MiB over idle for such a line with glibc's malloc (about 80 MiB
	# measured), 150 MiB under ASan without its quarantine, 200 MiB with
	# mimalloc (130-153 MiB measured: its freed spans are reused late), and
	# VmRSS comes back within 48 MiB of idle within 3 s (mimalloc's through
	# memory_release a second after the last answer: 186 MiB stayed before).
	local n=10000000 big idle hwm after d m bound=100 i
	if asan_build; then
		export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0"
		bound=150
	elif mimalloc_build; then
		bound=200
	fi
	start
	big=$(head -c $n /dev/zero | tr '\0' x)
	curl -sS -o /dev/null "$PROXY_URL/health"
	idle=$(proxy_status VmRSS)
	for d in "${DIALECTS[@]}"; do
		# Translated from two dialects, and passed through (OpenAI).
		for m in openai/gpt-f google/gemini-f; do
			fake_next "huge_line=$n"
			code=$(ask "$d" "$m" true) || fail "$d $m: curl failed"
			[[ $code == 200 ]] || fail "$d $m: HTTP $code"
			assert_answer "$d" "$big from the fake upstream."
		done
	done
	# Not streamed, too.
	fake_next "huge_line=$n"
	code=$(ask anthropic openai/gpt-f false)
	assert_equal "$code" 200
	assert_answer anthropic "$big from the fake upstream."
	hwm=$(proxy_status VmHWM)
	(((hwm - idle) / 1024 < bound)) || fail "VmHWM rose by $(((hwm - idle) / 1024)) MiB over idle ($((idle / 1024)) MiB)"
	for ((i = 0; i < 30; i++)); do
		after=$(proxy_status VmRSS)
		(((after - idle) / 1024 < 48)) && break
		sleep 0.1
	done
	(((after - idle) / 1024 < 48)) || fail "VmRSS stayed $(((after - idle) / 1024)) MiB over idle 3 s after the big answers"

	# While one drips its 10 MB line, another client is answered at once.
	fake_next "huge_line=$n;drip=300"
	(ask openai openai/gpt-f true > "$BATS_TEST_TMPDIR/slow.code") 3>&- &
	local slow=$!
	sleep 0.5
	local t0=$(date +%s%N)
	run curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$PROXY_URL/v1/chat/completions" \
		-d '{"model":"openai/gpt-f","messages":[{"role":"user","content":"meanwhile"}]}'
	assert_output 200
	(($(date +%s%N) - t0 < 2000000000)) || fail "a small request took over 2 s beside the big one"
	wait "$slow"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/slow.code")" 200
	assert_answer openai "$big from the fake upstream."
}

@test "an SSE line over the 16 MiB limit: a bounded error in the client's dialect; with a fallback, the fallback's answer" {
	local n=20000000 d m code nofo=()
	start '{"routing": {"retries": 0}}'
	for d in "${DIALECTS[@]}"; do
		for m in openai/gpt-f google/gemini-f; do
			fake_next "huge_line=$n"
			code=$(ask "$d" "$m" true) || fail "$d $m: curl failed"
			assert_dialect_error "$d" "$code"
			jq -e '.text | contains("xxxx") | not' <<< "$(summary "$d")" > /dev/null ||
				fail "$d $m: part of the oversized line reached the client"
		done
	done
	curl -sS --max-time 5 "$PROXY_URL/health" | jq -e '.status == "ok" and .in_flight == 0'
	for d in "${DIALECTS[@]}"; do
		for m in openai/gpt-f google/gemini-f; do
			fake_reset
			fake_next "huge_line=$n"
			code=$(ask "$d" "$m" true anthropic/claude-b) || fail "$d $m: curl failed"
			if [[ $code == 502 && $m == google/* ]]; then
				nofo+=("$d<-$m")
				continue
			fi
			[[ $code == 200 ]] || fail "$d $m with a fallback: HTTP $code: $(head -c 300 "$OUT")"
			assert_answer "$d"
		done
	done
	((${#nofo[@]} == 0)) || fail "no failover after an oversized first event: ${nofo[*]}"
}

@test "invalid UTF-8 from the upstream: passed-through answers keep the bytes, nothing breaks" {
	start
	local d code
	# Same dialect in and out is forwarded byte for byte, by design.
	for d in openai anthropic gemini; do
		case $d in openai) m=openai/gpt-f ;; anthropic) m=anthropic/claude-f ;; gemini) m=google/gemini-f ;; esac
		for s in true false; do
			fake_next bad_utf8
			code=$(ask "$d" "$m" "$s")
			assert_equal "$code" 200
			summary "$d" | jq -e --arg t $'Hello \ufffd\ufffd from the fake upstream.' \
				'.text == $t and .errors == [] and ((.stream | not) or .terminators == 1)' ||
				fail "$d stream=$s: $(summary "$d")"
			grep -aq $'\xff\xfe' "$OUT" || fail "$d: the bytes were changed on a passed-through answer"
		done
	done
	curl -sS --max-time 5 "$PROXY_URL/health" | jq -e '.status == "ok"'
}

@test "invalid UTF-8 from the upstream: a translated answer is valid UTF-8 (U+FFFD) in every dialect" {
	start
	local d m s code bad=()
	for d in "${DIALECTS[@]}"; do
		for m in "${UPSTREAMS[@]}"; do
			[[ ${m%%/*} == "$d" || ($d == gemini && $m == google/*) ]] && continue
			for s in true false; do
				fake_next bad_utf8
				code=$(ask "$d" "$m" "$s")
				assert_equal "$code" 200
				summary "$d" | jq -e --arg t $'Hello \ufffd\ufffd from the fake upstream.' '.text == $t and .errors == []' > /dev/null ||
					fail "$d $m stream=$s: $(summary "$d")"
				summary "$d" | jq -e .utf8 > /dev/null || bad+=("$d<-$m stream=$s")
			done
		done
	done
	((${#bad[@]} == 0)) || fail "not valid UTF-8 (${#bad[@]} of 12): ${bad[*]}"
}

@test "a wrong Content-Type: the answer or a 502 in the client's dialect; with a fallback, the answer exactly once" {
	start '{"routing": {"retries": 0}}'
	local w d m s code
	# Every lie on streams; a JSON body is only hurt by the swap.
	for w in swap text none; do
		for d in "${DIALECTS[@]}"; do
			for m in "${UPSTREAMS[@]}"; do
				for s in true false; do
					[[ $s == false && $w != swap ]] && continue
					fake_next "wrong_ctype=$w"
					code=$(MAX_TIME=10 ask "$d" "$m" "$s") || fail "$w $d $m stream=$s: no answer in 10 s"
					if [[ $code == 200 ]] && summary "$d" | jq -e '.errors == []' > /dev/null; then
						assert_answer "$d"
					else
						assert_dialect_error "$d" "$code"
					fi
				done
			done
		done
	done
	local twice=()
	for w in swap; do
		for d in "${DIALECTS[@]}"; do
			for m in "${UPSTREAMS[@]}"; do
				fake_next "wrong_ctype=$w"
				code=$(ask "$d" "$m" true anthropic/claude-b)
				assert_equal "$code" 200
				if summary "$d" | jq -e --arg t "$ANSWER$ANSWER" '.text == $t' > /dev/null; then
					twice+=("$w: $d<-$m")
					continue
				fi
				assert_answer "$d"
			done
		done
	done
	((${#twice[@]} == 0)) || fail "the answer came twice: ${twice[*]}"
}

@test "a 200 carrying an error body, translated: a 502 in the client's dialect; with a fallback, the fallback's answer" {
	start '{"routing": {"retries": 0}}'
	local d m s code
	for d in "${DIALECTS[@]}"; do
		for m in "${UPSTREAMS[@]}"; do
			[[ ${m%%/*} == "$d" || ($d == gemini && $m == google/*) ]] && continue
			for s in true false; do
				fake_next error_200
				code=$(ask "$d" "$m" "$s")
				assert_dialect_error "$d" "$code"
				summary "$d" | jq -e '.errors | any(contains("fake error in a 200"))' > /dev/null ||
					fail "$d $m stream=$s: the upstream's message is not passed on: $(summary "$d")"
				[[ $s == true ]] || continue
				fake_next error_200
				code=$(ask "$d" "$m" "$s" anthropic/claude-b)
				assert_equal "$code" 200
				assert_answer "$d"
			done
		done
	done
}

@test "a 200 carrying an error body, same dialect in and out: a 502 in the client's dialect, never an empty or garbled 200" {
	start '{"routing": {"retries": 0}}'
	local d m s code bad=()
	for d in "${DIALECTS[@]}"; do
		case $d in openai) m=openai/gpt-f ;; anthropic) m=anthropic/claude-f ;; gemini) m=google/gemini-f ;; esac
		for s in true false; do
			fake_next error_200
			code=$(ask "$d" "$m" "$s")
			if [[ $code == 5* ]] || { [[ $code == 200 ]] && summary "$d" | jq -e '.stream and .errors != [] and (.errors | all(startswith("not JSON") | not))' > /dev/null &&
				! grep -aq '^{' "$OUT"; }; then
				assert_dialect_error "$d" "$code"
			else
				bad+=("$d stream=$s: $code $(head -c 120 "$OUT" | tr '\n' ' ')")
			fi
		done
	done
	((${#bad[@]} == 0)) || fail "an error in a 200 reached the client as a 200: ${bad[*]}"
}

@test "a stream that ends without its terminator: the whole text and a bounded end; with a fallback, the text exactly once" {
	start '{"routing": {"retries": 0}}'
	local d m code
	for d in "${DIALECTS[@]}"; do
		for m in openai/gpt-f anthropic/claude-f; do
			fake_next no_terminator
			code=$(MAX_TIME=10 ask "$d" "$m" true) || fail "$d $m: no end within 10 s"
			assert_equal "$code" 200
			summary "$d" | jq -e --arg t "$ANSWER" '.text == $t and (.terminators == 1 or (.errors | length) == 1) and .after_terminator == 0' ||
				fail "$d $m: $(summary "$d")"
			fake_next no_terminator
			code=$(ask "$d" "$m" true google/gemini-b)
			assert_equal "$code" 200
			assert_answer "$d"
		done
	done
}

@test "an upstream that keeps the stream open after its terminator: the client's stream ends at once and the upstream connection is closed" {
	# idle_timeout is the only other way out: 30 s, well past the bound.
	start '{"proxy": {"idle_timeout": 30}, "routing": {"retries": 0}}'
	local d m code t0 ms
	for d in "${DIALECTS[@]}"; do
		for m in openai/gpt-f anthropic/claude-f; do
			fake_reset
			fake_next never_close
			t0=$(date +%s%N)
			code=$(MAX_TIME=3 ask "$d" "$m" true) || true
			ms=$((($(date +%s%N) - t0) / 1000000))
			# The first one late says it all: the others would only add
			# their 3 s each.
			((ms < 2500)) || fail "$d client, $m upstream: no end within $ms ms"
			assert_equal "$code" 200
			assert_answer "$d"
			fake_wait_event client_closed 3
		done
	done
	# The provider passthrough too: byte for byte up to the terminator.
	fake_reset
	fake_next never_close
	run curl -sS -N --max-time 3 "$PROXY_URL/openai/v1/chat/completions" \
		-d '{"model":"gpt-f","stream":true,"messages":[{"role":"user","content":"hi"}]}'
	assert_success
	assert_output --partial 'data: [DONE]'
	fake_wait_event client_closed 3
}

@test "a TCP reset mid-stream: an in-stream error in the client's dialect; with a fallback, the text exactly once" {
	start '{"routing": {"retries": 0}}'
	local d m code
	local i=0
	for d in "${DIALECTS[@]}"; do
		for m in "${UPSTREAMS[@]}"; do
			fake_next reset
			code=$(ask "$d" "$m" true)
			assert_dialect_error "$d" "$code"
			summary "$d" | jq -e '.text == "Hello from"' > /dev/null || fail "$d $m: $(summary "$d")"
			# With a fallback: each ingress from its own dialect
			# (passed through) and from the next (translated).
			local di=$((i / 3)) mi=$((i % 3))
			i=$((i + 1))
			((mi == di || mi == (di + 1) % 3)) || continue
			fake_next reset
			code=$(ask "$d" "$m" true anthropic/claude-b)
			assert_equal "$code" 200
			assert_answer "$d"
		done
	done
	# Not streamed: reset 20 bytes into the body, then the fallback.
	for d in "${DIALECTS[@]}"; do
		fake_next reset
		code=$(ask "$d" openai/gpt-f false)
		assert_dialect_error "$d" "$code"
		fake_next reset
		code=$(ask "$d" openai/gpt-f false anthropic/claude-b)
		assert_equal "$code" 200
		assert_answer "$d"
	done
}

@test "a JSON answer that never ends: 504 in the client's dialect after idle_timeout; the fallback's answer when there is one" {
	start '{"proxy": {"idle_timeout": 1}, "routing": {"retries": 0}}'
	local d code t0
	for d in "${DIALECTS[@]}"; do
		fake_next never_close
		t0=$(date +%s)
		code=$(MAX_TIME=10 ask "$d" openai/gpt-f false)
		assert_equal "$code" 504
		assert_dialect_error "$d" "$code"
		(($(date +%s) - t0 <= 4)) || fail "$d: the 504 took $(($(date +%s) - t0)) s"
		fake_next never_close
		code=$(MAX_TIME=10 ask "$d" openai/gpt-f false anthropic/claude-b)
		assert_equal "$code" 200
		assert_answer "$d"
	done
}

@test "arouter chat against each fault: the answer or one error line with its exit code, within a bound" {
	# No retries: a queued fault meets the first attempt only.
	write_config <<< '{"routing": {"retries": 0}}' > /dev/null
	local f code want text models m
	while IFS='|' read -r f want text models; do
		for m in $models; do
			fake_next "$f"
			run --separate-stderr timeout 15 "$AROUTER" chat -m "$m" hi < /dev/null
			[[ $status != 124 ]] || fail "chat $m with $f: no end in 15 s"
			[[ $status == "$want" ]] || fail "chat $m with $f: exit $status, not $want; stderr: $stderr"
			[[ -z $text || $output == "$text" ]] || fail "chat $m with $f: printed '$output', not '$text'"
			if [[ $want != 0 ]]; then
				[[ $(wc -l <<< "$stderr") == 1 && $stderr == arouter:* ]] || fail "chat $m with $f: stderr is not one line: $stderr"
			fi
		done
	done <<- EOF
		gzip|0|$ANSWER|openai/gpt-f anthropic/claude-f google/gemini-f
		huge_line=3000000|0||openai/gpt-f anthropic/claude-f google/gemini-f
		no_terminator|6|$ANSWER|openai/gpt-f anthropic/claude-f
		reset|7|Hello from|openai/gpt-f anthropic/claude-f google/gemini-f
		error_200|6||openai/gpt-f anthropic/claude-f google/gemini-f
		garbage|6||openai/gpt-f anthropic/claude-f google/gemini-f
		wrong_ctype|0|$ANSWER|openai/gpt-f anthropic/claude-f google/gemini-f
	EOF
	fake_next error_200
	run --separate-stderr timeout 15 "$AROUTER" chat -m openai/gpt-f hi < /dev/null
	assert_equal "$stderr" 'arouter: openai: fake error in a 200'
	# With a fallback, every mid-stream fault is continued: the text once.
	for f in reset no_terminator huge_line=20000000; do
		fake_next "$f"
		run -0 --separate-stderr timeout 15 "$AROUTER" chat -m openai/gpt-f,anthropic/claude-b hi < /dev/null
		assert_output "$ANSWER"
		[[ $stderr == *"continuing on anthropic/claude-b"* ]] || fail "chat with $f: no continuation: $stderr"
	done
}

@test "arouter chat: an upstream that keeps the stream open after its terminator does not hold the command" {
	local m
	for m in openai/gpt-f anthropic/claude-f; do
		fake_next never_close
		run --separate-stderr timeout 3 "$AROUTER" chat -m "$m" hi < /dev/null
		[[ $status != 124 ]] || fail "$m: chat still waiting after 3 s"
		assert_success
		assert_output "$ANSWER"
	done
}

# ==== misbehaving clients ====

# A well-behaved client running beside a misbehaving one: a stream that
# takes about a second; well_behaved_start, then well_behaved_check.
well_behaved_start() {
	(
		curl -sS -N --max-time 15 -o "$BATS_TEST_TMPDIR/good.out" -w '%{http_code}' "$PROXY_URL/v1/chat/completions" \
			-d '{"model":"openai/gpt-f","stream":true,"messages":[{"role":"user","content":"good [[fake:drip=150]]"}]}' \
			> "$BATS_TEST_TMPDIR/good.code"
	) 3>&- &
	GOOD_PID=$!
}
well_behaved_check() {
	wait "$GOOD_PID" || fail "the well-behaved client failed: $(cat "$BATS_TEST_TMPDIR/good.out")"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/good.code")" 200
	OUT=$BATS_TEST_TMPDIR/good.out assert_answer openai
}

@test "a body over proxy.max_body_bytes: 413 in each dialect, the upstream never sees it, others are served" {
	start '{"proxy": {"max_body_bytes": 4096}}'
	local pad
	pad=$(head -c 5000 /dev/zero | tr '\0' p)
	well_behaved_start
	local d html=()
	for d in "${DIALECTS[@]}"; do
		PROMPT=$pad run ask "$d" openai/gpt-f false
		assert_output 413
		case $d in
		openai) jq -e '.error.message' "$OUT" > /dev/null ;;
		anthropic) jq -e '.type == "error" and .error.type == "request_too_large" and .error.message' "$OUT" > /dev/null ;;
		gemini) jq -e '.error.code == 413' "$OUT" > /dev/null ;;
		esac 2> /dev/null || html+=("$d")
	done
	well_behaved_check
	assert_equal "$(fake_requests | jq -s 'map(select(.body | contains("ppppp"))) | length')" 0
	# Just under the limit is served.
	PROMPT=$(head -c 3000 /dev/zero | tr '\0' p) run ask openai openai/gpt-f false
	assert_output 200
	((${#html[@]} == 0)) || fail "the 413 was not an error in the client's dialect: ${html[*]}"
	# A declared length over the limit is refused before any body is read.
	run curl -sS -o "$OUT" -w '%{http_code}' -H 'Content-Length: 2000000' -H 'Expect:' --max-time 5 \
		--data-binary @/dev/null "$PROXY_URL/v1/chat/completions"
	assert_output 413
}

@test "headers over proxy.max_header_bytes: 431 in each dialect, the connection closed" {
	start '{"proxy": {"max_header_bytes": 2048}}'
	local pad
	pad=$(head -c 3000 /dev/zero | tr '\0' h)
	well_behaved_start
	for d in "${DIALECTS[@]}"; do
		case $d in
		openai) url=$PROXY_URL/v1/chat/completions ;;
		anthropic) url=$PROXY_URL/v1/messages ;;
		gemini) url=$PROXY_URL/v1beta/models/openai%2Fgpt-f:generateContent ;;
		esac
		run curl -sS -o "$OUT" -w '%{http_code}' -H "X-Pad: $pad" -d '{}' "$url"
		assert_output 431
		case $d in
		openai) jq -e '.error.type == "invalid_request_error"' "$OUT" ;;
		anthropic) jq -e '.type == "error" and .error.type == "invalid_request_error"' "$OUT" ;;
		gemini) jq -e '.error.code == 431' "$OUT" ;;
		esac
	done
	# Far past the limit: refused before the head has ended, still in the
	# dialect, and the connection closed (curl sees no keep-alive).
	{ printf 'X-Pad: '; head -c 300000 /dev/zero | tr '\0' h; echo; } > "$BATS_TEST_TMPDIR/pad.hdr"
	run curl -sS -o "$OUT" -D "$BATS_TEST_TMPDIR/pad.resp" -w '%{http_code}' -H @"$BATS_TEST_TMPDIR/pad.hdr" -d '{}' \
		"$PROXY_URL/v1/chat/completions"
	assert_output 431
	jq -e '.error.type == "invalid_request_error"' "$OUT"
	grep -qi '^Connection: close' "$BATS_TEST_TMPDIR/pad.resp" || fail "no Connection: close: $(cat "$BATS_TEST_TMPDIR/pad.resp")"
	well_behaved_check
	assert_equal "$(fake_requests | jq -s 'map(select(.headers["x-pad"])) | length')" 0
}

@test "a slowloris trickling its headers is dropped once proxy.client_timeout has passed" {
	start '{"proxy": {"client_timeout": 2}}'
	run python3 "$CLIENT" slowloris "$PROXY_PORT" 0.25 5
	assert_success
	local closed
	closed=$(jq -r .closed_after <<< "$output")
	[[ $closed != null ]] || fail "a client sending one header byte every 0.25 s was still connected after 5 s"
	awk -v c="$closed" 'BEGIN { exit !(c <= 4) }' || fail "dropped only after $closed s"
}

@test "proxy.client_timeout on a kept-alive connection: idle, or trickling its next request, it is closed after the timeout" {
	start '{"proxy": {"client_timeout": 2}}'
	local body='{"model":"openai/gpt-f","messages":[{"role":"user","content":"hi"}]}' gap closed
	for gap in 0 0.25; do
		run python3 "$CLIENT" keepalive "$PROXY_PORT" /v1/chat/completions "$body" "$gap"
		assert_success
		jq -e '.first == 200' <<< "$output"
		closed=$(jq -r .closed_after <<< "$output")
		# The deadline counts from the answer: not before 2 s, not much after.
		awk -v c="$closed" 'BEGIN { exit !(c >= 1.8 && c <= 4) }' || fail "gap $gap: closed after $closed s"
	done
	# Only the first request of each connection reached the upstream.
	assert_equal "$(fake_request_count)" 2
}

@test "slowloris connections do not stop a well-behaved client from being served" {
	start '{"proxy": {"client_timeout": 2}}'
	local pids=() i
	for ((i = 0; i < 20; i++)); do
		(python3 "$CLIENT" slowloris "$PROXY_PORT" 0.2 2.5 > /dev/null) 3>&- &
		pids+=($!)
	done
	sleep 0.5
	well_behaved_start
	well_behaved_check
	for i in "${pids[@]}"; do wait "$i" || true; done
	curl -sS --max-time 5 "$PROXY_URL/health" | jq -e '.status == "ok"'
}

@test "proxy.client_timeout does not cut a request that waits on a slow upstream" {
	start '{"proxy": {"client_timeout": 2}}'
	local cut=()
	# Not streamed: the upstream answers after 2.7 s.
	fake_next stall=2700
	code=$(ask openai openai/gpt-f false) || true
	[[ $code == 200 ]] && assert_answer openai || cut+=("a non-streamed answer after 2.7 s (HTTP $code)")
	# Streamed: 2.7 s of silence before the first event (a model thinking).
	fake_next stall=2700
	code=$(ask anthropic anthropic/claude-f true) || true
	[[ $code == 200 ]] && summary anthropic | jq -e --arg t "$ANSWER" '.text == $t' > /dev/null || cut+=("a stream whose first event came after 2.7 s")
	((${#cut[@]} == 0)) || fail "cut while waiting on the upstream: ${cut[*]}"
}

@test "a request written one byte at a time is answered" {
	start
	well_behaved_start
	run python3 "$CLIENT" bytewise "$PROXY_PORT" /v1/chat/completions \
		'{"model":"openai/gpt-f","messages":[{"role":"user","content":"slowly"}]}'
	assert_success
	assert_line --index 0 --partial 'HTTP/1.1 200'
	assert_output --partial "\"content\":\"$ANSWER\""
	well_behaved_check
}

@test "pipelined requests on one connection are answered in order" {
	start
	run python3 "$CLIENT" pipeline "$PROXY_PORT" /v1/chat/completions \
		'{"model":"mock/echo","messages":[{"role":"user","content":"one"}]}' \
		'{"model":"openai/gpt-f","messages":[{"role":"user","content":"two"}]}' \
		'{"model":"mock/echo","stream":true,"messages":[{"role":"user","content":"three"}]}' \
		'{"model":"mock/echo","messages":[{"role":"user","content":"four"}]}'
	assert_success
	jq -e '.responses | length == 4 and all(.[]; .status == 200)' <<< "$output"
	jq -e '.responses[0].body | fromjson | .choices[0].message.content == "Echo: one"' <<< "$output"
	jq -e --arg a "$ANSWER" '.responses[1].body | fromjson | .choices[0].message.content == $a' <<< "$output"
	jq -e '.responses[2].body | contains("three") and contains("[DONE]")' <<< "$output"
	jq -e '.responses[3].body | fromjson | .choices[0].message.content == "Echo: four"' <<< "$output"
}

@test "a client hanging up at every phase: nothing else is disturbed, and an upstream transfer in progress is closed" {
	start
	local phase body
	for phase in headers body wait stream; do
		fake_reset
		well_behaved_start
		# "wait" hangs up 0.5 s after sending, before the first event.
		body='{"model":"anthropic/claude-f","stream":true,"messages":[{"role":"user","content":"leaving [[fake:stall=1500;drip=300]]"}]}'
		[[ $phase == stream ]] && body=${body/stall=1500;/}
		run python3 "$CLIENT" hangup "$PROXY_PORT" "$phase" /v1/chat/completions "$body"
		assert_success
		case $phase in
		headers | body)
			# The upstream was never asked.
			sleep 0.3
			run fake_requests
			refute_output --partial leaving
			;;
		wait | stream)
			fake_wait_event client_closed 5
			;;
		esac
		well_behaved_check
	done
	# Every hang-up is logged as 499 once the request was read.
	run grep -c 'status=499' "$PROXY_LOG"
	assert_output 2
	curl -sS --max-time 5 "$PROXY_URL/health" | jq -e '.status == "ok" and .in_flight == 0'
}
