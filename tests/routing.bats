#!/usr/bin/env bats
# Routing and resilience, end to end against the fake upstream: fallback
# lists, named routes and their strategies, auto, retries and Retry-After,
# key pools, circuit breakers, mid-stream failover with continuation in
# every ingress dialect (and in `arouter chat`), the in-stream error when
# an answer cannot be continued, and per-client rate limits.
#
# Several providers point at the one fake, whose directive queue applies to
# requests in arrival order: "the first candidate fails, the second answers"
# is `fake_next 'status=500'` followed by an ordinary request.

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
	isolate_env
	use_fake_for_all
	unset AROUTER_BASE_URL
	fake_reset
	export OPENAI_API_KEY=sk-test-OPENAI-SECRET-1234 ANTHROPIC_API_KEY=sk-ant-SECRET-5678 GEMINI_API_KEY=AIza-SECRET-9012
	PROXY_PID=
}

teardown() {
	proxy_stop
}

ANSWER='Hello from the fake upstream.'
CONTINUE_PROMPT='Your previous answer was cut off'

# start [CONFIG-JSON]: writes the config (default {}) and starts the proxy.
start() {
	local cfg='{}'
	[[ -z ${1:-} ]] || cfg=$1
	write_config <<< "$cfg" > /dev/null
	proxy_start
}

# req PATH BODY [curl options...]: POSTs BODY to the proxy (20 s at most);
# prints the HTTP status and leaves the body in $BODY and the headers in $HDRS.
req() {
	local path=$1 body=$2
	shift 2
	curl -sS -N --max-time 20 -o "$BATS_TEST_TMPDIR/body" -D "$BATS_TEST_TMPDIR/headers" -w '%{http_code}' \
		-H 'Content-Type: application/json' "$@" --data-binary "$body" "$PROXY_URL$path"
}
body() { cat "$BATS_TEST_TMPDIR/body"; }
# hdr NAME: a response header of the last req, without its CR.
hdr() { grep -i "^$1:" "$BATS_TEST_TMPDIR/headers" | head -n 1 | cut -d' ' -f2- | tr -d '\r'; }
# sse_data: the data payloads of the last req's stream, one a line.
sse_data() { sed -n 's/^data: //p' "$BATS_TEST_TMPDIR/body" | tr -d '\r'; }
sse_events() { sed -n 's/^event: //p' "$BATS_TEST_TMPDIR/body" | tr -d '\r'; }

# oai MODEL [EXTRA-JSON]: an OpenAI chat body; EXTRA is merged in.
oai() { jq -cn --arg m "$1" --argjson x "${2:-null}" '{model: $m, messages: [{role: "user", content: "hi"}]} + ($x // {})'; }
ant() { jq -cn --arg m "$1" --argjson x "${2:-null}" '{model: $m, max_tokens: 64, messages: [{role: "user", content: "hi"}]} + ($x // {})'; }
GEM_BODY='{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'

# The recorded upstream requests as "path model" lines (Gemini: the model
# from the path), in arrival order.
upstream_calls() {
	fake_requests | jq -r '.path as $p | (.body | fromjson? // {}) as $b
		| if ($p | test(":(stream)?[gG]enerateContent$")) then "\($p | sub("^.*/models/"; "") | sub(":.*$"; ""))"
		  else "\($b.model // "-")" end'
}
# The provider each upstream request went to, from its path and headers.
upstream_providers() {
	fake_requests | jq -r 'if (.path | test("/v1/messages$")) then "anthropic"
		elif (.path | test("^/v1beta/")) then "google"
		else "openai" end'
}
joined() { paste -sd' '; }

