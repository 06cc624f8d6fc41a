#!/usr/bin/env bats
# `arouter proxy`: the OpenAI endpoint to every upstream dialect, the
# provider passthrough, the guards every request passes, and the lifecycle.

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
	proxy_start
}

teardown() {
	proxy_stop
}

post() { curl -sS -H 'Content-Type: application/json' "$@"; }
chat_body() { printf '{"model":"%s","messages":[{"role":"user","content":"%s"}]%s}' "$1" "${2:-hi}" "${3:-}"; }
ANSWER='Hello from the fake upstream.'

@test "health answers without auth; its details only to clients that could use the proxy" {
	run curl -sS "$PROXY_URL/health"
	assert_success
	jq -e '.status == "ok" and (.providers | type) == "object" and .in_flight == 0' <<< "$output"
	post "$PROXY_URL/v1/chat/completions" -d "$(chat_body openai/gpt-4o)" >/dev/null
	run curl -sS "$PROXY_URL/health"
	jq -e '.providers.openai.keys[0].state == "ok"' <<< "$output"
	refute_output --partial "$OPENAI_API_KEY"
	proxy_stop
	write_config <<< '{"proxy": {"keys": ["ar-local-key-123"]}}'
	proxy_start
	run curl -sS "$PROXY_URL/health"
	assert_output '{"status":"ok"}'
	run curl -sS -H 'Authorization: Bearer ar-local-key-123' "$PROXY_URL/health"
	jq -e '.status == "ok" and has("providers")' <<< "$output"
}

@test "OpenAI in, OpenAI out: answer, model rewritten, unknown fields kept, key injected" {
	run post "$PROXY_URL/v1/chat/completions" -H 'Authorization: Bearer client-side-token' \
		-d '{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}],"x_custom":{"a":1},"seed":7}'
	assert_success
	jq -e --arg a "$ANSWER" '.choices[0].message.content == $a and .usage.total_tokens == 17' <<< "$output"
	run fake_last_request
	jq -e '.path == "/v1/chat/completions" and .headers.authorization == "Bearer sk-test-OPENAI-SECRET-1234"' <<< "$output"
	jq -e '.body | fromjson | .model == "gpt-4o" and .x_custom == {"a":1} and .seed == 7' <<< "$output"
	refute_output --partial client-side-token
}

@test "OpenAI streaming to an OpenAI upstream is passed through and ends with [DONE]" {
	run post -N "$PROXY_URL/v1/chat/completions" -d "$(chat_body openai/gpt-4o hi ',"stream":true')"
	assert_success
	assert_output --partial 'data: [DONE]'
	text=$(sed -n 's/^data: //p' <<< "$output" | grep -v '^\[DONE\]' | jq -rj '.choices[0].delta.content // empty')
	assert_equal "$text" "$ANSWER"
}

@test "OpenAI in, Anthropic upstream: translated both ways, x-api-key and anthropic-version injected" {
	run post "$PROXY_URL/v1/chat/completions" -d '{"model":"anthropic/claude-sonnet-4-6","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}'
	assert_success
	jq -e --arg a "$ANSWER" '.object == "chat.completion" and .choices[0].message.content == $a and .usage.prompt_tokens == 12' <<< "$output"
	run fake_last_request
	jq -e '.path == "/v1/messages" and .headers["x-api-key"] == "sk-ant-SECRET-5678" and .headers["anthropic-version"] == "2023-06-01"' <<< "$output"
	jq -e '.body | fromjson | .system == "be brief" and .max_tokens > 0 and (.messages | length == 1) and .messages[0].role == "user" and (.messages[0].content | . == "hi" or . == [{"type":"text","text":"hi"}])' <<< "$output"
}

@test "OpenAI streaming from a Gemini upstream: OpenAI chunks, usage chunk when asked, [DONE]" {
	run post -N "$PROXY_URL/v1/chat/completions" -d "$(chat_body google/gemini-2.5-flash hi ',"stream":true,"stream_options":{"include_usage":true}')"
	assert_success
	text=$(sed -n 's/^data: //p' <<< "$output" | grep -v '^\[DONE\]' | jq -rj '.choices[0].delta.content // empty')
	assert_equal "$text" "$ANSWER"
	sed -n 's/^data: //p' <<< "$output" | grep -v '^\[DONE\]' | jq -se 'map(select(.usage != null and .choices == [])) | length == 1 and .[0].usage.total_tokens == 17'
	assert_output --partial 'data: [DONE]'
	run fake_last_request
	jq -e '.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent" and .query == "alt=sse" and .headers["x-goog-api-key"] == "AIza-SECRET-9012"' <<< "$output"
}

@test "tool calls from an Anthropic upstream reach an OpenAI client with ids and arguments" {
	fake_next 'tool=2'
	run post "$PROXY_URL/v1/chat/completions" -d "$(chat_body anthropic/claude-x weather)"
	assert_success
	jq -e '.choices[0].finish_reason == "tool_calls" and (.choices[0].message.tool_calls | map(.id) == ["toolu_fake1","toolu_fake2"])' <<< "$output"
	jq -e '.choices[0].message.tool_calls[1].function.arguments | fromjson == {"location":"Tokyo"}' <<< "$output"
}

