#!/usr/bin/env bats
# tests/fake-upstream.bats - the fake upstream's own tests: every endpoint's
# JSON and stream shapes in the three dialects, the record, the control
# endpoints, and every directive from each of its sources (queue, X-Fake
# header, [[fake:...]] body marker).  Other suites trust the fake because of
# these.  Run: FAKE_UPSTREAM=/path/to/fake-upstream bats tests/fake-upstream.bats

bats_require_minimum_version 1.5.0

load fake

setup_file() { fake_start; }
teardown_file() { fake_stop; }
setup() { fake_reset; }

FAKE_BIN=${FAKE_UPSTREAM:-$BATS_TEST_DIRNAME/fake-upstream}
TEXT='Hello from the fake upstream.'

OAI='{"model":"gpt-test","messages":[{"role":"user","content":"Hi"}]}'
OAI_STREAM='{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"Hi"}]}'
OAI_STREAM_USAGE='{"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}'
ANT='{"model":"claude-test","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}'
ANT_STREAM='{"model":"claude-test","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}'
GEM='{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}'
GEM_MODEL=/v1beta/models/gemini-test

OAI_USAGE='{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":0}}'
ANT_USAGE='{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":2,"cache_creation_input_tokens":0}'
GEM_USAGE='{"promptTokenCount":12,"candidatesTokenCount":5,"totalTokenCount":17,"cachedContentTokenCount":2}'

# hit PATH BODY [curl options...]: POSTs BODY; prints the HTTP status, leaves
# the body in $BATS_TEST_TMPDIR/body and the headers in .../headers.
hit() {
	local path=$1 body=$2
	shift 2
	curl -sS -o "$BATS_TEST_TMPDIR/body" -D "$BATS_TEST_TMPDIR/headers" -w '%{http_code}' \
		-X POST -H 'Content-Type: application/json' --data-binary "$body" "$@" "$FAKE_URL$path"
}

# via SOURCE DIRECTIVE PATH BODY [curl options...]: hit, with DIRECTIVE given
# through SOURCE: queue (/_fake/next), header (X-Fake) or marker (in BODY).
via() {
	local src=$1 dir=$2 path=$3 body=$4
	shift 4
	case $src in
	queue) fake_next "$dir" ;;
	header) set -- "$@" -H "X-Fake: $dir" ;;
	marker) body=${body/Hi/Hi [[fake:$dir]]} ;;
	*) echo "via: unknown source $src" >&2 && return 1 ;;
	esac
	hit "$path" "$body" "$@"
}

body() { cat "$BATS_TEST_TMPDIR/body"; }

# header NAME: the value of a response header of the last hit.
header() { grep -i "^$1:" "$BATS_TEST_TMPDIR/headers" | head -n 1 | cut -d' ' -f2- | tr -d '\r'; }

# sse_json: the data: payloads of the last hit's stream, one a line.
sse_json() { sed -n 's/^data: //p' "$BATS_TEST_TMPDIR/body" | tr -d '\r'; }

# Non-zero unless $1 >= $2 (floating point seconds).
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# wait_for_requests N: until N requests are recorded (5 s at most).
wait_for_requests() {
	local i
	for ((i = 0; i < 50; i++)); do
		(($(fake_request_count) >= $1)) && return 0
		sleep 0.1
	done
	return 1
}

# ---- command line and control ----

@test "cli: an unknown option exits 2 with the usage on stderr" {
	run -2 "$FAKE_BIN" --bogus
	assert_output --partial 'usage: fake-upstream'
}

@test "cli: --port-file and --record are required" {
	run -2 "$FAKE_BIN" --record "$BATS_TEST_TMPDIR/r"
	assert_output --partial 'required'
	run -2 "$FAKE_BIN" --port-file "$BATS_TEST_TMPDIR/p"
}

@test "cli: port file written by rename, --port honoured, SIGINT and SIGTERM exit 0" {
	local d=$BATS_TEST_TMPDIR port pid status
	"$FAKE_BIN" --port-file "$d/p1" --record "$d/r1" 2>"$d/e1" 3>&- &
	pid=$!
	for ((i = 0; i < 50; i++)); do [[ -s $d/p1 ]] && break; sleep 0.1; done
	port=$(<"$d/p1")
	[[ $port =~ ^[0-9]+$ ]]
	[ ! -e "$d/p1.tmp" ]
	run curl -sS "http://127.0.0.1:$port/_fake/health"
	assert_output ok
	kill -INT "$pid"
	status=0 && wait "$pid" || status=$?
	assert_equal "$status" 0

	# The port is free again: ask for it explicitly.
	"$FAKE_BIN" --host 127.0.0.1 --port "$port" --port-file "$d/p2" --record "$d/r2" 2>"$d/e2" 3>&- &
	pid=$!
	for ((i = 0; i < 50; i++)); do [[ -s $d/p2 ]] && break; sleep 0.1; done
	assert_equal "$(<"$d/p2")" "$port"
	run curl -sS "http://127.0.0.1:$port/_fake/health"
	assert_output ok
	kill -TERM "$pid"
	status=0 && wait "$pid" || status=$?
	assert_equal "$status" 0
	[ ! -s "$d/e1" ] && [ ! -s "$d/e2" ]
}

@test "cli: SIGTERM with responses in flight (stall, drip, cut) exits 0 and frees everything" {
	local d=$BATS_TEST_TMPDIR url pid status c1 c2 c3
	"$FAKE_BIN" --port-file "$d/p" --record "$d/r" 2>"$d/e" 3>&- &
	pid=$!
	for ((i = 0; i < 50; i++)); do [[ -s $d/p ]] && break; sleep 0.1; done
	url=http://127.0.0.1:$(<"$d/p")/v1/chat/completions
	curl -sS -o /dev/null -H 'X-Fake: stall=8000' --data-binary "$OAI" "$url" 2>/dev/null 3>&- &
	c1=$!
	curl -sS -o /dev/null -H 'X-Fake: drip=3000' --data-binary "$OAI_STREAM" "$url" 2>/dev/null 3>&- &
	c2=$!
	curl -sS -o /dev/null -H 'X-Fake: cut=4;drip=3000' --data-binary "$ANT_STREAM" "${url%/chat/completions}/messages" 2>/dev/null 3>&- &
	c3=$!
	for ((i = 0; i < 50; i++)); do (($(grep -c '' "$d/r") >= 3)) && break; sleep 0.1; done
	kill -TERM "$pid"
	status=0 && wait "$pid" || status=$?
	wait "$c1" "$c2" "$c3" || true
	assert_equal "$status" 0
	run cat "$d/e"
	assert_output ''
	# The fake hung up, not the clients: no client_closed events.
	run grep -c event "$d/r"
	assert_output 0
}

@test "control: health answers 200 ok and is not recorded" {
	run curl -sS -i "$FAKE_URL/_fake/health"
	assert_line --regexp '^HTTP/1.1 200'
	assert_line --regexp '^ok'
	fake_next 'status=500'
	run curl -sS -o /dev/null -w '%{http_code}' "$FAKE_URL/_fake/nope"
	assert_output 404
	assert_equal "$(fake_request_count)" 0
	[ ! -s "$FAKE_RECORD" ]
}

@test "control: reset truncates the record, empties the queue and restarts seq" {
	hit /v1/chat/completions "$OAI"
	hit /v1/chat/completions "$OAI"
	assert_equal "$(fake_request_count)" 2
	fake_next 'status=500'
	fake_reset
	[ ! -s "$FAKE_RECORD" ]
	run hit /v1/chat/completions "$OAI"
	assert_output 200
	fake_last_request | jq -e '.seq == 1'
}

@test "control: the queue is FIFO, one directive per request" {
	fake_next 'status=500'
	fake_next 'status=429'
	run hit /v1/chat/completions "$OAI"
	assert_output 500
	run hit /v1/chat/completions "$OAI"
	assert_output 429
	run hit /v1/chat/completions "$OAI"
	assert_output 200
}

# ---- recording ----

@test "record: method, path, query, lower-cased headers and the raw body" {
	local raw=$'{ "model" : "gpt-test",\n  "messages": [ {"role":"user","content":"caf\u00e9 \\"q\\""} ] }'
	hit '/v1/chat/completions?foo=bar&x=1' "$raw" -H 'X-Custom-Header: Value1' -H 'Authorization: Bearer sk-test'
	assert_equal "$(fake_request_count)" 1
	fake_last_request | jq -e --arg raw "$raw" '
		.seq == 1 and .method == "POST" and .path == "/v1/chat/completions" and .query == "foo=bar&x=1"
		and .headers["x-custom-header"] == "Value1" and .headers.authorization == "Bearer sk-test"
		and .headers["content-type"] == "application/json"
		and (.headers | keys | all(. == ascii_downcase))
		and .body == $raw'
	curl -sS -o /dev/null "$FAKE_URL/v1/models"
	fake_last_request | jq -e '.seq == 2 and .method == "GET" and .path == "/v1/models" and .query == "" and .body == ""'
}