# The client's OpenAI stream text, and its checks: every data line JSON but
# one [DONE], last.
oai_text() { sse_data | grep -v '^\[DONE\]$' | jq -rj '.choices[0].delta.content // empty'; }
assert_oai_stream_whole() {
	assert_equal "$(sse_data | grep -c '^\[DONE\]$')" 1
	assert_equal "$(sse_data | tail -n 1)" '[DONE]'
	sse_data | grep -v '^\[DONE\]$' | jq -se 'all(.[]; .object == "chat.completion.chunk" and (has("error") | not))
		and (map(.choices[0].finish_reason // empty) | length == 1)' > /dev/null ||
		fail "malformed OpenAI stream: $(body)"
}

# ==== fallback lists ====

@test "fallback list: the first fails (500), the second answers; headers, model field and upstream bodies say so" {
	start '{"routing": {"retries": 0}}'
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b", "google/gemini-c"], "route": "fallback"}')"
	assert_output 200
	body | jq -e --arg a "$ANSWER" '.choices[0].message.content == $a and .model == "anthropic/claude-b"'
	assert_equal "$(hdr X-Arouter-Provider)" anthropic
	assert_equal "$(hdr X-Arouter-Model)" anthropic/claude-b
	assert_equal "$(hdr X-Arouter-Attempts)" 2
	assert_equal "$(upstream_calls | joined)" 'gpt-a claude-b'
	assert_equal "$(upstream_providers | joined)" 'openai anthropic'
	# The routing fields are the proxy's: no upstream is sent them.
	fake_requests | jq -se 'all(.[]; .body | fromjson | (has("models") or has("route")) | not)'
}

@test "fallback list: retried once per candidate by default, then the next; the third answers" {
	start
	fake_next 'status=500'
	fake_next 'status=502'
	fake_next 'status=503'
	fake_next 'status=529'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b", "google/gemini-c"]}')"
	assert_output 200
	assert_equal "$(upstream_calls | joined)" 'gpt-a gpt-a claude-b claude-b gemini-c'
	assert_equal "$(hdr X-Arouter-Model)" google/gemini-c
	assert_equal "$(hdr X-Arouter-Attempts)" 5
	body | jq -e '.model == "google/gemini-c"'
}

@test "fallback list: every candidate failing gives the last error, after one try each (no retries)" {
	start '{"routing": {"retries": 0}}'
	fake_next 'status=500'
	fake_next 'status=503'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b"]}')"
	assert_output 503
	body | jq -e '.error.message | test("503")'
	assert_equal "$(upstream_calls | joined)" 'gpt-a claude-b'
}

@test "fallback list: X-Arouter-Models for the Anthropic and Gemini endpoints, streamed and not" {
	start '{"routing": {"retries": 0}}'
	fake_next 'status=500'
	run req /v1/messages "$(ant anthropic/claude-a)" -H 'X-Arouter-Models: openai/gpt-b, google/gemini-c'
	assert_output 200
	body | jq -e --arg a "$ANSWER" '.type == "message" and .content[0].text == $a and .model == "openai/gpt-b"'
	assert_equal "$(hdr X-Arouter-Model)" openai/gpt-b
	assert_equal "$(upstream_calls | joined)" 'claude-a gpt-b'

	fake_reset
	fake_next 'status=429'
	run req '/v1beta/models/google%2Fgemini-a:streamGenerateContent?alt=sse' "$GEM_BODY" \
		-H 'X-Arouter-Models: anthropic/claude-b'
	assert_output 200
	assert_equal "$(sse_data | jq -rj '.candidates[0].content.parts[0].text // empty')" "$ANSWER"
	sse_data | jq -se '.[-1].candidates[0].finishReason == "STOP"'
	assert_equal "$(upstream_calls | joined)" 'gemini-a claude-b'
	fake_requests | jq -se 'all(.[]; .headers | has("x-arouter-models") | not)'
}

@test "fallback list: a stream whose first candidate fails before any output is the second's, whole" {
	start '{"routing": {"retries": 0}}'
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b"], "stream": true}')"
	assert_output 200
	assert_equal "$(oai_text)" "$ANSWER"
	assert_oai_stream_whole
	assert_equal "$(hdr X-Arouter-Provider)" anthropic
	sse_data | grep -v DONE | jq -se 'all(.[]; .model == "anthropic/claude-b")'
}

@test "fallback list: a streamed answer names what served it in X-Arouter-Model and X-Arouter-Attempts too" {
	start '{"routing": {"retries": 0}}'
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b"], "stream": true}')"
	assert_output 200
	assert_equal "$(hdr X-Arouter-Provider)" anthropic
	[[ -n $(hdr X-Arouter-Model) ]] ||
		fail "regression: a stream's headers carry X-Arouter-Provider only (start_stream in src/server.c), not X-Arouter-Model and X-Arouter-Attempts"
	assert_equal "$(hdr X-Arouter-Model)" anthropic/claude-b
	assert_equal "$(hdr X-Arouter-Attempts)" 2
}

@test "fallback list: members that cannot be served are left out and logged; none left is an error" {
	unset GEMINI_API_KEY
	start '{"routing": {"retries": 0}}'
	run req /v1/chat/completions "$(oai google/gemini-a '{"models": ["nosuch/x", "anthropic/claude-b"]}')"
	assert_output 200
	assert_equal "$(upstream_calls | joined)" 'claude-b'
	grep -q 'skipping google/gemini-a: .*GEMINI_API_KEY' "$PROXY_ERR" || fail "no skip line: $(cat "$PROXY_ERR")"
	grep -q 'skipping nosuch/x' "$PROXY_ERR"
	run req /v1/chat/completions "$(oai google/gemini-a '{"models": ["google/gemini-b"]}')"
	assert_output 400
	body | jq -e '.error.message | test("GEMINI_API_KEY")'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["openai/gpt-b", 7]}')"
	assert_output 400
	assert_equal "$(fake_request_count)" 1
}

# ==== no failover on the request's own errors ====

@test "no failover on 400, 404, 413 and 422: the client gets it at once, one upstream request" {
	start
	local st
	for st in 400 404 413 422; do
		fake_reset
		fake_next "status=$st"
		run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b"]}')"
		assert_output "$st"
		body | jq -e --arg s "$st" '.error.message | test($s)'
		assert_equal "$(fake_request_count)" 1
	done
}

@test "no failover on 401 and 403 with a single key: the client gets it, one upstream request" {
	local st
	for st in 401 403; do
		start
		fake_reset
		fake_next "status=$st"
		run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b"]}')"
		assert_output "$st"
		assert_equal "$(fake_request_count)" 1
		proxy_stop
	done
	# The same in the Anthropic dialect, as an Anthropic error.
	start
	fake_reset
	fake_next 'status=401'
	run req /v1/messages "$(ant anthropic/claude-a)" -H 'X-Arouter-Models: openai/gpt-b'
	assert_output 401
	body | jq -e '.type == "error" and .error.type == "authentication_error"'
	assert_equal "$(fake_request_count)" 1
}

# ==== named routes and strategies ====

ROUTES='"routes": {
	"rr": {"models": ["openai/gpt-a", "anthropic/claude-b", "google/gemini-c"], "strategy": "round-robin"},
	"safe": {"models": ["openai/gpt-a", "anthropic/claude-b"], "strategy": "fallback"},
	"bare": ["anthropic/claude-b", "openai/gpt-a"],
	"quick": {"models": ["openai/gpt-slow", "anthropic/claude-fast"], "strategy": "lowest-latency"},
	"cheap": {"models": ["openai/gpt-4o", "anthropic/claude-opus-4-1", "openai/gpt-4o-mini"], "strategy": "lowest-cost"}
}'

@test "route round-robin: each request starts one further along the list" {
	start "{$ROUTES}"
	local i got=()
	for i in 1 2 3 4; do
		run req /v1/chat/completions "$(oai rr)"
		assert_output 200
		got+=("$(hdr X-Arouter-Model)")
		# Translated: the served provider/model; passed through from the
		# same dialect: the upstream's own name for it.
		body | jq -e --arg m "${got[-1]}" '.model == $m or .model == ($m | sub("^[^/]+/"; ""))'
	done
	assert_equal "${got[*]}" 'openai/gpt-a anthropic/claude-b google/gemini-c openai/gpt-a'
	assert_equal "$(upstream_calls | joined)" 'gpt-a claude-b gemini-c gpt-a'
}

@test "route round-robin: a failing member passes the request on down the rotated list" {
	start "{$ROUTES, \"routing\": {\"retries\": 0}}"
	run req /v1/chat/completions "$(oai rr)"
	fake_reset
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai rr)"
	assert_output 200
	assert_equal "$(upstream_calls | joined)" 'claude-b gemini-c'
}

@test "route fallback (and a bare list): always the listed order, the next on failure" {
	start "{$ROUTES, \"routing\": {\"retries\": 0}}"
	run req /v1/chat/completions "$(oai safe)"
	run req /v1/chat/completions "$(oai safe)"
	fake_next 'status=503'
	run req /v1/chat/completions "$(oai safe)"
	assert_output 200
	assert_equal "$(hdr X-Arouter-Model)" anthropic/claude-b
	run req /v1/chat/completions "$(oai bare)"
	assert_equal "$(upstream_calls | joined)" 'gpt-a gpt-a gpt-a claude-b claude-b'
}