@test "upstream errors come back in OpenAI shape with the upstream's status and Retry-After" {
	fake_next 'status=429;retry_after=7'
	run curl -sS -D - -o "$BATS_TEST_TMPDIR/body" -H 'Content-Type: application/json' "$PROXY_URL/v1/chat/completions" -d "$(chat_body anthropic/claude-x)"
	assert_line --regexp '^HTTP/1.1 429'
	assert_line --regexp '^Retry-After: 7'
	jq -e '.error.message | test("429")' "$BATS_TEST_TMPDIR/body"
	jq -e '.error.type' "$BATS_TEST_TMPDIR/body"
}

@test "an upstream HTML error page becomes a readable 502" {
	# A 5xx is retried once (routing.retries), so both tries fail.
	fake_next html
	fake_next html
	run curl -sS -w '\n%{http_code}' -H 'Content-Type: application/json' "$PROXY_URL/v1/chat/completions" -d "$(chat_body openai/gpt-4o)"
	assert_line --index 1 502
	jq -e '.error.message | test("HTML")' <<< "${lines[0]}"
	refute_output --partial '<html'
}

@test "an error after the stream started is an in-stream error event, then the end" {
	fake_next 'cut=3'
	run post -N "$PROXY_URL/v1/chat/completions" -d "$(chat_body anthropic/claude-x hi ',"stream":true')"
	assert_success
	sed -n 's/^data: //p' <<< "$output" | jq -se 'map(select(.error != null)) | length == 1'
}

@test "malformed JSON, a missing model, an unknown provider: 400/404 in OpenAI shape" {
	run curl -sS -w '\n%{http_code}' -H 'Content-Type: application/json' "$PROXY_URL/v1/chat/completions" -d '{"model": '
	assert_line --index 1 400
	jq -e '.error.type == "invalid_request_error"' <<< "${lines[0]}"
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/v1/chat/completions" -d '{"messages":[]}'
	assert_line --index 1 400
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/v1/chat/completions" -d "$(chat_body antropic/x)"
	assert_line --index 1 404
	jq -e '.error.message | test("did you mean .anthropic.")' <<< "${lines[0]}"
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/nope"
	assert_line --index 1 404
}

@test "mock/echo answers offline through the proxy" {
	run post "$PROXY_URL/v1/chat/completions" -d "$(chat_body mock/echo 'say this')"
	assert_success
	jq -e '.choices[0].message.content == "Echo: say this"' <<< "$output"
	assert_equal "$(fake_request_count)" 0
}

@test "GET /v1/models lists models of providers with keys" {
	run curl -sS "$PROXY_URL/v1/models"
	assert_success
	jq -e '.object == "list" and (.data | map(.id) | index("openai/gpt-4o-mini") != null) and (.data | map(.id) | index("anthropic/claude-sonnet-4-6") != null)' <<< "$output"
	jq -e '.data | map(.id) | map(select(startswith("deepseek/"))) | length == 0' <<< "$output"
}

@test "provider passthrough: path, query and body unchanged, provider key injected, client auth stripped" {
	run curl -sS -H 'Authorization: Bearer client-token-xyz' -H 'X-Custom: kept' \
		-H 'Proxy-Authorization: Basic proxy-cred-xyz' -H 'Connection: keep-alive, X-Private' -H 'X-Private: hop-xyz' \
		"$PROXY_URL/openai/v1/chat/completions?foo=bar" -d "$(chat_body gpt-4o)"
	assert_success
	jq -e --arg a "$ANSWER" '.choices[0].message.content == $a' <<< "$output"
	run fake_last_request
	jq -e '.path == "/v1/chat/completions" and .query == "foo=bar" and .headers.authorization == "Bearer sk-test-OPENAI-SECRET-1234" and .headers["x-custom"] == "kept"' <<< "$output"
	jq -e '.body | fromjson | .model == "gpt-4o"' <<< "$output"
	refute_output --partial client-token-xyz
	# Credentials for a proxy, and headers the client's Connection names,
	# stay here.
	refute_output --partial proxy-cred-xyz
	refute_output --partial hop-xyz
}

@test "passthrough to Anthropic adds anthropic-version unless the client sent one; Gemini ?key= is replaced" {
	run curl -sS "$PROXY_URL/anthropic/v1/messages" -d '{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'
	assert_success
	run fake_last_request
	jq -e '.headers["anthropic-version"] == "2023-06-01" and .headers["x-api-key"] == "sk-ant-SECRET-5678"' <<< "$output"
	run curl -sS -H 'anthropic-version: 2099-01-01' "$PROXY_URL/anthropic/v1/messages" -d '{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'
	run fake_last_request
	jq -e '.headers["anthropic-version"] == "2099-01-01"' <<< "$output"
	run curl -sS "$PROXY_URL/google/v1beta/models/gemini-2.5-flash:generateContent?key=client-key&x=1" -d '{"contents":[{"parts":[{"text":"hi"}]}]}'
	assert_success
	run fake_last_request
	jq -e '.query == "x=1" and .headers["x-goog-api-key"] == "AIza-SECRET-9012"' <<< "$output"
	refute_output --partial client-key
}