@test "record: each line is written before the response and parses alone" {
	fake_next 'stall=2000'
	curl -sS -o /dev/null -X POST --data-binary "$OAI" "$FAKE_URL/v1/chat/completions" 3>&- &
	local pid=$!
	wait_for_requests 1
	kill -0 "$pid"
	wait "$pid"
	jq -e -s 'length == 1 and .[0].seq == 1' "$FAKE_RECORD"
}

@test "record: unknown routes are recorded and answered 404 with a JSON error" {
	run hit /v2/whatever '{}'
	assert_output 404
	body | jq -e '.error.message | test("no route for POST /v2/whatever")'
	assert_equal "$(header Content-Type)" application/json
	run curl -sS -o /dev/null -w '%{http_code}' "$FAKE_URL/v1/chat/completions"
	assert_output 404
	assert_equal "$(fake_request_count)" 2
}

# ---- OpenAI ----

@test "openai: chat completion JSON with the request's model and the usage" {
	run hit /v1/chat/completions "$OAI"
	assert_output 200
	assert_equal "$(header Content-Type)" application/json
	body | jq -e --arg t "$TEXT" --argjson u "$OAI_USAGE" '
		.object == "chat.completion" and .id == "chatcmpl-fake1" and .model == "gpt-test"
		and .choices[0].index == 0 and .choices[0].message.role == "assistant"
		and .choices[0].message.content == $t and .choices[0].finish_reason == "stop"
		and (.choices[0].message | has("tool_calls") | not) and .usage == $u'
}

@test "openai: chat is served under every provider prefix" {
	local p
	for p in /v1/chat/completions /openai/v1/chat/completions /compatible-mode/v1/chat/completions \
		/api/v1/chat/completions /chat/completions /openai/deployments/my-dep/chat/completions; do
		run hit "$p?api-version=2024-10-21" "$OAI"
		assert_output 200
		body | jq -e '.object == "chat.completion"'
		fake_last_request | jq -e --arg p "$p" '.path == $p and .query == "api-version=2024-10-21"'
	done
}