@test "route lowest-latency: unmeasured members first, then the faster one" {
	start "{$ROUTES}"
	fake_next 'stall=400'
	run req /v1/chat/completions "$(oai quick)"
	assert_equal "$(hdr X-Arouter-Model)" openai/gpt-slow
	run req /v1/chat/completions "$(oai quick)"
	assert_equal "$(hdr X-Arouter-Model)" anthropic/claude-fast
	run req /v1/chat/completions "$(oai quick)"
	assert_equal "$(hdr X-Arouter-Model)" anthropic/claude-fast
	run req /v1/chat/completions "$(oai quick)"
	assert_equal "$(hdr X-Arouter-Model)" anthropic/claude-fast
	assert_equal "$(upstream_calls | joined)" 'gpt-slow claude-fast claude-fast claude-fast'
}

@test "route lowest-latency: a stream is ranked by its time to the first byte, not by its length" {
	start "{$ROUTES}"
	# gpt-slow answers at once and drips a long stream; claude-fast waits
	# 400 ms, then answers quickly: by time to first byte gpt-slow is the
	# faster one (by whole attempts it would look the slower).
	fake_next 'drip=150'
	run req /v1/chat/completions "$(oai quick '{"stream": true}')"
	assert_equal "$(hdr X-Arouter-Model)" openai/gpt-slow
	fake_next 'stall=400'
	run req /v1/chat/completions "$(oai quick '{"stream": true}')"
	assert_equal "$(hdr X-Arouter-Model)" anthropic/claude-fast
	run req /v1/chat/completions "$(oai quick '{"stream": true}')"
	assert_equal "$(hdr X-Arouter-Model)" openai/gpt-slow
	curl -sS "$PROXY_URL/health" | jq -e '[.. | objects | select(has("latency_ms")) | .latency_ms] | length > 0' > /dev/null
}

@test "route lowest-cost: the cheapest member by catalog price goes first" {
	start "{$ROUTES}"
	run req /v1/chat/completions "$(oai cheap)"
	assert_output 200
	[[ $(hdr X-Arouter-Model) == openai/gpt-4o-mini ]] ||
		fail "regression: lowest-cost ignores prices: attempt_init is passed costs=NULL (src/server.c handle_model_request, src/gateway.c gateway_chat), so the route runs in listed order (served $(hdr X-Arouter-Model))"
	fake_next 'status=500'
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai cheap)"
	assert_equal "$(hdr X-Arouter-Model)" openai/gpt-4o
}

@test "route: a misspelt strategy is a 400 naming the route and the fix; nothing is sent" {
	start '{"routes": {"x": {"models": ["openai/gpt-a"], "strategy": "round-robn"}}}'
	run req /v1/chat/completions "$(oai x)"
	assert_output 400
	body | jq -e '.error.message | test("routes.x.strategy: unknown strategy .round-robn. \\(did you mean .round-robin.\\?\\)")'
	assert_equal "$(fake_request_count)" 0
}

@test "auto: the default model of each provider with a key, in order, failing over" {
	unset ANTHROPIC_API_KEY
	start '{"routing": {"retries": 0}}'
	run req /v1/chat/completions "$(oai auto)"
	assert_output 200
	assert_equal "$(hdr X-Arouter-Model)" openai/gpt-4o-mini
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai auto)"
	assert_equal "$(hdr X-Arouter-Model)" google/gemini-2.5-flash
	body | jq -e '.model == "google/gemini-2.5-flash"'
	assert_equal "$(upstream_calls | joined)" 'gpt-4o-mini gpt-4o-mini gemini-2.5-flash'
}

@test "chat -m ROUTE and -m auto: the route's members, failing over in the CLI too" {
	write_config <<< "{$ROUTES, \"routing\": {\"retries\": 0}}" > /dev/null
	run --separate-stderr timeout 30 "$AROUTER" chat -m safe hi < /dev/null
	assert_success
	assert_output "$ANSWER"
	fake_next 'status=500'
	run --separate-stderr timeout 30 "$AROUTER" chat -m safe hi < /dev/null
	assert_success
	assert_output "$ANSWER"
	fake_next 'status=500'
	run --separate-stderr timeout 30 "$AROUTER" chat -m bare --no-stream hi < /dev/null
	assert_success
	assert_output "$ANSWER"
	unset ANTHROPIC_API_KEY
	run --separate-stderr timeout 30 "$AROUTER" chat -m auto hi < /dev/null
	assert_success
	assert_equal "$(upstream_calls | joined)" 'gpt-a gpt-a claude-b claude-b gpt-a gpt-4o-mini'
	# A request that is refused is not retried elsewhere by the CLI either.
	fake_reset
	fake_next 'status=400'
	run --separate-stderr timeout 30 "$AROUTER" chat -m safe hi < /dev/null
	assert_failure
	assert_equal "$(fake_request_count)" 1
}

# ==== retries ====

@test "retries: one 500 is retried once on the same candidate" {
	start
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 200
	assert_equal "$(hdr X-Arouter-Attempts)" 2
	assert_equal "$(upstream_calls | joined)" 'gpt-a gpt-a'
	# Two 500s: the second goes to the client.
	fake_reset
	fake_next 'status=500'
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 500
	assert_equal "$(fake_request_count)" 2
	# routing.retries 0: none.
	proxy_stop
	start '{"routing": {"retries": 0}}'
	fake_reset
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 500
	assert_equal "$(fake_request_count)" 1
}

@test "retries: Retry-After 1 on a 429 is honoured before the retry" {
	start
	fake_next 'status=429;retry_after=1'
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 200
	assert_equal "$(fake_request_count)" 2
	fake_requests | jq -se '(.[1].t_ms - .[0].t_ms) as $d | $d >= 1000 and $d < 4500' ||
		fail "the retry came $(fake_requests | jq -se '.[1].t_ms - .[0].t_ms') ms after the 429"
}

@test "retries: Retry-After beyond max_backoff is not waited for: the 429 and its Retry-After go to the client" {
	start '{"routing": {"max_backoff": 2}}'
	fake_next 'status=429;retry_after=30'
	local t0=$SECONDS
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 429
	(( SECONDS - t0 < 3 ))
	assert_equal "$(hdr Retry-After)" 30
	body | jq -e '.error.message | test("429")'
	assert_equal "$(fake_request_count)" 1
	# With another candidate: failover at once.
	fake_reset
	fake_next 'status=429;retry_after=30'
	run req /v1/messages "$(ant anthropic/claude-a)" -H 'X-Arouter-Models: google/gemini-b'
	assert_output 200
	assert_equal "$(upstream_calls | joined)" 'claude-a gemini-b'
	fake_requests | jq -se '(.[1].t_ms - .[0].t_ms) < 1500'
}