@test "passthrough streams SSE back byte for byte and keeps upstream error statuses" {
	run curl -sS -N "$PROXY_URL/anthropic/v1/messages" -d '{"model":"claude-x","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
	assert_success
	assert_output --partial 'event: message_start'
	assert_output --partial 'event: message_stop'
	fake_next 'status=404'
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/openai/v1/chat/completions" -d "$(chat_body gpt-4o)"
	assert_line --index 1 404
	jq -e '.error.message == "fake error 404"' <<< "${lines[0]}"
}

@test "passthrough refuses paths that could leave the provider's base URL" {
	for p in '/openai/../etc/passwd' '/openai/v1/%2e%2e/x' '/openai//evil.example/x' '/openai/v1/a%2fb'; do
		run curl -sS --path-as-is -w '\n%{http_code}' "$PROXY_URL$p"
		assert_line --index 1 400
	done
	assert_equal "$(fake_request_count)" 0
}

@test "DNS rebinding: a foreign Host is refused; localhost names are accepted" {
	run curl -sS -w '\n%{http_code}' -H 'Host: evil.example' "$PROXY_URL/health"
	assert_line --index 1 403
	port=${PROXY_URL##*:}
	run curl -sS -w '\n%{http_code}' -H "Host: localhost:$port" "$PROXY_URL/health"
	assert_line --index 1 200
	run curl -sS -w '\n%{http_code}' -H "Host: 127.0.0.1:1" "$PROXY_URL/health"
	assert_line --index 1 403
}

@test "browser Origin: refused unless allow-listed; preflight answered only for allowed origins" {
	run curl -sS -w '\n%{http_code}' -H 'Origin: https://evil.example' "$PROXY_URL/v1/models"
	assert_line --index 1 403
	proxy_stop
	write_config <<< '{"proxy": {"allowed_origins": ["http://localhost:3000"]}}'
	proxy_start
	run curl -sS -D - -o /dev/null -X OPTIONS -H 'Origin: http://localhost:3000' -H 'Access-Control-Request-Method: POST' "$PROXY_URL/v1/chat/completions"
	assert_line --regexp '^HTTP/1.1 204'
	assert_line --regexp '^Access-Control-Allow-Origin: http://localhost:3000'
	run curl -sS -w '\n%{http_code}' -X OPTIONS -H 'Origin: https://evil.example' "$PROXY_URL/v1/chat/completions"
	assert_line --index 1 403
}

@test "client keys: Bearer, X-Api-Key and ?key= accepted; none or a wrong one is 401 in the dialect" {
	proxy_stop
	write_config <<< '{"proxy": {"keys": ["ar-local-key-123"]}}'
	proxy_start
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/v1/chat/completions" -d "$(chat_body mock/echo)"
	assert_line --index 1 401
	run curl -sS -w '\n%{http_code}' -H 'Authorization: Bearer ar-local-key-12' "$PROXY_URL/v1/chat/completions" -d "$(chat_body mock/echo)"
	assert_line --index 1 401
	run curl -sS -w '\n%{http_code}' -H 'Authorization: Bearer ar-local-key-123' "$PROXY_URL/v1/chat/completions" -d "$(chat_body mock/echo)"
	assert_line --index 1 200
	run curl -sS -w '\n%{http_code}' -H 'X-Api-Key: ar-local-key-123' "$PROXY_URL/v1/chat/completions" -d "$(chat_body mock/echo)"
	assert_line --index 1 200
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/v1/chat/completions?key=ar-local-key-123" -d "$(chat_body mock/echo)"
	assert_line --index 1 200
	# The client's proxy key never reaches an upstream.
	run curl -sS -H 'Authorization: Bearer ar-local-key-123' "$PROXY_URL/openai/v1/models"
	run fake_last_request
	refute_output --partial ar-local-key-123
}

@test "a body over the limit is refused with 413 and never reaches the upstream" {
	head -c 33554500 /dev/zero | tr '\0' 'a' > "$BATS_TEST_TMPDIR/big"
	run curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$BATS_TEST_TMPDIR/big" "$PROXY_URL/v1/chat/completions"
	assert_output 413
	assert_equal "$(fake_request_count)" 0
}

@test "headers over the limit get 431 in the client's dialect and never reach the upstream" {
	local big
	big=$(head -c 70000 /dev/zero | tr '\0' 'b')
	run curl -sS -w '\n%{http_code}' -H "X-Padding: $big" "$PROXY_URL/v1/chat/completions" -d "$(chat_body openai/gpt-4o hi)"
	assert_line --index 1 431
	assert_line --index 0 --partial '"type":"invalid_request_error"'
	assert_line --index 0 --partial 'headers are larger'
	run curl -sS -w '\n%{http_code}' -H "X-Padding: $big" "$PROXY_URL/v1/messages" -d '{}'
	assert_line --index 1 431
	assert_line --index 0 --partial '"type":"error"'
	assert_equal "$(fake_request_count)" 0
	# Just under the limit is fine.
	big=$(head -c 60000 /dev/zero | tr '\0' 'b')
	run curl -sS -o /dev/null -w '%{http_code}' -H "X-Padding: $big" "$PROXY_URL/v1/chat/completions" -d "$(chat_body openai/gpt-4o hi)"
	assert_output 200
}

@test "a client that disconnects mid-stream aborts the upstream transfer at once" {
	fake_next 'drip=500'
	curl -sS -N "$PROXY_URL/v1/chat/completions" -d "$(chat_body anthropic/claude-x hi ',"stream":true')" > "$BATS_TEST_TMPDIR/partial" &
	cpid=$!
	for _ in $(seq 50); do grep -q Hello "$BATS_TEST_TMPDIR/partial" 2>/dev/null && break; sleep 0.1; done
	kill "$cpid"; wait "$cpid" || true
	fake_wait_event client_closed 5
	run cat "$PROXY_LOG"
	assert_output --partial 'status=499'
}

@test "upstream connections are reused across requests, streamed or not, in every upstream dialect" {
	local m s
	# Each worker keeps connections of its own; one worker, one connection.
	proxy_stop
	proxy_start --workers 1
	for m in openai/gpt-4o anthropic/claude-x google/gemini-x; do
		fake_reset
		for s in true true false true; do
			post "$PROXY_URL/v1/chat/completions" -d "$(chat_body "$m" hi ",\"stream\":$s")" > /dev/null
		done
		# One connection for all four: a stream that ended properly does
		# not cost a new connection (nor, for HTTPS, a new handshake).
		assert_equal "$(fake_requests | jq -s 'map(.peer_port) | unique | length')" 1
		assert_equal "$(fake_request_count)" 4
	done
}