@test "openai: stream of 5 content deltas, finish_reason, [DONE], no usage by default" {
	run hit /v1/chat/completions "$OAI_STREAM"
	assert_output 200
	assert_equal "$(header Content-Type)" text/event-stream
	assert_equal "$(header Transfer-Encoding)" chunked
	# Framing: "data: ..." and a blank line, alternately; [DONE] last.
	awk 'NR % 2 == 1 && !/^data: / { exit 1 } NR % 2 == 0 && $0 != "" { exit 1 }' "$BATS_TEST_TMPDIR/body"
	assert_equal "$(sse_json | tail -n 1)" '[DONE]'
	sse_json | grep -v '^\[DONE\]$' | jq -s -e --arg t "$TEXT" '
		length == 7
		and all(.[]; .object == "chat.completion.chunk" and .id == "chatcmpl-fake1" and .model == "gpt-test")
		and .[0].choices[0].delta.role == "assistant"
		and ([.[1:][] | .choices[0].delta | has("role")] | any | not)
		and (map(.choices[0].delta.content // "") | join("")) == $t
		and ([.[] | .choices[0].delta.content // empty | select(. != "")] == ["Hello", " from", " the", " fake", " upstream."])
		and ([.[] | .choices[0].finish_reason] == [null, null, null, null, null, null, "stop"])
		and all(.[]; has("usage") | not)'
}

@test "openai: include_usage adds a usage chunk with empty choices before [DONE]" {
	run hit /v1/chat/completions "$OAI_STREAM_USAGE"
	assert_output 200
	assert_equal "$(sse_json | tail -n 1)" '[DONE]'
	sse_json | grep -v '^\[DONE\]$' | jq -s -e --argjson u "$OAI_USAGE" '
		.[-1].choices == [] and .[-1].usage == $u
		and all(.[:-1][]; .usage == null) and .[-2].choices[0].finish_reason == "stop"'
}

@test "openai: each stream event is its own HTTP chunk" {
	curl -sS --raw -X POST --data-binary "$OAI_STREAM" "$FAKE_URL/v1/chat/completions" >"$BATS_TEST_TMPDIR/raw"
	# 8 events (role, 5 deltas, finish, [DONE]) and the terminating 0.
	assert_equal "$(grep -c $'^[0-9a-f]\+\r$' "$BATS_TEST_TMPDIR/raw")" 9
}

@test "openai: embeddings for a batch, one string, dimensions and base64" {
	run hit /v1/embeddings '{"model":"text-embedding-3-small","input":["a","b","c"],"dimensions":4}'
	assert_output 200
	body | jq -e '.object == "list" and .model == "text-embedding-3-small" and (.data | length) == 3
		and ([.data[].index] == [0, 1, 2]) and all(.data[]; .object == "embedding" and (.embedding | length) == 4
		and all(.embedding[]; type == "number")) and .usage.prompt_tokens == 12 and .usage.total_tokens == 12'
	run hit /v1/embeddings '{"model":"e","input":"one"}'
	body | jq -e '(.data | length) == 1 and (.data[0].embedding | length) == 8'
	run hit /v1/embeddings '{"model":"e","input":[1,2,3]}'
	body | jq -e '(.data | length) == 1'
	run hit /v1/embeddings '{"model":"e","input":"one","encoding_format":"base64"}'
	assert_equal "$(body | jq -r '.data[0].embedding' | base64 -d | wc -c)" 32
}

@test "openai: models list" {
	run curl -sS -D "$BATS_TEST_TMPDIR/headers" "$FAKE_URL/v1/models"
	assert_success
	jq -e '.object == "list" and (.data | length) >= 2
		and .data[0] == {"id":"fake-model","object":"model","created":1700000000,"owned_by":"fake"}
		and all(.data[]; .object == "model" and .owned_by == "fake")' <<<"$output"
}

@test "catalog: a models list in the OpenRouter/ARouter gateway shape, from the queue or the header" {
	fake_next catalog
	run curl -sS "$FAKE_URL/v1/models"
	assert_success
	jq -e '.object == "list" and (.data | map(.id)) == ["openai/gpt-4o-mini", "anthropic/claude-gateway-only", "auto"]
		and .data[0].name == "OpenAI: GPT-4o-mini (gateway)" and .data[0].context_length == 128000
		and .data[0].pricing == {"prompt":"0.0000002","completion":"0.0000008","input_cache_read":"0.0000001"}
		and .data[0].architecture == {"input_modalities":["text","image"],"output_modalities":["text"]}
		and .data[0].top_provider == {"context_length":128000,"max_completion_tokens":16384}
		and .data[0].supported_parameters == ["max_tokens","tools"]
		and .data[1] == {"id":"anthropic/claude-gateway-only"}' <<<"$output"
	run curl -sS -H 'X-Fake: catalog' "$FAKE_URL/api/v1/models"
	jq -e '.data[0].id == "openai/gpt-4o-mini"' <<<"$output"
	run curl -sS "$FAKE_URL/v1/models"
	jq -e '.data[0].id == "fake-model"' <<<"$output"
}

# ---- Anthropic ----

@test "anthropic: message JSON with the request's model and the usage" {
	run hit /v1/messages "$ANT"
	assert_output 200
	assert_equal "$(header Content-Type)" application/json
	body | jq -e --arg t "$TEXT" --argjson u "$ANT_USAGE" '
		.type == "message" and .id == "msg_fake1" and .role == "assistant" and .model == "claude-test"
		and .content == [{"type":"text","text":$t}] and .stop_reason == "end_turn" and .stop_sequence == null
		and .usage == $u'
}

@test "anthropic: stream has the real event order and data.type matches the event" {
	run hit /v1/messages "$ANT_STREAM"
	assert_output 200
	assert_equal "$(header Content-Type)" text/event-stream
	local events types
	events=$(sed -n 's/^event: //p' "$BATS_TEST_TMPDIR/body" | paste -sd' ')
	assert_equal "$events" 'message_start content_block_start ping content_block_delta content_block_delta content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop'
	types=$(sse_json | jq -r .type | paste -sd' ')
	assert_equal "$types" "$events"
	# "event:", "data:", blank line, repeated.
	awk 'NR % 3 == 1 && !/^event: / { exit 1 } NR % 3 == 2 && !/^data: / { exit 1 } NR % 3 == 0 && $0 != "" { exit 1 }' "$BATS_TEST_TMPDIR/body"
	sse_json | jq -s -e --arg t "$TEXT" '
		(map(select(.type == "content_block_delta") | .delta.text) | join("")) == $t
		and all(.[] | select(.type == "content_block_delta"); .delta.type == "text_delta" and .index == 0)
		and .[0].message.model == "claude-test" and .[0].message.stop_reason == null and .[0].message.content == []
		and .[0].message.usage.input_tokens == 10 and .[0].message.usage.cache_read_input_tokens == 2
		and .[0].message.usage.cache_creation_input_tokens == 0
		and .[1].content_block == {"type":"text","text":""}
		and (.[] | select(.type == "message_delta")) == {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}'
}

@test "anthropic: count_tokens" {
	run hit /v1/messages/count_tokens "$ANT"
	assert_output 200
	assert_equal "$(body | jq -c .)" '{"input_tokens":12}'
}

@test "anthropic: models list when the request has anthropic-version" {
	run curl -sS -H 'anthropic-version: 2023-06-01' "$FAKE_URL/v1/models"
	assert_success
	assert_equal "$(jq -c . <<<"$output")" '{"data":[{"type":"model","id":"claude-fake","display_name":"Claude Fake","created_at":"2025-01-01T00:00:00Z"},{"type":"model","id":"claude-sonnet-4-5-20250929","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"}],"has_more":false,"first_id":"claude-fake","last_id":"claude-sonnet-4-5-20250929"}'
}

# ---- Gemini ----

@test "gemini: generateContent JSON, model from the path" {
	run hit "$GEM_MODEL:generateContent" "$GEM"
	assert_output 200
	assert_equal "$(header Content-Type)" application/json
	body | jq -e --arg t "$TEXT" --argjson u "$GEM_USAGE" '
		.candidates[0].content == {"parts":[{"text":$t}],"role":"model"} and .candidates[0].finishReason == "STOP"
		and .candidates[0].index == 0 and .usageMetadata == $u and .modelVersion == "gemini-test"'
}

@test "gemini: streamGenerateContent?alt=sse, CRLF framing, STOP and usage on the last chunk" {
	run hit "$GEM_MODEL:streamGenerateContent?alt=sse" "$GEM"
	assert_output 200
	assert_equal "$(header Content-Type)" text/event-stream
	local b=$BATS_TEST_TMPDIR/body
	assert_equal "$(grep -c '' "$b")" 10
	assert_equal "$(grep -c $'\r$' "$b")" 10
	awk 'NR % 2 == 1 && !/^data: \{.*\}\r$/ { exit 1 } NR % 2 == 0 && $0 != "\r" { exit 1 }' "$b"
	run ! grep -e '^event:' -e 'DONE' "$b"
	sse_json | jq -s -e --arg t "$TEXT" --argjson u "$GEM_USAGE" '
		length == 5 and (map(.candidates[0].content.parts[0].text) | join("")) == $t
		and map(.candidates[0].finishReason) == [null, null, null, null, "STOP"]
		and .[-1].usageMetadata == $u and all(.[:-1][]; .usageMetadata.candidatesTokenCount == null)
		and all(.[]; .modelVersion == "gemini-test" and .candidates[0].content.role == "model")'
}

@test "gemini: streamGenerateContent without alt=sse is a JSON array of the chunks" {
	run hit "$GEM_MODEL:streamGenerateContent" "$GEM"
	assert_output 200
	assert_equal "$(header Content-Type)" application/json
	body | jq -e --arg t "$TEXT" --argjson u "$GEM_USAGE" '
		type == "array" and length == 5 and (map(.candidates[0].content.parts[0].text) | join("")) == $t
		and .[-1].candidates[0].finishReason == "STOP" and .[-1].usageMetadata == $u'
}

@test "gemini: countTokens, embedContent and batchEmbedContents" {
	run hit "$GEM_MODEL:countTokens" "$GEM"
	assert_output 200
	assert_equal "$(body | jq -c .)" '{"totalTokens":12}'
	run hit /v1beta/models/embed-test:embedContent '{"content":{"parts":[{"text":"a"}]}}'
	assert_output 200
	body | jq -e '(.embedding.values | length) == 8 and all(.embedding.values[]; type == "number")'
	run hit /v1beta/models/embed-test:embedContent '{"content":{"parts":[{"text":"a"}]},"outputDimensionality":3}'
	body | jq -e '(.embedding.values | length) == 3'
	run hit /v1beta/models/embed-test:batchEmbedContents \
		'{"requests":[{"model":"models/embed-test","content":{"parts":[{"text":"a"}]}},{"model":"models/embed-test","content":{"parts":[{"text":"b"}]}}]}'
	assert_output 200
	body | jq -e '(.embeddings | length) == 2 and all(.embeddings[]; (.values | length) == 8)'
}

@test "gemini: models list with models/ names and supportedGenerationMethods" {
	run curl -sS "$FAKE_URL/v1beta/models"
	assert_success
	jq -e '(.models | length) >= 2 and all(.models[]; (.name | startswith("models/")) and (.supportedGenerationMethods | type) == "array")
		and any(.models[]; .supportedGenerationMethods | index("generateContent"))' <<<"$output"
}

# ---- status and retry_after ----

@test "status: OpenAI error bodies, from the queue" {
	local spec code type ecode
	for spec in 400:invalid_request_error:null 401:authentication_error:invalid_api_key 403:permission_error:null \
		404:not_found_error:null 429:rate_limit_error:rate_limit_exceeded 500:server_error:null 503:server_error:null; do
		IFS=: read -r code type ecode <<<"$spec"
		fake_next "status=$code"
		run hit /v1/chat/completions "$OAI"
		assert_output "$code"
		assert_equal "$(header Content-Type)" application/json
		body | jq -e --argjson c "$code" --arg t "$type" --arg e "$ecode" '
			.error == {"message":"fake error \($c)","type":$t,"param":null,"code":(if $e == "null" then null else $e end)}'
	done
}

@test "status: Anthropic error bodies, from the X-Fake header" {
	local spec code type
	for spec in 400:invalid_request_error 401:authentication_error 403:permission_error 404:not_found_error \
		413:request_too_large 429:rate_limit_error 500:api_error 504:timeout_error 529:overloaded_error; do
		IFS=: read -r code type <<<"$spec"
		run hit /v1/messages "$ANT" -H "X-Fake: status=$code"
		assert_output "$code"
		body | jq -e --argjson c "$code" --arg t "$type" '. == {"type":"error","error":{"type":$t,"message":"fake error \($c)"}}'
	done
}

@test "status: Gemini error bodies, from a body marker" {
	local spec code st
	for spec in 400:INVALID_ARGUMENT 403:PERMISSION_DENIED 404:NOT_FOUND 429:RESOURCE_EXHAUSTED 500:INTERNAL \
		503:UNAVAILABLE 504:DEADLINE_EXCEEDED; do
		IFS=: read -r code st <<<"$spec"
		run via marker "status=$code" "$GEM_MODEL:generateContent" "$GEM"
		assert_output "$code"
		body | jq -e --argjson c "$code" --arg s "$st" '.error == {"code":$c,"message":"fake error \($c)","status":$s}'
	done
}

@test "status: from every source, also on streaming and non-chat endpoints" {
	local src
	for src in queue header marker; do
		run via "$src" 'status=503' /v1/chat/completions "$OAI_STREAM"
		assert_output 503
		assert_equal "$(header Content-Type)" application/json
		body | jq -e '.error.type == "server_error"'
	done
	run curl -sS -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' -H 'X-Fake: status=500' "$FAKE_URL/v1beta/models"
	assert_output 500
	body | jq -e '.error.status == "INTERNAL"'
}

@test "retry_after: adds a Retry-After header, from every source" {
	local src
	for src in queue header marker; do
		run via "$src" 'status=429;retry_after=7' /v1/messages "$ANT"
		assert_output 429
		assert_equal "$(header Retry-After)" 7
	done
	run hit /v1/messages "$ANT"
	assert_equal "$(header Retry-After)" ''
}

@test "directives: sources merge per key, later wins (queue < header < body)" {
	fake_next 'status=500;retry_after=3'
	run hit /v1/chat/completions "${OAI/Hi/Hi [[fake:status=503]]}" -H 'X-Fake: status=429'
	assert_output 503
	assert_equal "$(header Retry-After)" 3
	fake_next 'status=500'
	run hit /v1/chat/completions "$OAI" -H 'X-Fake: status=429'
	assert_output 429
	# A flag can be switched off again by a later source.
	fake_next 'garbage'
	run hit /v1/chat/completions "$OAI" -H 'X-Fake: garbage=0'
	assert_output 200
	body | jq -e '.object == "chat.completion"'
}

@test "directives: unknown keys are ignored, wrapped [[fake:...]] accepted in the queue and header" {
	fake_next 'frobnicate=yes;bogus'
	run hit /v1/chat/completions "$OAI"
	assert_output 200
	body | jq -e '.object == "chat.completion"'
	fake_next '[[fake:status=418;colour=blue]]'
	run hit /v1/chat/completions "$OAI"
	assert_output 418
	body | jq -e '.error.type == "invalid_request_error"'
	run hit /v1/chat/completions "$OAI" -H 'X-Fake: [[fake:status=402]]'
	assert_output 402
}

@test "directives: a stream with a status that has no body still completes" {
	run timeout 5 curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'X-Fake: status=204' --data-binary "$OAI_STREAM" \
		"$FAKE_URL/v1/chat/completions"
	assert_output 204
}

@test "directives: a scripted response leaves the connection reusable" {
	# One curl, two requests on one keep-alive connection.
	run curl -sS -v -H 'X-Fake: stall=100;drip=10' --data-binary "$OAI_STREAM" "$FAKE_URL/v1/chat/completions" \
		-o /dev/null --next -sS --data-binary "$OAI" "$FAKE_URL/v1/chat/completions" -o "$BATS_TEST_TMPDIR/body"
	assert_success
	assert_output --partial 'Re-using existing connection'
	body | jq -e '.object == "chat.completion"'
	assert_equal "$(fake_request_count)" 2
}

@test "directives: a body marker is read from the decoded JSON string" {
	# The JSON escapes in the body must not leak into the value.
	run hit /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"[[fake:reply=She said \"hi\" \u0026 left]]"}]}'
	assert_output 200
	body | jq -e '.choices[0].message.content == "She said \"hi\" & left"'
}

# ---- timing: stall and drip ----

@test "stall: delays everything, headers included, from every source" {
	local src t
	for src in queue header marker; do
		t=$(via "$src" 'stall=700' /v1/chat/completions "$OAI" -w ' %{time_starttransfer}' | cut -d' ' -f2)
		at_least "$t" 0.6
		body | jq -e '.object == "chat.completion"'
	done
	t=$(hit /v1/chat/completions "$OAI" -w ' %{time_starttransfer}' | cut -d' ' -f2)
	below "$t" 0.6
}

@test "stall: a stalled request does not block another connection" {
	curl -sS -o "$BATS_TEST_TMPDIR/slow" -X POST -H 'X-Fake: stall=3000' --data-binary "$OAI" \
		"$FAKE_URL/v1/chat/completions" 3>&- &
	local slow=$! t
	wait_for_requests 1
	t=$(curl -sS -o /dev/null -w '%{time_total}' --max-time 2.5 -X POST --data-binary "$OAI" "$FAKE_URL/v1/chat/completions")
	below "$t" 2
	kill -0 "$slow" # still stalled
	wait "$slow"
	jq -e '.object == "chat.completion"' "$BATS_TEST_TMPDIR/slow"
}

@test "drip: waits between stream events, from every source" {
	local src t
	for src in queue header marker; do
		# 8 events, 7 gaps of 150 ms.
		t=$(via "$src" 'drip=150' /v1/chat/completions "$OAI_STREAM" -w ' %{time_total}' | cut -d' ' -f2)
		at_least "$t" 0.9
		assert_equal "$(sse_json | tail -n 1)" '[DONE]'
	done
}

@test "drip: a dripping stream does not block another connection" {
	curl -sS -o "$BATS_TEST_TMPDIR/slow" -X POST -H 'X-Fake: drip=400' --data-binary "$ANT_STREAM" \
		"$FAKE_URL/v1/messages" 3>&- &
	local slow=$! t
	wait_for_requests 1
	t=$(curl -sS -o /dev/null -w '%{time_total}' --max-time 2.5 -X POST --data-binary "$OAI" "$FAKE_URL/v1/chat/completions")
	below "$t" 1.5
	kill -0 "$slow"
	wait "$slow"
	assert_equal "$(sed -n 's/^event: //p' "$BATS_TEST_TMPDIR/slow" | tail -n 1)" message_stop
}

# ---- client_closed ----

@test "client_closed: recorded when curl is killed during a drip" {
	fake_next 'drip=500'
	curl -sS -N -o "$BATS_TEST_TMPDIR/partial" -X POST --data-binary "$OAI_STREAM" \
		"$FAKE_URL/v1/chat/completions" 3>&- &
	local pid=$! i
	for ((i = 0; i < 50; i++)); do
		grep -q '^data: ' "$BATS_TEST_TMPDIR/partial" 2>/dev/null && break
		sleep 0.1
	done
	kill -TERM "$pid"
	wait "$pid" || true
	fake_wait_event client_closed 5
	fake_events | jq -s -e '. == [{"event":"client_closed","seq":1}]'
	# The fake is still healthy.
	run hit /v1/chat/completions "$OAI"
	assert_output 200
}

@test "client_closed: recorded when the client gives up during a stall" {
	run -28 curl -sS --max-time 1 -X POST -H 'X-Fake: stall=6000' --data-binary "$OAI" "$FAKE_URL/v1/chat/completions"
	# Noticed while still stalling, long before the stall would have ended.
	fake_wait_event client_closed 3
	fake_events | jq -s -e '. == [{"event":"client_closed","seq":1}]'
}

@test "client_closed: not recorded for responses that complete" {
	hit /v1/chat/completions "$OAI_STREAM" -H 'X-Fake: drip=10'
	hit /v1/chat/completions "$OAI" -H 'X-Fake: stall=10'
	sleep 0.3
	assert_equal "$(fake_events)" ''
}

# ---- cut ----

@test "cut: an OpenAI stream stops after N events with no terminator (curl 18)" {
	fake_next 'cut=3'
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -X POST --data-binary "$OAI_STREAM" "$FAKE_URL/v1/chat/completions"
	assert_equal "$(grep -c '^data: ' "$BATS_TEST_TMPDIR/body")" 3
	run ! grep -q DONE "$BATS_TEST_TMPDIR/body"
}

@test "cut: counts every Anthropic event, from the header and a marker" {
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -X POST -H 'X-Fake: cut=2' --data-binary "$ANT_STREAM" "$FAKE_URL/v1/messages"
	assert_equal "$(sed -n 's/^event: //p' "$BATS_TEST_TMPDIR/body" | paste -sd' ')" 'message_start content_block_start'
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -X POST --data-binary "${GEM/Hi/Hi [[fake:cut=4]]}" \
		"$FAKE_URL$GEM_MODEL:streamGenerateContent?alt=sse"
	assert_equal "$(grep -c '^data: ' "$BATS_TEST_TMPDIR/body")" 4
}

@test "cut: past the last event still ends without the terminator" {
	fake_next 'cut=100'
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -X POST --data-binary "$OAI_STREAM" "$FAKE_URL/v1/chat/completions"
	assert_equal "$(sse_json | tail -n 1)" '[DONE]'
}

@test "cut: a JSON response announces its full length and sends part of it" {
	fake_next 'cut=20'
	run -18 curl -sS -D "$BATS_TEST_TMPDIR/headers" -o "$BATS_TEST_TMPDIR/body" -X POST --data-binary "$OAI" \
		"$FAKE_URL/v1/chat/completions"
	assert_equal "$(wc -c <"$BATS_TEST_TMPDIR/body")" 20
	(($(header Content-Length) > 20))
	# cut=0: the headers and nothing else (curl then creates no file).
	fake_next 'cut=0'
	run -18 curl -sS -D "$BATS_TEST_TMPDIR/headers" -o "$BATS_TEST_TMPDIR/empty" -X POST --data-binary "$ANT" "$FAKE_URL/v1/messages"
	(($(header Content-Length) > 0))
	[ ! -s "$BATS_TEST_TMPDIR/empty" ]
}

# ---- garbage and html ----

@test "garbage: a stream of malformed data events, from every source" {
	local src
	for src in queue header marker; do
		run via "$src" garbage /v1/chat/completions "$OAI_STREAM"
		assert_output 200
		assert_equal "$(header Content-Type)" text/event-stream
		assert_equal "$(grep -c '^data: {not json$' "$BATS_TEST_TMPDIR/body")" 3
		run ! jq -e . <(sse_json)
	done
}

@test "garbage: a non-JSON body with a JSON content type, status kept if given" {
	run hit /v1/messages "$ANT" -H 'X-Fake: garbage'
	assert_output 200
	assert_equal "$(header Content-Type)" application/json
	run ! jq . "$BATS_TEST_TMPDIR/body"
	run hit "$GEM_MODEL:generateContent" "$GEM" -H 'X-Fake: garbage;status=500'
	assert_output 500
	run ! jq . "$BATS_TEST_TMPDIR/body"
}

@test "html: a 502 HTML page (or the given status), even for a stream, from every source" {
	local src
	for src in queue header marker; do
		run via "$src" html /v1/chat/completions "$OAI_STREAM"
		assert_output 502
		assert_equal "$(header Content-Type)" text/html
		grep -q '<html>' "$BATS_TEST_TMPDIR/body"
		grep -q '502 Bad Gateway' "$BATS_TEST_TMPDIR/body"
	done
	run hit /v1/messages "$ANT" -H 'X-Fake: html;status=503'
	assert_output 503
	grep -q '503 Service Unavailable' "$BATS_TEST_TMPDIR/body"
}

# ---- stream_error ----

@test "stream_error: OpenAI sends two deltas then an error object, no [DONE]" {
	fake_next stream_error
	run hit /v1/chat/completions "$OAI_STREAM"
	assert_output 200
	run ! grep -q DONE "$BATS_TEST_TMPDIR/body"
	sse_json | jq -s -e '
		(map(.choices[0].delta.content // "") | join("")) == "Hello from"
		and (.[-1] | has("error")) and .[-1].error.type == "server_error" and (.[-1].error.message | type) == "string"'
}

@test "stream_error: Anthropic sends an overloaded error event, no message_stop" {
	run hit /v1/messages "$ANT_STREAM" -H 'X-Fake: stream_error'
	assert_output 200
	assert_equal "$(sed -n 's/^event: //p' "$BATS_TEST_TMPDIR/body" | paste -sd' ')" \
		'message_start content_block_start ping content_block_delta content_block_delta error'
	assert_equal "$(sse_json | tail -n 1 | jq -c .)" '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
}

@test "stream_error: Gemini sends an UNAVAILABLE error chunk, SSE and JSON array" {
	run via marker stream_error "$GEM_MODEL:streamGenerateContent?alt=sse" "$GEM"
	assert_output 200
	sse_json | jq -s -e 'length == 3 and (.[0:2] | map(.candidates[0].content.parts[0].text) | join("")) == "Hello from"
		and .[2].error.code == 503 and .[2].error.status == "UNAVAILABLE"'
	run via marker stream_error "$GEM_MODEL:streamGenerateContent" "$GEM"
	body | jq -e 'length == 3 and .[2].error.status == "UNAVAILABLE"'
}

# ---- tool calls ----

@test "tool: OpenAI tool_calls and finish_reason tool_calls, from every source" {
	local src
	for src in queue header marker; do
		run via "$src" tool /v1/chat/completions "$OAI"
		assert_output 200
		body | jq -e '.choices[0].finish_reason == "tool_calls" and .choices[0].message.content == null
			and .choices[0].message.tool_calls == [{"id":"call_fake1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]'
	done
}

@test "tool=2: OpenAI stream sends each call's arguments in fragments with its index" {
	fake_next 'tool=2'
	run hit /v1/chat/completions "$OAI_STREAM"
	assert_output 200
	sse_json | grep -v '^\[DONE\]$' | jq -s -e '
		([.[] | .choices[0].delta.tool_calls // empty | .[]] | group_by(.index) | map({
			index: .[0].index, id: .[0].id, type: .[0].type, name: .[0].function.name,
			ids: (map(select(has("id"))) | length),
			frags: (map(select((.function.arguments // "") != "")) | length),
			args: (map(.function.arguments // "") | join("") | fromjson)}))
		== [{"index":0,"id":"call_fake1","type":"function","name":"get_weather","ids":1,"frags":2,"args":{"location":"Paris"}},
		    {"index":1,"id":"call_fake2","type":"function","name":"get_weather","ids":1,"frags":2,"args":{"location":"Tokyo"}}]
		and .[-1].choices[0].finish_reason == "tool_calls"
		and ([.[] | .choices[0].delta.content // empty | select(. != "")] == [])'
}

@test "tool: Anthropic tool_use blocks, JSON and stream with input_json_delta" {
	run hit /v1/messages "$ANT" -H 'X-Fake: tool=2'
	assert_output 200
	body | jq -e '.stop_reason == "tool_use" and .content == [
		{"type":"tool_use","id":"toolu_fake1","name":"get_weather","input":{"location":"Paris"}},
		{"type":"tool_use","id":"toolu_fake2","name":"get_weather","input":{"location":"Tokyo"}}]'
	run via marker tool /v1/messages "$ANT_STREAM"
	assert_output 200
	sse_json | jq -s -e '
		([.[] | select(.type == "content_block_start") | .content_block] == [{"type":"tool_use","id":"toolu_fake1","name":"get_weather","input":{}}])
		and ([.[] | select(.type == "content_block_delta") | .delta.type] | unique == ["input_json_delta"])
		and ([.[] | select(.type == "content_block_delta") | .delta.partial_json | select(. != "")] | length) >= 2
		and ([.[] | select(.type == "content_block_delta") | .delta.partial_json] | join("") | fromjson) == {"location":"Paris"}
		and (.[] | select(.type == "message_delta") | .delta.stop_reason) == "tool_use"'
}

@test "tool: Gemini whole functionCall parts without ids, finishReason STOP" {
	run via header 'tool=2' "$GEM_MODEL:generateContent" "$GEM"
	assert_output 200
	body | jq -e '[.candidates[0].content.parts[].functionCall] == [{"name":"get_weather","args":{"location":"Paris"}},{"name":"get_weather","args":{"location":"Tokyo"}}]
		and .candidates[0].finishReason == "STOP"'
	run via queue 'tool=2' "$GEM_MODEL:streamGenerateContent?alt=sse" "$GEM"
	sse_json | jq -s -e 'length == 2 and map(.candidates[0].content.parts[0].functionCall.args.location) == ["Paris", "Tokyo"]
		and map(.candidates[0].finishReason) == [null, "STOP"]'
}

# ---- reasoning ----

@test "reasoning: OpenAI reasoning_content before the text, 3 reasoning tokens" {
	run via queue reasoning /v1/chat/completions "$OAI"
	body | jq -e --arg t "$TEXT" '.choices[0].message.reasoning_content == "Let me think." and .choices[0].message.content == $t
		and .usage.completion_tokens == 8 and .usage.total_tokens == 20 and .usage.completion_tokens_details.reasoning_tokens == 3'
	run via header reasoning /v1/chat/completions "$OAI_STREAM_USAGE"
	sse_json | grep -v '^\[DONE\]$' | jq -s -e --arg t "$TEXT" '
		([.[] | .choices[0].delta.reasoning_content // empty] | join("")) == "Let me think."
		and ([.[] | .choices[0].delta.content // empty] | join("")) == $t
		and ([.[] | .choices[0].delta | has("reasoning_content")] | index(true)) < ([.[] | .choices[0].delta.content // "" | . != ""] | index(true))
		and .[-1].usage.completion_tokens_details.reasoning_tokens == 3'
}

@test "reasoning: Anthropic thinking block with thinking and signature deltas" {
	run via header reasoning /v1/messages "$ANT"
	body | jq -e '.content[0] == {"type":"thinking","thinking":"Let me think.","signature":"ZmFrZS1zaWduYXR1cmU="}
		and .content[1].type == "text" and .usage.output_tokens == 8'
	run via marker reasoning /v1/messages "$ANT_STREAM"
	sse_json | jq -s -e --arg t "$TEXT" '
		([.[] | select(.type == "content_block_start") | .content_block.type] == ["thinking", "text"])
		and ([.[] | select(.type == "content_block_delta" and .index == 0) | .delta.thinking // empty] | join("")) == "Let me think."
		and ([.[] | select(.type == "content_block_delta" and .index == 0) | .delta.type] | .[-1]) == "signature_delta"
		and ([.[] | select(.type == "content_block_delta" and .index == 1) | .delta.text] | join("")) == $t
		and (.[] | select(.type == "message_delta") | .usage.output_tokens) == 8'
}

@test "reasoning: Gemini thought part and thoughtsTokenCount" {
	run via marker reasoning "$GEM_MODEL:generateContent" "$GEM"
	body | jq -e --arg t "$TEXT" '.candidates[0].content.parts == [{"text":"Let me think.","thought":true},{"text":$t}]
		and .usageMetadata.thoughtsTokenCount == 3 and .usageMetadata.candidatesTokenCount == 5
		and .usageMetadata.totalTokenCount == 20'
	run via queue reasoning "$GEM_MODEL:streamGenerateContent?alt=sse" "$GEM"
	sse_json | jq -s -e --arg t "$TEXT" '
		([.[] | .candidates[0].content.parts[0] | select(.thought) | .text] | join("")) == "Let me think."
		and ([.[] | .candidates[0].content.parts[0] | select(.thought | not) | .text] | join("")) == $t
		and .[0].candidates[0].content.parts[0].thought == true'
}

# ---- reply, echo, nousage ----

@test "reply: replaces the text, streamed word by word, from every source" {
	local want='Bonjour  le monde !'
	run via queue "reply=$want" /v1/chat/completions "$OAI_STREAM"
	sse_json | grep -v '^\[DONE\]$' | jq -s -e --arg w "$want" '
		[.[] | .choices[0].delta.content // empty | select(. != "")] == ["Bonjour", "  le", " monde", " !"]
		and (map(.choices[0].delta.content // "") | join("")) == $w'
	run via header "reply=$want" /v1/messages "$ANT_STREAM"
	sse_json | jq -s -e --arg w "$want" '([.[] | select(.type == "content_block_delta") | .delta.text] | join("")) == $w'
	run via marker "reply=$want" "$GEM_MODEL:streamGenerateContent?alt=sse" "$GEM"
	sse_json | jq -s -e --arg w "$want" 'length == 4 and (map(.candidates[0].content.parts[0].text) | join("")) == $w'
	run via marker "reply=$want" "$GEM_MODEL:generateContent" "$GEM"
	body | jq -e --arg w "$want" '.candidates[0].content.parts[0].text == $w'
}

@test "echo: answers with the last user message's text in each dialect" {
	fake_next echo
	run hit /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"first"},{"role":"assistant","content":"x"},{"role":"user","content":[{"type":"text","text":"second "},{"type":"image_url","image_url":{"url":"data:,"}},{"type":"text","text":"part"}]}]}'
	body | jq -e '.choices[0].message.content == "Echo: second part"'
	run hit /v1/messages '{"model":"c","max_tokens":9,"system":"sys","messages":[{"role":"user","content":[{"type":"text","text":"hello claude"}]}]}' -H 'X-Fake: echo'
	body | jq -e '.content[0].text == "Echo: hello claude"'
	run via marker echo "$GEM_MODEL:streamGenerateContent?alt=sse" '{"contents":[{"role":"user","parts":[{"text":"Hi gemini"}]}]}'
	sse_json | jq -s -e '(map(.candidates[0].content.parts[0].text) | join("")) == "Echo: Hi [[fake:echo]] gemini"'
}

@test "nousage: no usage anywhere, in every dialect" {
	run via queue nousage /v1/chat/completions "$OAI"
	body | jq -e '.object == "chat.completion" and (has("usage") | not)'
	run via header nousage /v1/chat/completions "$OAI_STREAM_USAGE"
	run ! grep -q usage "$BATS_TEST_TMPDIR/body"
	assert_equal "$(sse_json | tail -n 1)" '[DONE]'
	run via marker nousage /v1/messages "$ANT_STREAM"
	run ! grep -q usage "$BATS_TEST_TMPDIR/body"
	run via header nousage /v1/messages "$ANT"
	body | jq -e '.type == "message" and (has("usage") | not)'
	run via marker nousage "$GEM_MODEL:streamGenerateContent?alt=sse" "$GEM"
	run ! grep -q usageMetadata "$BATS_TEST_TMPDIR/body"
	assert_equal "$(sse_json | jq -s -r '.[-1].candidates[0].finishReason')" STOP
}

# acct METHOD PATH [curl options...]: one account API call; prints the status.
acct() {
	local method=$1 path=$2
	shift 2
	curl -sS -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' -X "$method" -H 'Authorization: Bearer ar-admin-test' "$@" \
		"$FAKE_URL$path"
}

@test "account API: fixed balance, usage, transactions and keys; requests recorded; directives apply" {
	run acct GET /api/v1/balance
	assert_output 200
	body | jq -e '.data.total_credits == 25 and .data.total_usage == 3.5 and .data.balance == 21.5
		and .data.keys == [{"id":"gw000001","name":"hosted","budget":10,"spend":3.5,"remaining":6.5}]'
	fake_last_request | jq -e '.method == "GET" and .path == "/api/v1/balance" and .headers.authorization == "Bearer ar-admin-test"'
	run acct GET '/api/v1/usage?by=day&since=2026-01-01T00%3A00%3A00Z'
	assert_output 200
	body | jq -e '.data[0].group == "2026-01-01" and .totals.cost == 0.75 and (.totals | has("group") | not)'
	fake_last_request | jq -e '.query == "by=day&since=2026-01-01T00%3A00%3A00Z"'
	run acct GET /api/v1/transactions
	body | jq -e '.data == [] and .has_more == false and .next_cursor == null'
	run acct GET /api/v1/keys
	body | jq -e '.data | length == 1 and .[0].id == "gw000001" and .[0].revoked == false'
	run acct POST /api/v1/keys --data-binary '{"name":"ci"}'
	assert_output 201
	body | jq -e '.data.name == "ci" and .key == "ar-fake-0123456789abcdefghijklmnop"'
	fake_last_request | jq -e '.body == "{\"name\":\"ci\"}"'
	run acct PATCH /api/v1/keys/gw000001 --data-binary '{"rpm":5}'
	assert_output 200
	fake_last_request | jq -e '.method == "PATCH" and .body == "{\"rpm\":5}"'
	run acct DELETE /api/v1/keys/gw000001
	body | jq -e '.data.revoked == true and .data.revoked_at != null'
	run acct PUT /api/v1/keys
	assert_output 404
	body | jq -e '.error.message | startswith("fake upstream: no account endpoint PUT")'
	fake_next 'status=401'
	run acct GET /api/v1/keys
	assert_output 401
	body | jq -e '.error.message == "fake error 401"'
}

# ---- cut_deltas: a cut counted in content events ----

@test "cut_deltas: every dialect stops after N content events, with no terminator (curl 18)" {
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -X POST -H 'X-Fake: cut_deltas=2' --data-binary "$OAI_STREAM" \
		"$FAKE_URL/v1/chat/completions"
	# The role chunk, then "Hello" and " from".
	assert_equal "$(sse_json | jq -rj '.choices[0].delta.content // empty')" 'Hello from'
	assert_equal "$(grep -c '^data: ' "$BATS_TEST_TMPDIR/body")" 3
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -X POST --data-binary "${ANT_STREAM/Hi/Hi [[fake:cut_deltas=3]]}" \
		"$FAKE_URL/v1/messages"
	assert_equal "$(sed -n 's/^event: //p' "$BATS_TEST_TMPDIR/body" | paste -sd' ')" \
		'message_start content_block_start ping content_block_delta content_block_delta content_block_delta'
	assert_equal "$(sse_json | jq -rj '.delta.text // empty')" 'Hello from the'
	fake_next 'cut_deltas=1'
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -X POST --data-binary "$GEM" \
		"$FAKE_URL$GEM_MODEL:streamGenerateContent?alt=sse"
	assert_equal "$(sse_json | jq -rj '.candidates[0].content.parts[0].text')" 'Hello'
}

@test "cut_deltas: reasoning and tool-call deltas count; more than there are cuts after the last event" {
	fake_next 'reasoning;cut_deltas=1'
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -X POST --data-binary "$OAI_STREAM" "$FAKE_URL/v1/chat/completions"
	sse_json | jq -s -e 'length == 2 and .[1].choices[0].delta.reasoning_content == "Let"'
	fake_next 'tool;cut_deltas=2'
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -X POST --data-binary "$ANT_STREAM" "$FAKE_URL/v1/messages"
	assert_equal "$(sed -n 's/^event: //p' "$BATS_TEST_TMPDIR/body" | tail -n 1)" content_block_delta
	sse_json | jq -s -e '.[1].content_block.type == "tool_use" and .[-1].delta.type == "input_json_delta"'
	fake_next 'cut_deltas=99'
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -X POST --data-binary "$OAI_STREAM" "$FAKE_URL/v1/chat/completions"
	assert_equal "$(sse_json | tail -n 1)" '[DONE]'
}

@test "cut_deltas: ignored for a JSON answer (cut=N counts its bytes)" {
	run hit /v1/chat/completions "$OAI" -H 'X-Fake: cut_deltas=1'
	assert_output 200
	body | jq -e --arg t "$TEXT" '.choices[0].message.content == $t'
}

# ---- continuations: an assistant turn last gets the rest of the answer ----

# Conversations that end with the first words of the answer, per dialect.
OAI_PREFILL='{"model":"gpt-test","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello from the"}]}'
OAI_PREFIX='{"model":"gpt-test","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello from","prefix":true}]}'
OAI_ASK='{"model":"gpt-test","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},{"role":"user","content":"Your previous answer was cut off. Continue it exactly where it stopped, without repeating any of it and without any preamble."}]}'
ANT_PREFILL='{"model":"claude-test","max_tokens":64,"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":[{"type":"text","text":"Hello from the"}]}]}'
GEM_PREFILL='{"contents":[{"role":"user","parts":[{"text":"Hi"}]},{"role":"model","parts":[{"text":"Hello from the fake"}]}]}'

stream_body() { jq -c '. + {"stream": true}' <<<"$1"; }

@test "continuation: OpenAI answers only the rest, for a plain assistant turn, prefix:true and the cut-off prompt" {
	run hit /v1/chat/completions "$OAI_PREFILL"
	body | jq -e '.choices[0].message.content == " fake upstream." and .usage.completion_tokens == 2
		and .usage.prompt_tokens == 12 and .usage.total_tokens == 14'
	run hit /v1/chat/completions "$OAI_PREFIX"
	body | jq -e '.choices[0].message.content == " the fake upstream." and .usage.completion_tokens == 3'
	run hit /v1/chat/completions "$OAI_ASK"
	body | jq -e '.choices[0].message.content == " from the fake upstream." and .usage.completion_tokens == 4'
	# Streamed, with usage: the same tail word by word.
	run hit /v1/chat/completions "$(stream_body "$OAI_ASK" | jq -c '. + {"stream_options":{"include_usage":true}}')"
	assert_equal "$(sse_json | grep -v DONE | jq -rj '.choices[0].delta.content // empty')" ' from the fake upstream.'
	sse_json | grep -v DONE | jq -s -e '.[-1].usage.completion_tokens == 4 and .[-1].usage.total_tokens == 16'
	assert_equal "$(sse_json | tail -n 1)" '[DONE]'
}

@test "continuation: a user turn that is not the cut-off prompt, or a non-prefix, gets the whole answer" {
	run hit /v1/chat/completions "${OAI_ASK/Your previous answer was cut off/Go on}"
	body | jq -e --arg t "$TEXT" '.choices[0].message.content == $t and .usage.completion_tokens == 5'
	run hit /v1/chat/completions "${OAI_PREFILL/Hello from the/Goodbye}"
	body | jq -e --arg t "$TEXT" '.choices[0].message.content == $t and .usage.completion_tokens == 5'
	# Trailing whitespace on the prefill is not part of the match.
	run hit /v1/chat/completions "${OAI_PREFILL/Hello from the/Hello from the \\n}"
	body | jq -e '.choices[0].message.content == " fake upstream."'
}

@test "continuation: Anthropic prefill (text blocks or a string), JSON and stream" {
	run hit /v1/messages "$ANT_PREFILL"
	body | jq -e '.content == [{"type":"text","text":" fake upstream."}] and .usage.output_tokens == 2 and .usage.input_tokens == 10'
	run hit /v1/messages "$(jq -c '.messages[1].content = "Hello"' <<<"$ANT_PREFILL")"
	body | jq -e '.content[0].text == " from the fake upstream." and .usage.output_tokens == 4'
	run hit /v1/messages "$(stream_body "$ANT_PREFILL")"
	assert_equal "$(sse_json | jq -rj 'select(.type == "content_block_delta") | .delta.text')" ' fake upstream.'
	sse_json | jq -s -e 'map(select(.type == "message_delta"))[0].usage.output_tokens == 2 and .[-1].type == "message_stop"'
}

@test "continuation: Gemini model turn, JSON, SSE and the JSON-array stream" {
	run hit "$GEM_MODEL:generateContent" "$GEM_PREFILL"
	body | jq -e '.candidates[0].content.parts[0].text == " upstream." and .usageMetadata.candidatesTokenCount == 1
		and .usageMetadata.totalTokenCount == 13'
	run hit "$GEM_MODEL:streamGenerateContent?alt=sse" "$GEM_PREFILL"
	assert_equal "$(sse_json | jq -rj '.candidates[0].content.parts[0].text')" ' upstream.'
	sse_json | jq -s -e '.[-1].candidates[0].finishReason == "STOP" and .[-1].usageMetadata.candidatesTokenCount == 1'
	run hit "$GEM_MODEL:streamGenerateContent" "$GEM_PREFILL"
	body | jq -e '(map(.candidates[0].content.parts[0].text) | join("")) == " upstream."'
	# A user turn last is a new question, even after a model turn.
	run hit "$GEM_MODEL:generateContent" "$(jq -c '.contents += [{"role":"user","parts":[{"text":"again"}]}]' <<<"$GEM_PREFILL")"
	body | jq -e --arg t "$TEXT" '.candidates[0].content.parts[0].text == $t'
}

@test "continuation: echo answers the question before the continued turn; reply and cut_deltas apply to the tail" {
	run hit /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"say this"},{"role":"assistant","content":"Echo: say"}]}' -H 'X-Fake: echo'
	body | jq -e '.choices[0].message.content == " this"'
	run hit /v1/chat/completions "$OAI_PREFILL" -H 'X-Fake: reply=Hello from the other side'
	body | jq -e '.choices[0].message.content == " other side" and .usage.completion_tokens == 2'
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -X POST -H 'X-Fake: cut_deltas=1' \
		--data-binary "$(stream_body "$OAI_ASK")" "$FAKE_URL/v1/chat/completions"
	assert_equal "$(sse_json | jq -rj '.choices[0].delta.content // empty')" ' from'
}

@test "record: t_ms is a monotonic millisecond clock that tells how far apart requests came" {
	hit /v1/chat/completions "$OAI" >/dev/null
	sleep 0.3
	hit /v1/chat/completions "$OAI" >/dev/null
	fake_requests | jq -s -e '(.[1].t_ms - .[0].t_ms) as $d | all(.[]; .t_ms | type == "number") and $d >= 300 and $d < 5000'
}

@test "clean_end: a cut stream ends its HTTP response properly, still without the stream's terminator" {
	fake_next 'cut_deltas=2;clean_end'
	run curl -sS -N -o "$BATS_TEST_TMPDIR/body" -X POST --data-binary "$OAI_STREAM" "$FAKE_URL/v1/chat/completions"
	assert_success
	assert_equal "$(sse_json | jq -rj '.choices[0].delta.content // empty')" 'Hello from'
	run ! grep -q DONE "$BATS_TEST_TMPDIR/body"
	run curl -sS -N -o "$BATS_TEST_TMPDIR/body" -X POST -H 'X-Fake: cut=3;clean_end' --data-binary "$ANT_STREAM" "$FAKE_URL/v1/messages"
	assert_success
	assert_equal "$(sed -n 's/^event: //p' "$BATS_TEST_TMPDIR/body" | paste -sd' ')" 'message_start content_block_start ping'
	# Without a cut it changes nothing; a JSON body cut stays short.
	run hit /v1/chat/completions "$OAI_STREAM" -H 'X-Fake: clean_end'
	assert_equal "$(sse_json | tail -n 1)" '[DONE]'
	fake_next 'cut=20;clean_end'
	run -18 curl -sS -o /dev/null -X POST --data-binary "$OAI" "$FAKE_URL/v1/chat/completions"
}

# ---- faults of a hostile upstream ----

@test "huge_line=N: the first word is N bytes of x, one SSE line, in every dialect; a JSON body too" {
	run hit /v1/chat/completions "$OAI_STREAM" -H 'X-Fake: huge_line=100000'
	assert_output 200
	assert_equal "$(sse_json | jq -rj '.choices[0].delta.content // empty' | wc -c)" $((100000 + 24))
	assert_equal "$(sse_json | jq -rj '.choices[0].delta.content // empty' | tail -c 24)" ' from the fake upstream.'
	# One line carries the whole word.
	[[ $(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$BATS_TEST_TMPDIR/body") -gt 100000 ]]
	run hit /v1/messages "$ANT_STREAM" -H 'X-Fake: huge_line=5000'
	assert_equal "$(sed -n 's/^data: //p' "$BATS_TEST_TMPDIR/body" | jq -rj 'select(.type == "content_block_delta") | .delta.text' | wc -c)" $((5000 + 24))
	run hit "$GEM_MODEL:streamGenerateContent?alt=sse" "$GEM" -H 'X-Fake: huge_line=5000'
	assert_equal "$(sse_json | jq -rj '.candidates[0].content.parts[0].text' | wc -c)" $((5000 + 24))
	run hit /v1/chat/completions "$OAI" -H 'X-Fake: huge_line=7'
	body | jq -e '.choices[0].message.content == "xxxxxxx from the fake upstream."'
}

@test "bad_utf8: raw 0xff 0xfe after the first word, in JSON strings, streamed or not" {
	run hit /v1/chat/completions "$OAI" -H 'X-Fake: bad_utf8'
	assert_output 200
	grep -aq $'"Hello \xff\xfe from the fake upstream."' "$BATS_TEST_TMPDIR/body"
	run hit /v1/messages "$ANT_STREAM" -H 'X-Fake: bad_utf8'
	grep -aq $'"text":" \xff\xfe"' "$BATS_TEST_TMPDIR/body"
	run hit "$GEM_MODEL:generateContent" "$GEM" -H 'X-Fake: bad_utf8'
	grep -aq $'\xff\xfe from' "$BATS_TEST_TMPDIR/body"
}

@test "wrong_ctype: swap, text and none lie about the Content-Type; the body is unchanged" {
	run hit /v1/chat/completions "$OAI_STREAM" -H 'X-Fake: wrong_ctype'
	assert_equal "$(header Content-Type)" application/json
	assert_equal "$(sse_json | tail -n 1)" '[DONE]'
	run hit /v1/chat/completions "$OAI" -H 'X-Fake: wrong_ctype=swap'
	assert_equal "$(header Content-Type)" text/event-stream
	body | jq -e --arg t "$TEXT" '.choices[0].message.content == $t'
	run hit /v1/messages "$ANT" -H 'X-Fake: wrong_ctype=text'
	assert_equal "$(header Content-Type)" text/plain
	run hit /v1/messages "$ANT_STREAM" -H 'X-Fake: wrong_ctype=none'
	assert_equal "$(header Content-Type)" ''
	grep -q '^event: message_stop' "$BATS_TEST_TMPDIR/body"
	run hit /v1/messages "$ANT" -H 'X-Fake: wrong_ctype=none;wrong_ctype=off'
	assert_equal "$(header Content-Type)" application/json
}

@test "error_200: a 200 whose body is the dialect's error, also for a streamed request" {
	run hit /v1/chat/completions "$OAI_STREAM" -H 'X-Fake: error_200'
	assert_output 200
	assert_equal "$(header Content-Type)" application/json
	body | jq -e '.error.message == "fake error in a 200" and .error.type == "server_error"'
	run hit /v1/messages "$ANT" -H 'X-Fake: error_200'
	assert_output 200
	body | jq -e '.type == "error" and .error.type == "api_error"'
	run hit "$GEM_MODEL:streamGenerateContent?alt=sse" "$GEM" -H 'X-Fake: error_200'
	assert_output 200
	body | jq -e '.error.code == 500 and .error.status == "INTERNAL"'
}

@test "gzip: Content-Encoding gzip whatever was asked; JSON bodies and streams decode to the plain answer" {
	run hit /v1/chat/completions "$OAI" -H 'X-Fake: gzip' -H 'Accept-Encoding: identity'
	assert_output 200
	assert_equal "$(header Content-Encoding)" gzip
	gunzip -c "$BATS_TEST_TMPDIR/body" | jq -e --arg t "$TEXT" '.choices[0].message.content == $t'
	run hit /v1/messages "$ANT_STREAM" -H 'X-Fake: gzip'
	assert_equal "$(gunzip -c "$BATS_TEST_TMPDIR/body" | sed -n 's/^event: //p' | tail -n 1)" message_stop
	# A stream is one member, its events flushed as they go: curl decodes
	# each as it arrives.
	run curl -sS -N --compressed -o "$BATS_TEST_TMPDIR/body" -H 'X-Fake: gzip;drip=50' -d "$OAI_STREAM" "$FAKE_URL/v1/chat/completions"
	assert_success
	assert_equal "$(sse_json | jq -rj '.choices[0].delta.content // empty' 2>/dev/null; sse_json | tail -n 1)" "$TEXT[DONE]"
	# Cut, there is no gzip trailer: gunzip says so. With clean_end the
	# member ends properly, as the HTTP response does.
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -H 'X-Fake: gzip;cut_deltas=2' -d "$GEM" "$FAKE_URL$GEM_MODEL:streamGenerateContent?alt=sse"
	run ! gunzip -t "$BATS_TEST_TMPDIR/body"
	gunzip -c "$BATS_TEST_TMPDIR/body" 2>/dev/null | grep -q 'Hello'
	run hit "$GEM_MODEL:streamGenerateContent?alt=sse" "$GEM" -H 'X-Fake: gzip;cut_deltas=2;clean_end'
	gunzip -t "$BATS_TEST_TMPDIR/body"
}

@test "no_terminator: OpenAI without [DONE], Anthropic without message_stop, the HTTP response ended properly; Gemini unchanged" {
	run curl -sS -N -o "$BATS_TEST_TMPDIR/body" -H 'X-Fake: no_terminator' -d "$OAI_STREAM" "$FAKE_URL/v1/chat/completions"
	assert_success
	run ! grep -q DONE "$BATS_TEST_TMPDIR/body"
	sse_json | jq -s -e '.[-1].choices[0].finish_reason == "stop"'
	run curl -sS -N -o "$BATS_TEST_TMPDIR/body" -H 'X-Fake: no_terminator' -d "$ANT_STREAM" "$FAKE_URL/v1/messages"
	assert_success
	assert_equal "$(sed -n 's/^event: //p' "$BATS_TEST_TMPDIR/body" | tail -n 1)" message_delta
	run hit "$GEM_MODEL:streamGenerateContent?alt=sse" "$GEM" -H 'X-Fake: no_terminator'
	sse_json | jq -s -e '.[-1].candidates[0].finishReason == "STOP"'
}

@test "never_close: everything sent, terminator included, then the response stays open until the client leaves" {
	run -28 curl -sS -N --max-time 1 -o "$BATS_TEST_TMPDIR/body" -H 'X-Fake: never_close' -d "$OAI_STREAM" "$FAKE_URL/v1/chat/completions"
	assert_equal "$(sse_json | tail -n 1)" '[DONE]'
	fake_wait_event client_closed 3
	# A JSON body: whole, chunked, never the last chunk.
	run -28 curl -sS --max-time 1 -o "$BATS_TEST_TMPDIR/body" -H 'X-Fake: never_close' -d "$OAI" "$FAKE_URL/v1/chat/completions"
	body | jq -e --arg t "$TEXT" '.choices[0].message.content == $t'
	curl -sS "$FAKE_URL/_fake/health"
}

@test "reset: an RST where a cut would close; alone, after the second content event (or 20 bytes of JSON)" {
	run -56 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -H 'X-Fake: reset' -d "$OAI_STREAM" "$FAKE_URL/v1/chat/completions"
	assert_output --partial 'reset by peer'
	assert_equal "$(sse_json | jq -rj '.choices[0].delta.content // empty')" 'Hello from'
	run -56 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -H 'X-Fake: reset;cut=1' -d "$ANT_STREAM" "$FAKE_URL/v1/messages"
	assert_equal "$(sed -n 's/^event: //p' "$BATS_TEST_TMPDIR/body")" message_start
	run -56 curl -sS -o "$BATS_TEST_TMPDIR/body" -H 'X-Fake: reset' -d "$OAI" "$FAKE_URL/v1/chat/completions"
	assert_equal "$(wc -c < "$BATS_TEST_TMPDIR/body")" 20
	curl -sS "$FAKE_URL/_fake/health"
}

@test "fail_pct and --directive: a seeded share of requests cut mid-stream, the same ones on every run, each recorded" {
	local dir=$BATS_TEST_TMPDIR/pct run_ cuts=()
	for run_ in 1 2; do
		mkdir -p "$dir$run_"
		("$FAKE_BIN" --port-file "$dir$run_/port" --record "$dir$run_/rec" --directive 'fail_pct=30' --seed 7 \
			2> "$dir$run_/err" < /dev/null > /dev/null & echo $! > "$dir$run_/pid") 3>&-
		for _ in $(seq 50); do [[ -s $dir$run_/port ]] && break; sleep 0.1; done
		local url=http://127.0.0.1:$(< "$dir$run_/port") i done_=0
		for ((i = 0; i < 40; i++)); do
			curl -sS -N -d "$OAI_STREAM" "$url/v1/chat/completions" 2> /dev/null | grep -q DONE && done_=$((done_ + 1))
		done
		kill "$(< "$dir$run_/pid")"
		cuts+=("$(jq -c 'select(.event == "fail_pct") | .seq' "$dir$run_/rec" | paste -sd,)")
		local n
		n=$(jq -s 'map(select(.event == "fail_pct")) | length' "$dir$run_/rec")
		assert_equal $((40 - done_)) "$n"
		((n >= 4 && n <= 20)) || fail "$n of 40 cut at 30%"
	done
	assert_equal "${cuts[0]}" "${cuts[1]}"
	# A directive from a request still wins over --directive.
	fake_next 'fail_pct=100'
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -d "$OAI_STREAM" "$FAKE_URL/v1/chat/completions"
	assert_equal "$(sse_json | jq -rj '.choices[0].delta.content // empty')" 'Hello from'
	fake_next 'fail_pct=100;cut_deltas=1'
	run -18 curl -sS -N -o "$BATS_TEST_TMPDIR/body" -d "$OAI_STREAM" "$FAKE_URL/v1/chat/completions"
	assert_equal "$(sse_json | jq -rj '.choices[0].delta.content // empty')" 'Hello'
}

@test "redirect=URL: a 302 (or the status=3xx given) with Location, whatever the endpoint" {
	run hit /v1/chat/completions "$OAI" -H 'X-Fake: redirect=http://127.0.0.1:9/elsewhere'
	assert_output 302
	assert_equal "$(header Location)" http://127.0.0.1:9/elsewhere
	run hit /v1/messages "$ANT_STREAM" -H 'X-Fake: redirect=/v1/other;status=307'
	assert_output 307
	assert_equal "$(header Location)" /v1/other
}