@test "retries: nothing more is tried once routing.deadline has passed" {
	start '{"routing": {"deadline": 1}}'
	fake_next 'stall=1200;status=500'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b"]}')"
	# Not retried on the same candidate ...
	assert_equal "$(upstream_calls | head -n 2 | joined | grep -c 'gpt-a gpt-a')" 0
	# ... nor on the next.
	[[ $(fake_request_count) == 1 ]] ||
		fail "regression: routing.deadline stops retries of a candidate but not failover: after the deadline $(upstream_calls | tail -n 1) was still tried and answered $output (attempt_next in src/attempt.c never checks the deadline)"
	assert_output 500
}

@test "retries: the CLI honours Retry-After too" {
	fake_next 'status=429;retry_after=1'
	run --separate-stderr timeout 30 "$AROUTER" chat -m openai/gpt-a hi < /dev/null
	assert_success
	assert_output "$ANSWER"
	fake_requests | jq -se 'length == 2 and (.[1].t_ms - .[0].t_ms) >= 1000'
}

# ==== key pools ====

K1=sk-pool-AAAAAAAAAAAA-k001
K2=sk-pool-BBBBBBBBBBBB-k002
K3=sk-pool-CCCCCCCCCCCC-k003
POOL="\"providers\": {\"openai\": {\"keys\": [\"$K1\", \"$K2\", \"$K3\"]}}"

# The bearer key of each recorded request, in order.
used_keys() { fake_requests | jq -r '.headers.authorization | sub("^Bearer "; "")'; }

refute_full_keys() {
	local k
	for k in AAAAAAAAAAAA BBBBBBBBBBBB CCCCCCCCCCCC; do
		! grep -q "$k" "$PROXY_ERR" "$PROXY_LOG" || fail "a pool key appears in full in the proxy's output"
	done
}

@test "key pool: requests are spread over the keys round-robin" {
	# The environment outranks the file: the pool is the config's only
	# without OPENAI_API_KEY.
	unset OPENAI_API_KEY
	start "{$POOL}"
	local i
	for i in 1 2 3 4 5 6; do
		run req /v1/chat/completions "$(oai openai/gpt-a)"
		assert_output 200
	done
	assert_equal "$(used_keys | joined)" "$K1 $K2 $K3 $K1 $K2 $K3"
	refute_full_keys
}

@test "key pool: a key refused with 401 is retried on another at once, never used again, and named redacted" {
	unset OPENAI_API_KEY
	start "{$POOL}"
	fake_next 'status=401'
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 200
	assert_equal "$(used_keys | joined)" "$K1 $K2"
	grep -q 'key sk-pool-…k001 refused with 401: taken out of the pool, 2 of 3 keys left' "$PROXY_ERR" ||
		fail "no redacted line about the refused key: $(cat "$PROXY_ERR")"
	local i
	for i in 1 2 3 4; do
		run req /v1/chat/completions "$(oai openai/gpt-a)"
		assert_output 200
	done
	assert_equal "$(used_keys | grep -c "^$K1$")" 1
	assert_equal "$(used_keys | tail -n 4 | sort | uniq -c | awk '{print $1}' | joined)" '2 2'
	refute_full_keys
}

@test "key pool: every key refused: 401 without an upstream request, naming what to fix" {
	unset OPENAI_API_KEY
	start "{\"providers\": {\"openai\": {\"keys\": [\"$K1\", \"$K2\"]}}}"
	fake_next 'status=401'
	fake_next 'status=401'
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 401
	assert_equal "$(fake_request_count)" 2
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 401
	body | jq -e '.error.message | test("every key was refused")'
	assert_equal "$(fake_request_count)" 2
	refute_full_keys
}

@test "key pool: a 403 (no access to one model) rests the key, it does not take it away from other models" {
	unset OPENAI_API_KEY
	start "{\"providers\": {\"openai\": {\"keys\": [\"$K1\", \"$K2\"]}}}"
	# gpt-secret is refused on both keys: the client gets the 403.
	fake_next 'status=403'
	fake_next 'status=403'
	run req /v1/chat/completions "$(oai openai/gpt-secret)"
	assert_output 403
	assert_equal "$(fake_request_count)" 2
	grep -q "refused with 403: not used for 600s unless no other key is left" "$PROXY_ERR" ||
		fail "no log line for the rested key: $(cat "$PROXY_ERR")"
	# Another model on the same provider is still served, with a rested key.
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 200
	assert_equal "$(fake_request_count)" 3
	# The key that served ended its rest; the other still rests, and shows it.
	curl -sS "$PROXY_URL/health" | jq -e '.providers.openai | .usable == 1 and
		([.keys[] | .state] | sort) == ["ok", "resting"] and ([.keys[] | .last_status] | sort) == [200, 403]' > /dev/null ||
		fail "health: $(curl -sS "$PROXY_URL/health")"
	refute_full_keys
}

@test "key pool: a 429 rests that key while the others carry on" {
	unset OPENAI_API_KEY
	start "{$POOL}"
	fake_next 'status=429;retry_after=20'
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	grep -q 'key sk-pool-…k001 rate limited: resting for 20s' "$PROXY_ERR" ||
		fail "no redacted line about the resting key: $(cat "$PROXY_ERR")"
	local first=$output
	local i
	for i in 1 2 3 4; do
		run req /v1/chat/completions "$(oai openai/gpt-a)"
		assert_output 200
	done
	# After the 429 only the other two keys are used, in turn.
	assert_equal "$(used_keys | tail -n 4 | sort | uniq -c | awk '{print $1 "x" $2}' | joined)" "2x$K2 2x$K3"
	refute_full_keys
	[[ $first == 200 ]] ||
		fail "regression: the request that got the 429 was answered $first instead of going on to another key: a Retry-After beyond max_backoff fails the candidate (src/attempt.c attempt_report) although the pool has usable keys"
	assert_equal "$(used_keys | head -n 2 | joined)" "$K1 $K2"
}

@test "key pool: a short Retry-After on one key does not hold up the request when another key is free" {
	unset OPENAI_API_KEY
	start "{$POOL}"
	fake_next 'status=429;retry_after=2'
	local t0=$SECONDS
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 200
	assert_equal "$(used_keys | head -n 1)" "$K1"
	local gap
	gap=$(fake_requests | jq -se '.[1].t_ms - .[0].t_ms')
	(( gap < 1000 )) ||
		fail "regression: the retry waited ${gap} ms for the 429's Retry-After of one key although two other keys were free (src/attempt.c attempt_report backs off on every 429)"
	assert_equal "$(used_keys | tail -n 1)" "$K2"
}