@test "SIGTERM lets an in-flight stream finish, then exits 0" {
	fake_next 'drip=300'
	curl -sS -N "$PROXY_URL/v1/chat/completions" -d "$(chat_body openai/gpt-4o hi ',"stream":true')" > "$BATS_TEST_TMPDIR/out" &
	cpid=$!
	for _ in $(seq 50); do grep -q Hello "$BATS_TEST_TMPDIR/out" 2>/dev/null && break; sleep 0.1; done
	kill -TERM "$PROXY_PID"
	wait "$cpid"
	run cat "$BATS_TEST_TMPDIR/out"
	assert_output --partial 'data: [DONE]'
	wait "$PROXY_PID"
	PROXY_PID=
	# New connections are refused once shutdown began.
	run curl -sS "$PROXY_URL/health"
	assert_failure
}

@test "SIGHUP reloads the config without dropping the listener" {
	write_config <<< '{"model_aliases": [{"pattern": "^fast$", "replacement": "mock/echo"}]}'
	# Before the reload no provider serves "fast": 404, as for an unknown model.
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/v1/chat/completions" -d "$(chat_body fast)"
	assert_line --index 1 404
	kill -HUP "$PROXY_PID"
	for _ in $(seq 50); do grep -q reloaded "$PROXY_ERR" && break; sleep 0.1; done
	run curl -sS "$PROXY_URL/v1/chat/completions" -d "$(chat_body fast 'after reload')"
	jq -e '.choices[0].message.content == "Echo: after reload"' <<< "$output"
}

@test "--workers: event loops on one port that share rate limits, health and reloads" {
	proxy_stop
	write_config <<< '{"proxy": {"keys": [{"key": "ar-local-key-123", "name": "ci", "rpm": 4}]}}'
	proxy_start --workers 3
	run curl -sS -H 'Authorization: Bearer ar-local-key-123' "$PROXY_URL/health"
	jq -e '.workers == 3' <<< "$output"
	# Three loops and the ledger writer: four threads.
	assert_equal "$(ls "/proc/$PROXY_PID/task" | wc -l)" 4
	# A connection each: the kernel spreads them over the loops, and the
	# key's 4 requests a minute hold over all of them together.
	local codes=() i
	for i in $(seq 8); do
		codes+=("$(curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer ar-local-key-123' \
			"$PROXY_URL/v1/chat/completions" -d "$(chat_body mock/echo "n$i")")")
	done
	assert_equal "${codes[*]}" "200 200 200 200 429 429 429 429"
	# A reload reaches every loop: twelve fresh connections all see it.
	write_config <<< '{"proxy": {"keys": [{"key": "ar-local-key-123", "name": "ci2"}]},
		"model_aliases": [{"pattern": "^fast$", "replacement": "mock/echo"}]}'
	kill -HUP "$PROXY_PID"
	for _ in $(seq 50); do grep -q reloaded "$PROXY_ERR" && break; sleep 0.1; done
	for i in $(seq 12); do
		run curl -sS -H 'Authorization: Bearer ar-local-key-123' "$PROXY_URL/v1/chat/completions" \
			-d "$(chat_body fast "after $i")"
		jq -e --arg want "Echo: after $i" '.choices[0].message.content == $want' <<< "$output"
	done
	# Only worker 0 reports the reload.
	assert_equal "$(grep -c reloaded "$PROXY_ERR")" 1
	proxy_stop
	run "$AROUTER" proxy --workers 0
	assert_failure 2
	assert_output --partial "--workers takes a number from 1 to 64, not '0'"
	write_config <<< '{"proxy": {"workers": "many"}}'
	run "$AROUTER" proxy --listen 127.0.0.1:0
	assert_failure 3
	assert_output --partial "proxy.workers must be a number from 1 to 64"
}

@test "a port in use is refused even with several workers" {
	run "$AROUTER" proxy --workers 2 --listen "127.0.0.1:${PROXY_URL##*:}"
	assert_failure
	assert_output --partial "cannot listen on 127.0.0.1:${PROXY_URL##*:}"
}

@test "the access log has one line per request with names, status and tokens, never text or keys" {
	post "$PROXY_URL/v1/chat/completions" -d "$(chat_body anthropic/claude-x 'UNIQUE-PROMPT-MARKER')" > /dev/null
	run cat "$PROXY_LOG"
	assert_line --regexp 'openai POST model=anthropic/claude-x served=anthropic/claude-x status=200 ms=[0-9]+ tokens=12\+5$'
	# Same dialect, not streamed: the answer is forwarded as it came and
	# its usage still read (a decoy "usage" inside the echoed text must not count).
	run post "$PROXY_URL/v1/chat/completions" -d "$(chat_body openai/gpt-4o '[[fake:echo]] \"usage\": {\"prompt_tokens\": 99}')"
	jq -e '.choices[0].message.content | contains("\"prompt_tokens\": 99")' <<< "$output"
	run cat "$PROXY_LOG"
	assert_line --regexp 'openai POST model=openai/gpt-4o served=openai/gpt-4o status=200 ms=[0-9]+ tokens=12\+5$'
	refute_output --partial UNIQUE-PROMPT-MARKER
	refute_output --partial SECRET
}

@test "a non-loopback address needs --allow-remote and client keys" {
	run "$AROUTER" proxy --listen 0.0.0.0:0
	assert_failure 2
	assert_output --partial "needs --allow-remote and client keys"
}

# ---- Anthropic and Gemini clients ----

anthropic_body() { printf '{"model":"%s","max_tokens":64,"messages":[{"role":"user","content":"%s"}]%s}' "$1" "${2:-hi}" "${3:-}"; }

@test "Anthropic in, OpenAI upstream: a Messages response with text, stop_reason and usage" {
	run post "$PROXY_URL/v1/messages" -H 'x-api-key: whatever' -H 'anthropic-version: 2023-06-01' \
		-d '{"model":"openai/gpt-4o","max_tokens":64,"system":"be brief","messages":[{"role":"user","content":"hi"}]}'
	assert_success
	jq -e --arg a "$ANSWER" '.type == "message" and .role == "assistant" and .content[0].type == "text" and .content[0].text == $a' <<< "$output"
	jq -e '.stop_reason == "end_turn" and .usage.output_tokens == 5 and .usage.input_tokens + .usage.cache_read_input_tokens == 12' <<< "$output"
	run fake_last_request
	jq -e '.path == "/v1/chat/completions" and (.body | fromjson | .messages[0] == {"role":"system","content":"be brief"} and .max_tokens == 64)' <<< "$output"
	refute_output --partial whatever
}

@test "Anthropic in, streaming from a Gemini upstream: the exact Anthropic event sequence" {
	run post -N "$PROXY_URL/v1/messages" -d "$(anthropic_body google/gemini-2.5-flash hi ',"stream":true')"
	assert_success
	events=$(sed -n 's/^event: //p' <<< "$output" | tr '\n' ' ')
	[[ "$events" =~ ^message_start\ content_block_start\ (content_block_delta\ )+content_block_stop\ message_delta\ message_stop\ $ ]] || fail "events: $events"
	text=$(sed -n 's/^data: //p' <<< "$output" | jq -rj 'select(.type == "content_block_delta") | .delta.text')
	assert_equal "$text" "$ANSWER"
	sed -n 's/^data: //p' <<< "$output" | jq -se 'map(select(.type == "message_delta"))[0] | .delta.stop_reason == "end_turn" and .usage.output_tokens == 5'
}

@test "Anthropic in: tool calls from an OpenAI upstream become tool_use blocks with input_json_delta" {
	fake_next 'tool=2'
	run post -N "$PROXY_URL/v1/messages" -d "$(anthropic_body openai/gpt-4o weather ',"stream":true')"
	assert_success
	sed -n 's/^data: //p' <<< "$output" | jq -se '[.[] | select(.type == "content_block_start") | .content_block | select(.type == "tool_use") | .id] == ["call_fake1","call_fake2"]'
	args=$(sed -n 's/^data: //p' <<< "$output" | jq -rj 'select(.type == "content_block_delta" and .index == 1) | .delta.partial_json')
	assert_equal "$(jq -c . <<< "$args")" '{"location":"Tokyo"}'
	sed -n 's/^data: //p' <<< "$output" | jq -se 'map(select(.type == "message_delta"))[0].delta.stop_reason == "tool_use"'
}

@test "Anthropic in, Anthropic upstream: errors keep the Anthropic shape and status" {
	fake_next 'status=529'
	fake_next 'status=529'
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/v1/messages" -d "$(anthropic_body anthropic/claude-x)"
	assert_line --index 1 529
	jq -e '.type == "error" and .error.type == "overloaded_error"' <<< "${lines[0]}"
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/v1/messages" -d '{"max_tokens":5}'
	assert_line --index 1 400
	jq -e '.type == "error" and .error.type == "invalid_request_error"' <<< "${lines[0]}"
}