# ==== circuit breakers ====

BREAKER='"routing": {"retries": 1, "backoff": 0.01, "breaker": {"failures": 2, "cooldown": 1, "max_cooldown": 1}}'

@test "breaker: two failures open it; the provider is skipped (no upstream request) until the cooldown, then one probe closes it" {
	start "{$BREAKER}"
	fake_next 'status=500'
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 500
	assert_equal "$(fake_request_count)" 2
	grep -q 'key sk-test-…1234: 2 failures in a row, not used for 1s' "$PROXY_ERR" ||
		fail "no line about the opened breaker: $(cat "$PROXY_ERR")"
	# Open: refused here, with when to come back, nothing sent.
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 503
	body | jq -e '.error.message | test("openai: failing, its circuit breaker is open")'
	[[ $(hdr Retry-After) =~ ^[01]$ ]] || fail "Retry-After: '$(hdr Retry-After)'"
	# In a list, the open provider is passed over.
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b"]}')"
	assert_output 200
	assert_equal "$(upstream_calls | joined)" 'gpt-a gpt-a claude-b'
	sleep 1.1
	# Half-open: one probe goes through; its success closes the breaker.
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 200
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 200
	assert_equal "$(upstream_calls | joined)" 'gpt-a gpt-a claude-b gpt-a gpt-a'
}

@test "breaker: a failed probe opens it again" {
	# max_backoff below the cooldown: the request does not wait for the
	# breaker to half-open again.
	start "{${BREAKER/\"backoff\": 0.01/\"backoff\": 0.01, \"max_backoff\": 0.5}}"
	fake_next 'status=500'
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	sleep 1.1
	fake_next 'status=502'
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 502
	# The probe's failure re-opened it: the retry of that request was not sent.
	assert_equal "$(fake_request_count)" 3
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 503
	assert_equal "$(fake_request_count)" 3
}

@test "breaker: GET /health shows the provider's breaker open, then closed" {
	start "{$BREAKER}"
	fake_next 'status=500'
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	run curl -sS --max-time 5 "$PROXY_URL/health"
	assert_success
	jq -e '.providers.openai' <<< "$output" > /dev/null ||
		fail "regression: GET /health is only {\"status\":\"ok\"} (src/server.c): health_json() is not served, so breakers and key pools cannot be seen ($output)"
	jq -e '.providers.openai.keys[0].state == "open" and .providers.openai.keys[0].key == "sk-test-…1234"
		and .providers.openai.usable == 0' <<< "$output"
	[[ $output != *SECRET* ]] || fail "a key in /health: $output"
	sleep 1.1
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	run curl -sS --max-time 5 "$PROXY_URL/health"
	jq -e '.providers.openai.keys[0].state == "ok" and .providers.openai.usable == 1' <<< "$output"
}

@test "breaker: a request whose only candidate half-opens within max_backoff waits for it" {
	start "{$BREAKER}"
	fake_next 'status=500'
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	sleep 1.1
	# The probe fails and re-opens the breaker for 1 s; the retry waits
	# for it (1 s < max_backoff 4 s) and its probe succeeds.
	fake_next 'status=502'
	run req /v1/chat/completions "$(oai openai/gpt-a)"
	assert_output 200
	assert_equal "$(fake_request_count)" 4
	fake_requests | jq -se '(.[3].t_ms - .[2].t_ms) >= 900'
}

# ==== mid-stream failover: the next candidate continues the answer ====

# The well-formedness of each dialect's stream, as a client reads it.
assert_ant_stream_whole() {
	assert_equal "$(sse_events | joined)" "$(sse_data | jq -r .type | joined)"
	sse_data | jq -se '
		map(.type) as $t
		| $t[0] == "message_start" and $t[-1] == "message_stop"
		and ($t | map(select(. == "message_start")) | length) == 1
		and ($t | map(select(. == "message_delta")) | length) == 1
		and ($t | map(select(. == "message_stop")) | length) == 1
		and ($t | index("error")) == null
		and ($t | index("message_delta")) > ($t | rindex("content_block_stop"))
		and (reduce .[] as $e ({open: {}, seen: {}, ok: true};
			($e.index | tostring) as $i
			| if $e.type == "content_block_start" then
				(if .seen[$i] then .ok = false else .open[$i] = true | .seen[$i] = true end)
			  elif $e.type == "content_block_delta" then (if .open[$i] then . else .ok = false end)
			  elif $e.type == "content_block_stop" then (if .open[$i] then .open |= del(.[$i]) else .ok = false end)
			  else . end)
			| .ok and .open == {})' > /dev/null || fail "malformed Anthropic stream: $(body)"
}
ant_text() { sse_data | jq -rj 'select(.type == "content_block_delta" and .delta.type == "text_delta") | .delta.text'; }