@test "Gemini in (model in the URL), OpenAI upstream: a GenerateContentResponse" {
	run post "$PROXY_URL/v1beta/models/openai%2Fgpt-4o:generateContent" \
		-d '{"systemInstruction":{"parts":[{"text":"be brief"}]},"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":50}}'
	assert_success
	jq -e --arg a "$ANSWER" '.candidates[0].content.parts[0].text == $a and .candidates[0].finishReason == "STOP" and .usageMetadata.totalTokenCount == 17' <<< "$output"
	run fake_last_request
	jq -e '.body | fromjson | .model == "gpt-4o" and .max_tokens == 50 and .messages[0].role == "system"' <<< "$output"
}

@test "Gemini in, streaming from an Anthropic upstream: data chunks, the last with finishReason and usage" {
	run post -N "$PROXY_URL/v1beta/models/anthropic%2Fclaude-x:streamGenerateContent?alt=sse" \
		-d '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
	assert_success
	text=$(sed -n 's/^data: //p' <<< "$output" | jq -rj '.candidates[0].content.parts[]?.text // empty')
	assert_equal "$text" "$ANSWER"
	sed -n 's/^data: //p' <<< "$output" | jq -se 'last | .candidates[0].finishReason == "STOP" and .usageMetadata.promptTokenCount == 12'
}

@test "Gemini in: errors in Google's shape" {
	fake_next 'status=429'
	fake_next 'status=429'
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/v1beta/models/openai%2Fgpt-4o:generateContent" -d '{"contents":[{"parts":[{"text":"hi"}]}]}'
	assert_line --index 1 429
	jq -e '.error.code == 429 and .error.status == "RESOURCE_EXHAUSTED"' <<< "${lines[0]}"
}

# ---- token counting and embeddings ----

@test "count_tokens: Anthropic's own counter for Anthropic models, tools included in what is sent" {
	run post "$PROXY_URL/v1/messages/count_tokens" -d '{"model":"anthropic/claude-x","system":"s","messages":[{"role":"user","content":"hi"}],"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{}}}]}'
	assert_success
	assert_output '{"input_tokens":12}'
	run fake_last_request
	jq -e '.path == "/v1/messages/count_tokens" and .headers["x-api-key"] == "sk-ant-SECRET-5678"' <<< "$output"
	jq -e '.body | fromjson | .model == "claude-x" and (.tools | length == 1) and .system == "s" and (has("max_tokens") | not)' <<< "$output"
}

@test "count_tokens for a Gemini model asks Gemini's countTokens with the whole request" {
	run post "$PROXY_URL/v1/messages/count_tokens" -d '{"model":"google/gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}'
	assert_success
	assert_output '{"input_tokens":12}'
	run fake_last_request
	jq -e '.path == "/v1beta/models/gemini-2.5-flash:countTokens" and (.body | fromjson | .generateContentRequest.model == "models/gemini-2.5-flash")' <<< "$output"
}

@test "count_tokens for an OpenAI model is an estimate, marked as one" {
	run curl -sS -D "$BATS_TEST_TMPDIR/h" "$PROXY_URL/v1/messages/count_tokens" -d '{"model":"openai/gpt-4o","messages":[{"role":"user","content":"abcdefghijklmnopqrstuvwxyz abcdefghijklmnop"}]}'
	assert_success
	jq -e '.input_tokens > 5 and .input_tokens < 40' <<< "$output"
	grep -qi '^X-Arouter-Token-Estimate: chars/4' "$BATS_TEST_TMPDIR/h"
	assert_equal "$(fake_request_count)" 0
}

@test "Gemini :countTokens answers totalTokens" {
	run post "$PROXY_URL/v1beta/models/anthropic%2Fclaude-x:countTokens" -d '{"contents":[{"parts":[{"text":"hi"}]}]}'
	assert_success
	assert_output '{"totalTokens":12}'
}

@test "embeddings: OpenAI-dialect providers forwarded, Gemini translated, Anthropic refused" {
	run post "$PROXY_URL/v1/embeddings" -d '{"model":"openai/text-embedding-3-small","input":["a","b"]}'
	assert_success
	jq -e '.object == "list" and (.data | length == 2) and .model == "openai/text-embedding-3-small"' <<< "$output"
	run fake_last_request
	jq -e '.path == "/v1/embeddings" and (.body | fromjson | .model == "text-embedding-3-small")' <<< "$output"
	run post "$PROXY_URL/v1/embeddings" -d '{"model":"google/text-embedding-004","input":["a","b"]}'
	assert_success
	jq -e '(.data | length == 2) and (.data[1].index == 1) and (.data[0].embedding | length > 0)' <<< "$output"
	run fake_last_request
	jq -e '.path == "/v1beta/models/text-embedding-004:batchEmbedContents" and (.body | fromjson | .requests[1].content.parts[0].text == "b")' <<< "$output"
	# base64 from a translated provider: the proxy encodes Gemini's floats as
	# the fake's OpenAI side encodes the same values (5 floats: one "=").
	run post "$PROXY_URL/v1/embeddings" -d '{"model":"openai/text-embedding-3-small","input":["a","b"],"dimensions":5,"encoding_format":"base64"}'
	assert_success
	want=$(jq -c '[.data[].embedding]' <<< "$output")
	jq -e 'length == 2 and all(type == "string" and endswith("=") and length == 28)' <<< "$want"
	run post "$PROXY_URL/v1/embeddings" -d '{"model":"google/text-embedding-004","input":["a","b"],"dimensions":5,"encoding_format":"base64"}'
	assert_success
	jq -e --argjson w "$want" '[.data[].embedding] == $w' <<< "$output"
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/v1/embeddings" -d '{"model":"anthropic/claude-x","input":"a"}'
	assert_line --index 1 400
	jq -e '.error.message | test("no embeddings")' <<< "${lines[0]}"
}