assert_gem_stream_whole() {
	sse_data | jq -se 'all(.[]; has("candidates") and (has("error") | not))
		and (map(.candidates[0].finishReason // empty) | length) == 1
		and .[-1].candidates[0].finishReason == "STOP"' > /dev/null || fail "malformed Gemini stream: $(body)"
}
gem_text() { sse_data | jq -rj '.candidates[0].content.parts[]? | select(.thought != true) | .text // empty'; }

# The n-th recorded request's body (1-based).
nth_body() { fake_requests | sed -n "${1}p" | jq -c '.body | fromjson'; }

# assert_prefill N TEXT: request N asks its upstream to go on from TEXT, in
# that upstream's way (an assistant turn last; OpenAI: then the cut-off
# prompt; Gemini: a model turn last).
assert_prefill() {
	local b
	b=$(nth_body "$1")
	jq -e --arg t "$2" --arg ask "$CONTINUE_PROMPT" '
		def text: if type == "string" then . else map(.text // empty) | join("") end;
		if has("contents") then .contents[-1].role == "model" and (.contents[-1].parts | text) == $t
		elif (.messages[-1].role == "assistant") then (.messages[-1].content | text) == $t
		else .messages[-2].role == "assistant" and (.messages[-2].content | text) == $t
			and .messages[-1].role == "user" and (.messages[-1].content | text | startswith($ask)) end' \
		<<< "$b" > /dev/null || fail "request $1 does not continue from '$2': $b"
}

@test "mid-stream failover, OpenAI client: an OpenAI stream cut after 2 words is continued by Anthropic" {
	start
	fake_next 'cut_deltas=2'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b"], "stream": true, "stream_options": {"include_usage": true}}')"
	assert_output 200
	assert_oai_stream_whole
	assert_equal "$(oai_text)" "$ANSWER"
	assert_equal "$(upstream_providers | joined)" 'openai anthropic'
	assert_prefill 2 'Hello from'
	# One usage chunk, the last before [DONE], with the continuation's
	# tokens (the cut OpenAI stream reported none).
	sse_data | grep -v DONE | jq -se '(map(select(.usage != null)) | length) == 1 and .[-1].choices == []
		and .[-1].usage.completion_tokens == 3 and .[-1].usage.prompt_tokens == 12'
	grep -q 'continuing on anthropic/claude-b' "$PROXY_ERR"
	# One stream to the client: every chunk has the first chunk's id.
	sse_data | grep -v DONE | jq -se 'map(.id) | unique | length == 1'
}

@test "mid-stream failover, OpenAI client: Anthropic cut, OpenAI asked to go on" {
	start
	fake_next 'cut_deltas=2'
	run req /v1/chat/completions "$(oai anthropic/claude-a '{"models": ["openai/gpt-b"], "stream": true}')"
	assert_output 200
	assert_oai_stream_whole
	assert_equal "$(oai_text)" "$ANSWER"
	assert_prefill 2 'Hello from'
	sse_data | grep -v DONE | jq -se 'all(.[]; has("usage") | not)'
}

@test "mid-stream failover twice: the third candidate continues from all the text so far, sent once" {
	start
	fake_next 'cut_deltas=2'
	fake_next 'cut_deltas=1'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["google/gemini-b", "anthropic/claude-c"], "stream": true}')"
	assert_output 200
	assert_oai_stream_whole
	assert_equal "$(upstream_calls | joined)" 'gpt-a gemini-b claude-c'
	assert_prefill 2 'Hello from'
	local pre
	pre=$(nth_body 3 | jq -r '.messages[-1].content | if type == "string" then . else map(.text) | join("") end')
	if [[ $pre == 'Hello fromHello from the' ]]; then
		fail "regression: a second continuation stacks prefills: continue_elsewhere (src/server.c) builds on pr->canon, which already is the first continuation, so the third upstream gets $(nth_body 3 | jq -c '.messages[1:]') and the client '$(oai_text)' (gateway_chat uses the original req->body and is right)"
	fi
	assert_prefill 3 'Hello from the'
	assert_equal "$(oai_text)" "$ANSWER"
}

@test "mid-stream failover: DeepSeek is sent the text so far as a prefix:true assistant message, no prompt" {
	export DEEPSEEK_API_KEY=sk-deepseek-SECRET-0000
	start
	fake_next 'cut_deltas=3'
	run req /v1/chat/completions "$(oai anthropic/claude-a '{"models": ["deepseek/deepseek-chat"], "stream": true}')"
	assert_output 200
	assert_equal "$(oai_text)" "$ANSWER"
	nth_body 2 | jq -e '.messages[-1] == {"role": "assistant", "content": "Hello from the", "prefix": true}
		and .messages[-2].role == "user"'
}

@test "mid-stream failover: whitespace the client already has is not repeated, and never ends a prefill" {
	start
	# The answer "Para one.\n Para two." streams as "Para", " one.\n",
	# " Para", " two.": the cut leaves the client with a trailing newline.
	fake_next $'reply=Para one.\n Para two.;cut_deltas=2'
	fake_next $'reply=Para one.\n Para two.'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b"], "stream": true}')"
	assert_output 200
	assert_equal "$(oai_text)" $'Para one.\n Para two.'
	nth_body 2 | jq -e '.messages[-1].role == "assistant" and (.messages[-1].content | if type == "string" then . else map(.text) | join("") end) == "Para one."'
}

@test "mid-stream failover, Anthropic client: a passed-through stream cut is continued by OpenAI in one message" {
	start
	fake_next 'cut_deltas=2'
	run req /v1/messages "$(ant anthropic/claude-a '{"stream": true}')" -H 'X-Arouter-Models: openai/gpt-b'
	assert_output 200
	assert_ant_stream_whole
	assert_equal "$(ant_text)" "$ANSWER"
	assert_equal "$(upstream_providers | joined)" 'anthropic openai'
	assert_prefill 2 'Hello from'
	sse_data | jq -se 'map(select(.type == "content_block_start")) | length == 1 and .[0].index == 0'
	sse_data | jq -se 'map(select(.type == "message_delta"))[0].delta.stop_reason == "end_turn"'
}

@test "mid-stream failover, Anthropic client: cut inside the text after a thinking block, or inside the thinking" {
	start
	# 3 thinking deltas and the signature, then "Hello": the text block
	# (index 1) is open when the stream breaks and goes on at index 1.
	fake_next 'reasoning;cut_deltas=5'
	run req /v1/messages "$(ant anthropic/claude-a '{"stream": true}')" -H 'X-Arouter-Models: openai/gpt-b'
	assert_output 200
	assert_ant_stream_whole
	assert_equal "$(ant_text)" "$ANSWER"
	sse_data | jq -se '[.[] | select(.type == "content_block_start") | [.index, .content_block.type]] == [[0, "thinking"], [1, "text"]]'
	assert_prefill 2 'Hello'

	# Broken inside the thinking: nothing to continue, so the next
	# candidate is asked again and its answer follows in a new block.
	fake_reset
	fake_next 'reasoning;cut_deltas=2'
	run req /v1/messages "$(ant anthropic/claude-a '{"stream": true}')" -H 'X-Arouter-Models: openai/gpt-b'
	assert_output 200
	assert_ant_stream_whole
	assert_equal "$(ant_text)" "$ANSWER"
	nth_body 2 | jq -e '.messages | length == 1 and .[0].role == "user"'
}

@test "mid-stream failover, Gemini client: a passed-through SSE stream cut is continued by Anthropic" {
	start
	fake_next 'cut_deltas=2'
	run req '/v1beta/models/google%2Fgemini-a:streamGenerateContent?alt=sse' "$GEM_BODY" -H 'X-Arouter-Models: anthropic/claude-b'
	assert_output 200
	assert_gem_stream_whole
	assert_equal "$(gem_text)" "$ANSWER"
	assert_equal "$(upstream_providers | joined)" 'google anthropic'
	assert_prefill 2 'Hello from'
	sse_data | jq -se '.[-1].usageMetadata.candidatesTokenCount == 3'

	# Anthropic cut, Gemini continues from a model turn.
	fake_reset
	fake_next 'cut_deltas=3'
	run req '/v1beta/models/anthropic%2Fclaude-a:streamGenerateContent?alt=sse' "$GEM_BODY" -H 'X-Arouter-Models: google/gemini-b'
	assert_output 200
	assert_gem_stream_whole
	assert_equal "$(gem_text)" "$ANSWER"
	assert_prefill 2 'Hello from the'
}

@test "mid-stream failover: the final usage counts the broken attempt's tokens too" {
	start
	# The Anthropic attempt had read 12 prompt tokens (10 + 2 cached) when
	# it broke; the OpenAI continuation reads 12 and writes 3.
	fake_next 'cut_deltas=2'
	run req /v1/chat/completions "$(oai anthropic/claude-a '{"models": ["openai/gpt-b"], "stream": true, "stream_options": {"include_usage": true}}')"
	assert_output 200
	assert_equal "$(oai_text)" "$ANSWER"
	local u
	u=$(sse_data | grep -v DONE | jq -c 'select(.usage != null) | .usage')
	jq -e '.completion_tokens >= 3' <<< "$u"
	jq -e '.prompt_tokens == 24' <<< "$u" > /dev/null ||
		fail "regression: the broken attempt's usage is not added (final usage $u): the decoders surface usage only at the end of a stream, so completion_builder_usage() is NULL when gateway_resume_start is called (src/server.c continue_elsewhere, src/gateway.c gateway_chat); Anthropic message_start and Gemini chunks carry the prompt tokens"
	jq -e '.prompt_tokens_details.cached_tokens == 4 and .total_tokens == .prompt_tokens + .completion_tokens' <<< "$u"
}

@test "mid-stream failover in chat: stdout gets the answer exactly once, stderr says where it went on" {
	write_config <<< '{"routes": {"r": ["openai/gpt-a", "anthropic/claude-b"], "g": ["google/gemini-a", "openai/gpt-b"]}}' > /dev/null
	fake_next 'cut_deltas=2'
	run --separate-stderr timeout 30 "$AROUTER" chat -u -m r hi < /dev/null
	assert_success
	assert_output "$ANSWER"
	[[ $stderr == *'continuing on anthropic/claude-b'* ]] || fail "stderr: $stderr"
	[[ $stderr == *'+ 3 completion'* ]] || fail "stderr: $stderr"
	assert_prefill 2 'Hello from'

	fake_reset
	fake_next 'cut_deltas=3'
	run --separate-stderr timeout 30 "$AROUTER" chat -m g hi < /dev/null
	assert_success
	assert_output "$ANSWER"
	assert_prefill 2 'Hello from the'

	# Twice: the third candidate is sent the whole text so far, once.
	write_config <<< '{"routes": {"r3": ["openai/gpt-a", "google/gemini-b", "anthropic/claude-c"]}}' > /dev/null
	fake_reset
	fake_next 'cut_deltas=2'
	fake_next 'cut_deltas=1'
	run --separate-stderr timeout 30 "$AROUTER" chat -m r3 hi < /dev/null
	assert_success
	assert_output "$ANSWER"
	assert_prefill 3 'Hello from the'
	nth_body 3 | jq -e '.messages | length == 2'
}

# ==== continuation impossible: an in-stream error, then a proper end ====

@test "no continuation of a tool call: the OpenAI client gets one error event, the stream ends cleanly" {
	start
	fake_next 'tool;cut_deltas=2'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b"], "stream": true}')"
	assert_output 200
	sse_data | grep -v DONE | jq -se '(map(select(.error != null)) | length) == 1 and (.[-1].error.message | test("closed|cut|middle"))'
	assert_equal "$(fake_request_count)" 1
}

@test "no continuation of a tool call: the Anthropic client gets an error event and no message_stop" {
	start
	fake_next 'tool;cut_deltas=2'
	run req /v1/messages "$(ant anthropic/claude-a '{"stream": true}')" -H 'X-Arouter-Models: openai/gpt-b'
	assert_output 200
	assert_equal "$(sse_events | tail -n 1)" error
	sse_data | jq -se '.[-1].type == "error" and (map(select(.type == "message_stop")) | length) == 0'
	assert_equal "$(fake_request_count)" 1
}

@test "no candidate left: cut, then the next fails too: the dialect's error event, a clean end" {
	start
	fake_next 'cut_deltas=2'
	fake_next 'status=500'
	run req '/v1beta/models/google%2Fgemini-a:streamGenerateContent?alt=sse' "$GEM_BODY" -H 'X-Arouter-Models: anthropic/claude-b'
	assert_output 200
	assert_equal "$(sse_data | tail -n 1 | jq -r '.error.status')" INTERNAL
	assert_equal "$(gem_text)" 'Hello from'
	assert_equal "$(fake_request_count)" 2
	fake_reset
	fake_next 'cut_deltas=2'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"stream": true}')"
	assert_output 200
	sse_data | jq -se '.[-1].error.message | test("closed|middle")'
	run ! grep -q '^data: \[DONE\]' "$BATS_TEST_TMPDIR/body"
	# The CLI: the partial answer, then a failure exit. (It retries the
	# continuing candidate once, as nothing of that one had gone out.)
	write_config <<< '{"routes": {"r": ["openai/gpt-a", "anthropic/claude-b"]}}' > /dev/null
	fake_reset
	fake_next 'cut_deltas=2'
	fake_next 'status=500'
	fake_next 'status=500'
	run --separate-stderr timeout 30 "$AROUTER" chat -m r hi < /dev/null
	assert_failure
	assert_output 'Hello from'
	[[ $stderr == *'500'* ]] || fail "stderr: $stderr"
}

@test "mid-stream failover: an in-stream error event (overloaded) is continued elsewhere, translated" {
	start
	# stream_error: two words, then the dialect's error event.
	fake_next 'stream_error'
	run req /v1/chat/completions "$(oai anthropic/claude-a '{"models": ["openai/gpt-b"], "stream": true}')"
	assert_output 200
	assert_oai_stream_whole
	assert_equal "$(oai_text)" "$ANSWER"
	assert_prefill 2 'Hello from'
	grep -q 'anthropic: error in the stream: overloaded_error: Overloaded; continuing on openai/gpt-b' "$PROXY_ERR"
}

@test "mid-stream failover: the upstream's error event of a passed-through stream does not reach the client" {
	start
	local leaked=()
	fake_next 'stream_error'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b"], "stream": true}')"
	assert_output 200
	assert_equal "$(fake_request_count)" 2
	assert_equal "$(sse_data | grep -v DONE | jq -rj '.choices[0].delta.content // empty')" "$ANSWER"
	sse_data | grep -v DONE | jq -se 'any(.[]; has("error"))' > /dev/null && leaked+=(openai)

	fake_reset
	fake_next 'stream_error'
	run req /v1/messages "$(ant anthropic/claude-a '{"stream": true}')" -H 'X-Arouter-Models: openai/gpt-b'
	assert_output 200
	assert_equal "$(fake_request_count)" 2
	assert_equal "$(ant_text)" "$ANSWER"
	sse_events | grep -qx error && leaked+=(anthropic)

	fake_reset
	fake_next 'stream_error'
	run req '/v1beta/models/google%2Fgemini-a:streamGenerateContent?alt=sse' "$GEM_BODY" -H 'X-Arouter-Models: anthropic/claude-b'
	assert_output 200
	assert_equal "$(fake_request_count)" 2
	assert_equal "$(gem_text)" "$ANSWER"
	sse_data | jq -se 'any(.[]; has("error"))' > /dev/null && leaked+=(gemini)

	((${#leaked[@]} == 0)) ||
		fail "regression: with the same dialect in and out, the upstream's in-stream error event is relayed to the client (${leaked[*]}) and the continuation follows it, so SDKs stop at the error: relay_guarded (src/server.c) holds back only the terminator, not error events, while another candidate may continue"
}

@test "mid-stream failover: a stream that stops short with a clean HTTP end is continued too" {
	start
	local short=()
	fake_next 'cut_deltas=2;clean_end'
	run req /v1/chat/completions "$(oai anthropic/claude-a '{"models": ["openai/gpt-b"], "stream": true}')"
	assert_output 200
	[[ $(fake_request_count) == 2 && $(oai_text) == "$ANSWER" ]] || short+=("proxy translated: '$(oai_text)'")
	fake_reset
	fake_next 'cut_deltas=2;clean_end'
	run req /v1/chat/completions "$(oai openai/gpt-a '{"models": ["anthropic/claude-b"], "stream": true}')"
	assert_output 200
	[[ $(fake_request_count) == 2 && $(oai_text) == "$ANSWER" ]] || short+=("proxy passed through: '$(oai_text)'")
	write_config <<< '{"routes": {"r": ["anthropic/claude-a", "openai/gpt-b"]}}' > /dev/null
	fake_reset
	fake_next 'cut_deltas=2;clean_end'
	run --separate-stderr timeout 30 "$AROUTER" chat -m r hi < /dev/null
	[[ $status == 0 && $output == "$ANSWER" ]] || short+=("chat: exit $status, '$output'")
	((${#short[@]} == 0)) ||
		fail "regression: a 200 stream that ends without its terminator is not failed over: attempt_report sees XFER_OK/200 and says DONE although gateway_call_finish found the stream incomplete (the proxy then ends the client's stream as if whole, with [DONE] when translating; chat exits 6): ${short[*]}"
}

# ==== per-client rate limits ====

@test "rate limits per client key: X-RateLimit headers, and the 3rd request in a minute is a 429 in the client's dialect" {
	start '{"proxy": {"keys": [{"key": "ar-local-aaa", "name": "a", "rpm": 2}]}}'
	run req /v1/chat/completions "$(oai openai/gpt-a)" -H 'Authorization: Bearer ar-local-aaa'
	assert_output 200
	assert_equal "$(hdr X-RateLimit-Limit)" 2
	assert_equal "$(hdr X-RateLimit-Remaining)" 1
	[[ $(hdr X-RateLimit-Reset) =~ ^[0-9]+$ ]]
	run req /v1/messages "$(ant anthropic/claude-a)" -H 'x-api-key: ar-local-aaa'
	assert_output 200
	assert_equal "$(hdr X-RateLimit-Remaining)" 0
	run req /v1/messages "$(ant anthropic/claude-a)" -H 'x-api-key: ar-local-aaa'
	assert_output 429
	body | jq -e '.type == "error" and .error.type == "rate_limit_error"'
	[[ $(hdr Retry-After) =~ ^[1-9][0-9]*$ ]] && (($(hdr Retry-After) <= 60))
	run req '/v1beta/models/openai%2Fgpt-a:generateContent' "$GEM_BODY" -H 'x-goog-api-key: ar-local-aaa'
	assert_output 429
	body | jq -e '.error.status == "RESOURCE_EXHAUSTED"'
	run req /v1/chat/completions "$(oai openai/gpt-a)" -H 'Authorization: Bearer ar-local-aaa'
	assert_output 429
	body | jq -e '.error.type == "rate_limit_error" or .error.code == "rate_limit_exceeded"'
	# The limited requests never reached an upstream.
	assert_equal "$(fake_request_count)" 2
	# Another key, or none, is refused as before.
	run req /v1/chat/completions "$(oai openai/gpt-a)" -H 'Authorization: Bearer ar-local-bbb'
	assert_output 401
}

@test "default_model and AROUTER_MODEL may name a route or auto" {
	write_config <<< '{"routes": {"r": ["openai/gpt-a", "anthropic/claude-b"]}, "default_model": "r", "routing": {"retries": 0}}' > /dev/null
	fake_next 'status=500'
	run --separate-stderr timeout 30 "$AROUTER" chat hi < /dev/null
	assert_success
	assert_output "$ANSWER"
	assert_equal "$(upstream_calls | joined)" 'gpt-a claude-b'
	# auto: the default model of each provider with a key, anthropic first.
	fake_reset
	fake_next 'status=500'
	AROUTER_MODEL=auto run --separate-stderr timeout 30 "$AROUTER" chat hi < /dev/null
	assert_success
	assert_output "$ANSWER"
	assert_equal "$(upstream_calls | wc -l)" 2
	upstream_calls | head -n 1 | grep -q '^claude' || fail "auto did not start with anthropic: $(upstream_calls | joined)"
	# A model is still a model.
	fake_reset
	AROUTER_MODEL=openai/gpt-z run -0 --separate-stderr timeout 30 "$AROUTER" chat hi < /dev/null
	assert_equal "$(upstream_calls | joined)" 'gpt-z'
}

@test "auto inside a request's fallback list stands for its members, in its place" {
	start '{"routing": {"retries": 0}}'
	fake_next 'status=500'
	fake_next 'status=500'
	run req /v1/chat/completions "$(oai openai/gpt-z '{"models": ["auto", "openai/gpt-z"]}')"
	assert_output 200
	# gpt-z, then auto's anthropic and openai members; gpt-z is not tried twice.
	local calls
	calls=$(upstream_calls | joined)
	[[ $calls == 'gpt-z claude-'* ]] || fail "calls: $calls"
	assert_equal "$(upstream_calls | wc -l)" 3
	assert_equal "$(upstream_calls | grep -c '^gpt-z$')" 1
}