@test "proxy.idle_timeout from the config: a stalled upstream becomes 504 in the client's dialect" {
	proxy_stop
	write_config <<< '{"proxy": {"idle_timeout": 1}}'
	proxy_start
	fake_next 'stall=4000'
	fake_next 'stall=4000'
	run timeout 10 curl -sS -w '\n%{http_code}' "$PROXY_URL/v1/messages" -d "$(anthropic_body openai/gpt-4o)"
	assert_line --index 1 504
	assert_equal "$(fake_request_count)" 2
	jq -e '.type == "error" and (.error.message | test("no response within 1 s"))' <<< "${lines[0]}"
}

@test "the built-in upstream client steps aside for http_proxy, which libcurl honours with no_proxy; AROUTER_HTTP_CLIENT is checked" {
	proxy_stop
	# A proxy nobody runs: requests now go through libcurl, which tries it.
	http_proxy=http://127.0.0.1:9 proxy_start
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/v1/chat/completions" -d "$(chat_body openai/gpt-4o)"
	refute_line --index 1 200
	assert_line --index 0 --partial 'cannot connect to http://127.0.0.1:'
	assert_equal "$(fake_request_count)" 0
	proxy_stop
	# no_proxy names the upstream: libcurl goes straight there.
	http_proxy=http://127.0.0.1:9 no_proxy=127.0.0.1 proxy_start
	run post "$PROXY_URL/v1/chat/completions" -d "$(chat_body openai/gpt-4o)"
	assert_success
	assert_equal "$(fake_request_count)" 1
	proxy_stop
	run env AROUTER_HTTP_CLIENT=curl "$AROUTER" proxy --listen 127.0.0.1:0
	assert_failure 3
	assert_output "arouter: proxy: AROUTER_HTTP_CLIENT must be builtin or libcurl, not 'curl'"
}

@test "every answer carries one Date header, IMF-fixdate, the current time" {
	local url
	for url in "/v1/chat/completions" "/v1/no-such-endpoint" "/openai/v1/chat/completions"; do
		run curl -sS -o /dev/null -D - "$PROXY_URL$url" -d "$(chat_body openai/gpt-4o)"
		assert_success
		local dates
		dates=$(grep -i '^date:' <<< "$output" | tr -d '\r')
		assert_equal "$(wc -l <<< "$dates")" 1
		[[ $dates =~ ^Date:\ (Mon|Tue|Wed|Thu|Fri|Sat|Sun),\ [0-9]{2}\ (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\ [0-9]{4}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ GMT$ ]] ||
			fail "$url: $dates"
		local when now
		when=$(date -u -d "${dates#Date: }" +%s)
		now=$(date -u +%s)
		(( now - when >= 0 && now - when <= 3 )) || fail "$url: $dates is $((now - when)) s from now"
	done
}

@test "libcurl is loaded at the first request that needs it, not at start; a libcurl that cannot load is a 502 with the reason" {
	[ -r "/proc/$PROXY_PID/maps" ] || skip "no /proc here"
	# The built-in client serves the loopback fake: libcurl is never opened
	# (whatever engine the suite runs with: tests/engine-libcurl.sh).
	proxy_stop
	AROUTER_HTTP_CLIENT=builtin proxy_start
	run post "$PROXY_URL/v1/chat/completions" -d "$(chat_body openai/gpt-4o)"
	assert_success
	run grep -c 'libcurl' "/proc/$PROXY_PID/maps"
	assert_output 0
	proxy_stop
	AROUTER_HTTP_CLIENT=libcurl proxy_start
	run grep -c 'libcurl' "/proc/$PROXY_PID/maps"
	assert_output 0
	run post "$PROXY_URL/v1/chat/completions" -d "$(chat_body openai/gpt-4o)"
	assert_success
	run grep -c 'libcurl' "/proc/$PROXY_PID/maps"
	refute_output 0
	proxy_stop
	AROUTER_HTTP_CLIENT=libcurl AROUTER_LIBCURL=/nonexistent/libcurl.so.4 proxy_start
	local sent=$(fake_request_count)
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/v1/messages" -d "$(anthropic_body openai/gpt-4o)"
	assert_line --index 1 502
	jq -e '.type == "error" and (.error.message | test("cannot load libcurl \\(AROUTER_LIBCURL\\): /nonexistent/libcurl.so.4"))' <<< "${lines[0]}"
	assert_equal "$(fake_request_count)" "$sent"
	# The proxy goes on: the next request gets the same answer, and health.
	run curl -sS -o /dev/null -w '%{http_code}' "$PROXY_URL/v1/chat/completions" -d "$(chat_body openai/gpt-4o)"
	assert_output 502
	run curl -sS "$PROXY_URL/health"
	assert_success
}

@test "Anthropic to Anthropic is not translated: the client's body, version and beta header reach the upstream" {
	run post "$PROXY_URL/v1/messages" -H 'anthropic-version: 2099-01-01' -H 'anthropic-beta: prompt-caching-2024-07-31' \
		-d '{"model":"anthropic/claude-x","max_tokens":64,"top_k":5,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}'
	assert_success
	run fake_last_request
	jq -e '.headers["anthropic-version"] == "2099-01-01" and .headers["anthropic-beta"] == "prompt-caching-2024-07-31"' <<< "$output"
	jq -e '.body | fromjson | .model == "claude-x" and .top_k == 5 and .system[0].cache_control.type == "ephemeral"' <<< "$output"
	fake_next 'status=529'
	fake_next 'status=529'
	run curl -sS -w '\n%{http_code}' "$PROXY_URL/v1/messages" -d "$(anthropic_body anthropic/claude-x)"
	assert_line --index 1 529
	jq -e '.error.type == "overloaded_error" and .error.message == "fake error 529"' <<< "${lines[0]}"
}

@test "Gemini to Gemini is not translated: the body reaches the upstream as sent" {
	run post "$PROXY_URL/v1beta/models/google%2Fgemini-2.5-flash:generateContent" \
		-d '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}],"cachedContent":"cachedContents/abc"}'
	assert_success
	jq -e '.candidates[0].content.parts[0].text == "Hello from the fake upstream." and .modelVersion' <<< "$output"
	run fake_last_request
	jq -e '.path == "/v1beta/models/gemini-2.5-flash:generateContent" and (.body | fromjson | .cachedContent == "cachedContents/abc" and .safetySettings[0].threshold == "BLOCK_NONE")' <<< "$output"
}

@test "proxy --status shows the running proxy's providers and keys, redacted; --json the report" {
	post "$PROXY_URL/v1/chat/completions" -d "$(chat_body openai/gpt-4o)" >/dev/null
	local port=${PROXY_URL##*:}
	run "$AROUTER" proxy --status --listen "127.0.0.1:$port"
	assert_success
	assert_line --index 0 'status: ok, 0 in flight'
	assert_output --regexp 'openai +sk-[a-z-]*…[0-9a-z]+ +ok'
	refute_output --partial "$OPENAI_API_KEY"
	run "$AROUTER" proxy --status --json --listen "127.0.0.1:$port"
	assert_success
	jq -e '.providers.openai.keys[0].state == "ok" and .providers.openai.keys[0].last_status == 200' <<< "$output"
	proxy_stop
	run "$AROUTER" proxy --status --listen "127.0.0.1:$port"
	assert_failure 7
	assert_output --partial 'no proxy answers at'
}

@test "--stdio serves the HTTP connection on stdin/stdout (file or pipe, keep-alive), then exits 0" {
	proxy_stop
	local body req
	body=$(chat_body openai/gpt-4o hi)
	req=$(printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' "${#body}" "$body")
	printf '%s%s' "$req" "$req" > "$BATS_TEST_TMPDIR/req"
	run timeout 20 "$AROUTER" proxy --stdio --log /dev/null < "$BATS_TEST_TMPDIR/req"
	assert_success
	assert_equal "$(grep -o 'HTTP/1.1 200 OK' <<< "$output" | wc -l)" 2
	assert_equal "$(grep -o "$ANSWER" <<< "$output" | wc -l)" 2
	assert_equal "$(fake_request_count)" 2
	run bash -c "cat '$BATS_TEST_TMPDIR/req' | timeout 20 '$AROUTER' proxy --stdio --log /dev/null | cat"
	assert_success
	assert_equal "$(grep -o 'HTTP/1.1 200 OK' <<< "$output" | wc -l)" 2
	# Nothing is left listening, and no socket file behind.
	assert_equal "$(fake_request_count)" 4
}

@test "a listening socket from systemd (LISTEN_FDS) is served; a non-loopback one needs keys" {
	proxy_stop
	cat > "$BATS_TEST_TMPDIR/activate.py" <<'PY'
import os, socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
s.listen(16)
open(sys.argv[2], "w").write(str(s.getsockname()[1]))
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[3], sys.argv[3:])
PY
	python3 "$BATS_TEST_TMPDIR/activate.py" 127.0.0.1 "$BATS_TEST_TMPDIR/port" "$AROUTER" proxy --log /dev/null \
		2> "$BATS_TEST_TMPDIR/err" &
	local pid=$! i
	for i in $(seq 50); do grep -q 'listening' "$BATS_TEST_TMPDIR/err" 2>/dev/null && break; sleep 0.1; done
	grep -q 'socket from systemd' "$BATS_TEST_TMPDIR/err"
	run curl -sS "http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/port")/v1/chat/completions" -d "$(chat_body openai/gpt-4o)"
	assert_output --partial "$ANSWER"
	kill -TERM "$pid"
	wait "$pid"
	# Bound to every address by systemd: refused without keys and --allow-remote.
	run python3 "$BATS_TEST_TMPDIR/activate.py" 0.0.0.0 "$BATS_TEST_TMPDIR/port" "$AROUTER" proxy --log /dev/null
	assert_failure 2
	assert_output --partial 'non-loopback address needs'
}
