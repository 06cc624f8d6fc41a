#!/usr/bin/env bats
# `arouter chat` end to end against the fake upstream: the three dialects
# (request built, answer decoded, streamed or not), tool calls, usage,
# reasoning, errors and exit codes, the model grammar and backend choice,
# pipes, continuation, attachments, secrets and the offline mock.
# The interactive session (a pty) is tested elsewhere.

bats_require_minimum_version 1.5.0

setup_file() {
	load helper
	fake_start
}

teardown_file() {
	fake_stop
}

setup() {
	load helper
	isolate_env
	use_fake_for_all
	fake_reset
	# Keys recognisable enough to refute in any output.
	export OPENAI_API_KEY=sk-test-SECRET123456789
	export ANTHROPIC_API_KEY=sk-ant-test-SECRET223456789
	export GEMINI_API_KEY=AIza-test-SECRET323456789
}

ANSWER='Hello from the fake upstream.'
GATEWAY_KEY=ar-test-SECRET423456789
OPENAI=openai/gpt-4o
ANTHROPIC=anthropic/claude-sonnet-4-6
GOOGLE=google/gemini-2.5-flash

# ---- helpers ----

# Every run is bounded (124 means it hung) and never waits on the terminal.
chat() { timeout 30 "$AROUTER" chat "$@" < /dev/null; }
# pipe_chat INPUT ARGS...: INPUT arrives on a pipe.
pipe_chat() {
	local input=$1
	shift
	printf '%s' "$input" | timeout 30 "$AROUTER" chat "$@"
}

# cat_chat FILE ARGS...: FILE's bytes arrive on a pipe.
cat_chat() {
	local f=$1
	shift
	cat "$f" | timeout 30 "$AROUTER" chat "$@"
}

# The last recorded request's parsed body.
last_body() { fake_last_request | jq -c '.body | fromjson'; }

# assert_req [JQ-ARGS...] JQ: the last request record satisfies JQ.
assert_req() {
	local expr=${!#} r
	set -- "${@:1:$#-1}"
	r=$(fake_last_request)
	[[ -n "$r" ]] || fail "the fake upstream recorded no request"
	jq -e "$@" "$expr" > /dev/null <<< "$r" || fail "request fails: $expr"$'\n'"request: $r"
}

# assert_body [JQ-ARGS...] JQ: the last request body (parsed) satisfies JQ.
assert_body() {
	local expr=${!#} b
	set -- "${@:1:$#-1}"
	b=$(last_body) || fail "no request recorded, or its body is not JSON: $(fake_last_request)"
	[[ -n "$b" ]] || fail "the fake upstream recorded no request"
	jq -e "$@" "$expr" > /dev/null <<< "$b" || fail "body fails: $expr"$'\n'"body: $b"
}

# assert_out [JQ-ARGS...] JQ: stdout is JSON that satisfies JQ. (jq 1.6 -e
# exits 0 on empty input, so emptiness is checked first.)
assert_out() {
	local expr=${!#}
	set -- "${@:1:$#-1}"
	[[ -n "$output" ]] || fail "stdout is empty, not JSON"
	jq -e "$@" "$expr" > /dev/null <<< "$output" || fail "stdout fails: $expr"$'\n'"stdout: $output"
}

# The plain text of the last user turn of the last request, for any dialect:
# a string content, or the text parts joined with newlines.
JQ_USER_TEXT='
  def texts: if type == "string" then . else map(select(.type == "text") | .text) | join("\n") end;
  if has("contents") then
    [.contents[] | select(.role == "user")] | last | .parts | map(.text // empty) | join("\n")
  else
    [.messages[] | select(.role == "user")] | last | .content | texts
  end'
last_user_text() { last_body | jq -r "$JQ_USER_TEXT"; }

assert_requests() { assert_equal "$(fake_request_count)" "$1"; }

# stderr is exactly one line and starts "arouter: ".
assert_error_line() {
	[[ "$stderr" == "arouter: "* ]] || fail "stderr does not start with 'arouter: ': '$stderr'"
	[[ "$stderr" != *$'\n'* ]] || fail "stderr is more than one line: '$stderr'"
}

# assert_partial: stdout is a non-empty strict prefix of the default answer.
assert_partial() {
	[[ -n "$output" ]] || fail "no partial text on stdout"
	[[ "$output" != "$ANSWER" ]] || fail "the whole answer arrived; the stream was not cut"
	[[ "$ANSWER" == "$output"* ]] || fail "stdout '$output' is not a prefix of '$ANSWER'"
}

refute_secrets() {
	local s
	for s in SECRET123456789 SECRET223456789 SECRET323456789 SECRET423456789 SECRET523456789; do
		[[ "$output" != *"$s"* ]] || fail "a key (…$s) was printed to stdout: $output"
		[[ "${stderr:-}" != *"$s"* ]] || fail "a key (…$s) was printed to stderr: $stderr"
	done
}

# A 1x1 PNG header and a tiny PDF.
make_png() {
	printf '\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89' > "$1"
}
make_pdf() { printf '%%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%%%EOF\n' > "$1"; }
b64() { base64 -w0 < "$1"; }

# ==== OpenAI dialect ====

@test "openai: non-streaming answer is exact on stdout; request is a plain chat completion" {
	run --separate-stderr chat -m "$OPENAI" --no-stream "Say hi"
	assert_success
	assert_output "$ANSWER"
	assert_requests 1
	assert_req '.method == "POST" and .path == "/v1/chat/completions"'
	assert_req '.headers.authorization == "Bearer sk-test-SECRET123456789"'
	assert_req '.headers["content-type"] | startswith("application/json")'
	assert_body '.model == "gpt-4o"'
	assert_body '(.stream // false) == false'
	assert_body 'has("stream_options") | not'
	assert_body '.messages | length == 1'
	assert_body '.messages[0].role == "user"'
	[[ "$(last_user_text)" == "Say hi" ]] || fail "user text: $(last_user_text)"
}

@test "a libcurl that cannot be opened: one line with the reason, exit 7, nothing sent" {
	AROUTER_LIBCURL=/nonexistent/libcurl.so.4 run --separate-stderr chat -m "$OPENAI" --no-stream "Say hi"
	assert_failure 7
	assert_output ""
	assert_equal "$stderr" "arouter: openai: cannot load libcurl (AROUTER_LIBCURL): /nonexistent/libcurl.so.4: cannot open shared object file: No such file or directory"
	assert_requests 0
}

@test "openai: streaming answer is exact on stdout; stream and include_usage are requested" {
	run --separate-stderr chat -m "$OPENAI" "Say hi"
	assert_success
	assert_output "$ANSWER"
	assert_req '.path == "/v1/chat/completions"'
	assert_req '.headers.authorization == "Bearer sk-test-SECRET123456789"'
	assert_body '.model == "gpt-4o" and .stream == true'
	assert_body '.stream_options.include_usage == true'
	assert_body '.messages | length == 1 and .[0].role == "user"'
	[[ "$(last_user_text)" == "Say hi" ]] || fail "user text: $(last_user_text)"
}

@test "openai: stdout is the answer plus exactly one newline, with no escape codes" {
	timeout 30 "$AROUTER" chat -m "$OPENAI" "Say hi" < /dev/null > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err"
	printf '%s\n' "$ANSWER" | cmp - "$BATS_TEST_TMPDIR/out"
	run grep -l $'\e\\[' "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
	assert_failure 1
	timeout 30 "$AROUTER" chat --no-stream -m "$OPENAI" "Say hi" < /dev/null > "$BATS_TEST_TMPDIR/out"
	printf '%s\n' "$ANSWER" | cmp - "$BATS_TEST_TMPDIR/out"
	assert_requests 2
}

@test "the answer is written to a pipe as it streams, not when the stream ends" {
	# Nine events 1.5 s apart: the stream takes over 12 s. The first words
	# must reach stdout while the command is still running.
	fake_next drip=1500
	local out=$BATS_TEST_TMPDIR/out fifo=$BATS_TEST_TMPDIR/fifo pid catpid i alive=0
	mkfifo "$fifo"
	cat "$fifo" > "$out" 3>&- &
	catpid=$!
	"$AROUTER" chat -m "$OPENAI" "Say hi" < /dev/null > "$fifo" 2> /dev/null 3>&- &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s "$out" ]] && break
		sleep 0.1
	done
	kill -0 "$pid" 2> /dev/null && alive=1
	kill "$pid" 2> /dev/null || true
	wait "$pid" "$catpid" || true
	[[ -s "$out" ]] || fail "nothing on stdout within 10 s"
	(( alive )) || fail "stdout was written only after the command ended"
	[[ "$ANSWER" == "$(< "$out")"* ]] || fail "stdout: $(< "$out")"
}

@test "openai: -s becomes a leading system message" {
	run --separate-stderr chat -m "$OPENAI" -s "Be brief." "Say hi"
	assert_success
	assert_body '.messages | length == 2'
	assert_body '.messages[0].role == "system" and .messages[0].content == "Be brief."'
	assert_body '.messages[1].role == "user"'
	run --separate-stderr chat -m "$OPENAI" --system "Be terse." --no-stream "Say hi"
	assert_success
	assert_body '.messages[0] == {"role": "system", "content": "Be terse."}'
}

@test "openai: --temperature and --max-tokens are typed numbers in the body" {
	run --separate-stderr chat -m "$OPENAI" --temperature 0.3 --max-tokens 50 "Say hi"
	assert_success
	assert_body '.temperature == 0.3 and (.temperature | type) == "number"'
	assert_body '.max_tokens == 50 and (.max_tokens | type) == "number"'
}

@test "openai: -o KEY=VALUE sets any parameter with a typed value" {
	run --separate-stderr chat -m "$OPENAI" \
		-o top_p=0.9 -o seed=42 -o logprobs=true -o parallel_tool_calls=false \
		-o 'stop=["END","STOP"]' -o 'response_format={"type":"json_object"}' \
		-o user=alice -o 'safety_identifier=a=b' --option presence_penalty=-0.5 "Say hi"
	assert_success
	assert_body '.top_p == 0.9'
	assert_body '.seed == 42 and (.seed | type) == "number"'
	assert_body '.logprobs == true and .parallel_tool_calls == false'
	assert_body '.stop == ["END", "STOP"]'
	assert_body '.response_format == {"type": "json_object"}'
	assert_body '.user == "alice"'
	assert_body '.safety_identifier == "a=b"'
	assert_body '.presence_penalty == -0.5'
	assert_output "$ANSWER"
}

@test "-o parameters are translated for Anthropic and Gemini" {
	run --separate-stderr chat -m "$ANTHROPIC" -o top_p=0.5 -o 'stop=["END"]' "hi"
	assert_success
	assert_body '.top_p == 0.5 and .stop_sequences == ["END"]'
	assert_body 'has("stop") | not'
	run --separate-stderr chat -m "$GOOGLE" -o top_p=0.5 -o 'stop=["END"]' -o seed=7 "hi"
	assert_success
	assert_body '.generationConfig.topP == 0.5 and .generationConfig.stopSequences == ["END"] and .generationConfig.seed == 7'
	assert_body 'has("top_p") or has("stop") or has("seed") | not'
}

# ==== Anthropic dialect ====

@test "anthropic: non-streaming answer exact; /v1/messages with x-api-key and anthropic-version" {
	run --separate-stderr chat -m "$ANTHROPIC" --no-stream "Say hi"
	assert_success
	assert_output "$ANSWER"
	assert_requests 1
	assert_req '.method == "POST" and .path == "/v1/messages"'
	assert_req '.headers["x-api-key"] == "sk-ant-test-SECRET223456789"'
	assert_req '.headers["anthropic-version"] == "2023-06-01"'
	assert_req '.headers | has("authorization") | not'
	assert_body '.model == "claude-sonnet-4-6"'
	assert_body '(.max_tokens | type) == "number" and .max_tokens > 0'
	assert_body '(.stream // false) == false'
	assert_body 'has("stream_options") | not'
	assert_body '.messages | length == 1 and .[0].role == "user"'
	[[ "$(last_user_text)" == "Say hi" ]] || fail "user text: $(last_user_text)"
}

@test "anthropic: streaming answer exact on stdout; stream requested" {
	run --separate-stderr chat -m "$ANTHROPIC" "Say hi"
	assert_success
	assert_output "$ANSWER"
	assert_req '.path == "/v1/messages"'
	assert_body '.stream == true and .model == "claude-sonnet-4-6"'
	assert_body '(.max_tokens | type) == "number"'
	assert_body 'has("stream_options") | not'
}

@test "anthropic: -s is the top-level system field, not a message" {
	run --separate-stderr chat -m "$ANTHROPIC" -s "Be brief." "Say hi"
	assert_success
	assert_body '.system == "Be brief." or (.system | type == "array" and map(.text) == ["Be brief."])'
	assert_body '[.messages[].role] == ["user"]'
}

@test "anthropic: --max-tokens and --temperature map to max_tokens and temperature" {
	run --separate-stderr chat -m "$ANTHROPIC" --max-tokens 77 --temperature 0.5 "Say hi"
	assert_success
	assert_body '.max_tokens == 77 and .temperature == 0.5'
}

# ==== Gemini dialect ====

@test "google: non-streaming answer exact; model in the path, key in x-goog-api-key" {
	run --separate-stderr chat -m "$GOOGLE" --no-stream "Say hi"
	assert_success
	assert_output "$ANSWER"
	assert_requests 1
	assert_req '.method == "POST" and .path == "/v1beta/models/gemini-2.5-flash:generateContent"'
	assert_req '.headers["x-goog-api-key"] == "AIza-test-SECRET323456789"'
	assert_req '(.query // "") | test("key=") | not'
	assert_body 'has("messages") | not'
	assert_body '.contents | length == 1'
	assert_body '.contents[0].role == "user" and .contents[0].parts[0].text == "Say hi"'
}

@test "google: streaming uses :streamGenerateContent?alt=sse and the answer is exact" {
	run --separate-stderr chat -m "$GOOGLE" "Say hi"
	assert_success
	assert_output "$ANSWER"
	assert_req '.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"'
	assert_req '.query | test("(^|&)alt=sse(&|$)")'
	assert_req '.headers["x-goog-api-key"] == "AIza-test-SECRET323456789"'
	assert_body '.contents[0].role == "user" and .contents[0].parts[0].text == "Say hi"'
}

@test "google: -s is systemInstruction; sampling goes in generationConfig" {
	run --separate-stderr chat -m "$GOOGLE" -s "Be brief." --max-tokens 64 --temperature 0.2 "Say hi"
	assert_success
	assert_body '.systemInstruction.parts[0].text == "Be brief."'
	assert_body '[.contents[].role] == ["user"]'
	assert_body '.generationConfig.maxOutputTokens == 64'
	assert_body '.generationConfig.temperature == 0.2'
	assert_body 'has("max_tokens") or has("temperature") | not'
}

# ==== tool calls ====

@test "openai: a tool call is decoded into --json tool_calls (non-streaming)" {
	fake_next tool
	run --separate-stderr chat -m "$OPENAI" --no-stream --json "Weather in Paris?"
	assert_success
	assert_out '.object == "chat.completion"'
	assert_out '.choices[0].finish_reason == "tool_calls"'
	assert_out '.choices[0].message.tool_calls | length == 1'
	assert_out '.choices[0].message.tool_calls[0] | .id == "call_fake1" and .type == "function" and .function.name == "get_weather"'
	assert_out '.choices[0].message.tool_calls[0].function.arguments | fromjson == {"location": "Paris"}'
}

@test "openai: two parallel streamed tool calls are merged by index" {
	fake_next tool=2
	run --separate-stderr chat -m "$OPENAI" --json "Weather in Paris and Rome?"
	assert_success
	assert_out '.choices[0].finish_reason == "tool_calls"'
	assert_out '.choices[0].message.tool_calls | length == 2'
	assert_out '[.choices[0].message.tool_calls[].id] | .[0] == "call_fake1" and (unique | length) == 2'
	assert_out '[.choices[0].message.tool_calls[].function.name] == ["get_weather", "get_weather"]'
	assert_out '[.choices[0].message.tool_calls[].function.arguments | fromjson] == [{"location": "Paris"}, {"location": "Tokyo"}]'
}

@test "anthropic: tool_use blocks become tool_calls with their ids, streamed and not" {
	local mode
	for mode in --no-stream ""; do
		fake_next tool=2
		run --separate-stderr chat -m "$ANTHROPIC" $mode --json "Weather?"
		assert_success
		assert_out '.choices[0].finish_reason == "tool_calls"' || fail "finish_reason ($mode): $output"
		assert_out '.choices[0].message.tool_calls | length == 2' || fail "two calls ($mode): $output"
		assert_out '.choices[0].message.tool_calls[0] | .id == "toolu_fake1" and .type == "function" and .function.name == "get_weather"'
		assert_out '[.choices[0].message.tool_calls[].id] == ["toolu_fake1", "toolu_fake2"]'
		assert_out '[.choices[0].message.tool_calls[].function.arguments | fromjson] == [{"location": "Paris"}, {"location": "Tokyo"}]' ||
			fail "arguments ($mode): $output"
	done
}

@test "google: functionCall parts become tool_calls with synthesized ids and finish_reason tool_calls" {
	local mode
	for mode in --no-stream ""; do
		fake_next tool=2
		run --separate-stderr chat -m "$GOOGLE" $mode --json "Weather?"
		assert_success
		assert_out '.choices[0].finish_reason == "tool_calls"' || fail "finish_reason ($mode): $output"
		assert_out '.choices[0].message.tool_calls | length == 2'
		assert_out '.choices[0].message.tool_calls | all((.id | type == "string" and length > 0) and .function.name == "get_weather")'
		assert_out '[.choices[0].message.tool_calls[].id] | unique | length == 2'
		assert_out '[.choices[0].message.tool_calls[].function.arguments | fromjson] == [{"location": "Paris"}, {"location": "Tokyo"}]' ||
			fail "arguments ($mode): $output"
	done
}

# ==== usage and --json ====

@test "openai: -u prints prompt, completion and total tokens on stderr, not stdout" {
	run --separate-stderr chat -m "$OPENAI" -u "Say hi"
	assert_success
	assert_output "$ANSWER"
	[[ "$stderr" == *"12 prompt"* && "$stderr" == *"5 completion"* && "$stderr" == *17* ]] || fail "stderr: $stderr"
	run --separate-stderr chat -m "$OPENAI" --usage --no-stream "Say hi"
	assert_output "$ANSWER"
	[[ "$stderr" == *"12 prompt"* && "$stderr" == *"5 completion"* && "$stderr" == *17* ]] || fail "stderr: $stderr"
}

@test "anthropic and google: -u reports the same canonical usage, streamed and not" {
	local m mode
	for m in "$ANTHROPIC" "$GOOGLE"; do
		for mode in --no-stream ""; do
			run --separate-stderr chat -m "$m" $mode -u "Say hi"
			assert_success
			assert_output "$ANSWER"
			[[ "$stderr" == *"12 prompt"* && "$stderr" == *"5 completion"* && "$stderr" == *17* ]] ||
				fail "$m $mode stderr: $stderr"
		done
	done
}

@test "--json prints one canonical chat.completion with content, finish_reason, usage and model" {
	local m mode
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		for mode in --no-stream ""; do
			run --separate-stderr chat -m "$m" $mode --json "Say hi"
			assert_success
			assert_out 'type == "object"' || fail "$m $mode: not a JSON object: $output"
			assert_equal "$(jq -s length <<< "$output")" 1
			assert_out --arg a "$ANSWER" '.object == "chat.completion" and .choices[0].message.role == "assistant" and .choices[0].message.content == $a' ||
				fail "$m $mode content: $output"
			assert_out '.choices[0].finish_reason == "stop"' || fail "$m $mode finish: $output"
			assert_out '.usage.prompt_tokens == 12 and .usage.completion_tokens == 5 and .usage.total_tokens == 17' ||
				fail "$m $mode usage: $output"
			assert_out '.usage.prompt_tokens_details.cached_tokens == 2' || fail "$m $mode cached: $output"
			assert_out --arg m "${m#*/}" '.model | type == "string" and contains($m)' || fail "$m $mode model: $output"
		done
	done
}

@test "-u with an upstream that reports no usage still prints the answer and succeeds" {
	local m
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		fake_reset
		fake_next nousage
		run --separate-stderr chat -m "$m" -u "Say hi"
		assert_success
		assert_output "$ANSWER"
		assert_requests 1
		# no invented numbers
		[[ "$stderr" != *"12 prompt"* ]] || fail "$m: usage printed without usage: $stderr"
	done
}

@test "--no-stream and streaming print the same text for a custom reply" {
	local m
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		fake_next $'reply=Line one.\nLine "two" & <ünïcode> ✓ \\n'
		run --separate-stderr chat -m "$m" "Say hi"
		assert_success
		assert_output $'Line one.\nLine "two" & <ünïcode> ✓ \\n'
		fake_next $'reply=Line one.\nLine "two" & <ünïcode> ✓ \\n'
		run --separate-stderr chat -m "$m" --no-stream "Say hi"
		assert_success
		assert_output $'Line one.\nLine "two" & <ünïcode> ✓ \\n'
	done
}

# ==== reasoning ====

@test "reasoning is not printed at all without --show-reasoning" {
	local m mode
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		for mode in --no-stream ""; do
			fake_next reasoning
			run --separate-stderr chat -m "$m" $mode "Think"
			assert_success
			assert_output "$ANSWER"
			[[ "$stderr" != *"Let me think."* ]] || fail "$m $mode printed reasoning: $stderr"
			[[ "$output" != *"Let me think."* ]]
		done
	done
	assert_requests 6
}

@test "--show-reasoning prints reasoning on stderr and never on stdout" {
	local m mode
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		for mode in --no-stream ""; do
			fake_next reasoning
			run --separate-stderr chat -m "$m" $mode --show-reasoning "Think"
			assert_success
			assert_output "$ANSWER"
			[[ "$stderr" == *"Let me think."* ]] || fail "$m $mode: no reasoning on stderr: $stderr"
		done
	done
}

# ==== errors and exit codes ====

@test "401 and 403 upstream are auth errors (exit 4) in every dialect, not retried" {
	local m s
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		for s in 401 403; do
			fake_reset
			run --separate-stderr chat -m "$m" "[[fake:status=$s]] hi"
			assert_failure 4
			assert_error_line
			assert_output ""
			assert_requests 1
			refute_secrets
		done
	done
}

@test "a 401 names the provider and the key variable to fix" {
	local m var
	for m in "$OPENAI:OPENAI_API_KEY" "$ANTHROPIC:ANTHROPIC_API_KEY" "$GOOGLE:GEMINI_API_KEY"; do
		var=${m#*:}
		m=${m%%:*}
		run --separate-stderr chat -m "$m" "[[fake:status=401]] hi"
		assert_failure 4
		assert_error_line
		[[ "$stderr" == *"${m%%/*}"* ]] || fail "$m: provider not named: $stderr"
		[[ "$stderr" == *"$var"* ]] || fail "$m: $var not named: $stderr"
	done
}

@test "429 is a rate-limit error (exit 5) in every dialect, streamed and not" {
	local m mode
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		for mode in --no-stream ""; do
			run --separate-stderr chat -m "$m" $mode "[[fake:status=429]] hi"
			assert_failure 5
			assert_error_line
			assert_output ""
		done
	done
}

@test "429 with Retry-After says when to retry" {
	run --separate-stderr chat -m "$OPENAI" "[[fake:status=429;retry_after=1]] hi"
	assert_failure 5
	assert_error_line
	[[ "${stderr,,}" =~ retry.*1 ]] || fail "stderr: $stderr"
	run --separate-stderr chat -m "$ANTHROPIC" "[[fake:status=429;retry_after=1]] hi"
	assert_failure 5
	[[ "${stderr,,}" =~ retry.*1 ]] || fail "stderr: $stderr"
}

@test "other upstream statuses are upstream errors (exit 6) in every dialect" {
	local m s
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		for s in 400 404 500 503; do
			run --separate-stderr chat -m "$m" "[[fake:status=$s]] hi"
			assert_failure 6
			assert_error_line
			assert_output ""
		done
	done
}

@test "the upstream's error message and the provider reach the user, in every dialect" {
	# The fake's error bodies say "fake error NNN", each in its dialect's shape.
	local m
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		run --separate-stderr chat -m "$m" "[[fake:status=400]] hi"
		assert_failure 6
		assert_error_line
		[[ "$stderr" == *"fake error 400"* ]] || fail "$m: upstream message lost: $stderr"
		[[ "$stderr" == *"${m%%/*}"* ]] || fail "$m: provider not named: $stderr"
	done
}

@test "an HTML error page is reported readably (exit 6), never as HTML" {
	local m mode
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		for mode in --no-stream ""; do
			run --separate-stderr chat -m "$m" $mode "[[fake:html]] hi"
			assert_failure 6
			assert_error_line
			[[ "$stderr" != *"<"* ]] || fail "$m $mode: HTML on stderr: $stderr"
			[[ "${stderr,,}" != *doctype* ]]
			assert_output ""
		done
	done
}

@test "garbage instead of JSON or SSE is an upstream error (exit 6)" {
	local m mode
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		for mode in --no-stream ""; do
			run --separate-stderr chat -m "$m" $mode "[[fake:garbage]] hi"
			assert_failure 6
			assert_error_line
		done
	done
}

@test "connection refused is a network error (exit 7) in every dialect" {
	export AROUTER_OPENAI_BASE_URL=http://127.0.0.1:9
	export AROUTER_ANTHROPIC_BASE_URL=http://127.0.0.1:9
	export AROUTER_GOOGLE_BASE_URL=http://127.0.0.1:9
	local m
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		run --separate-stderr chat -m "$m" "hi"
		assert_failure 7
		assert_error_line
		assert_output ""
		[[ "$stderr" == *"${m%%/*}"* ]] || fail "$m: provider not named: $stderr"
	done
	assert_requests 0
}

@test "a stalled upstream times out with a network error instead of hanging" {
	export AROUTER_IDLE_TIMEOUT=1
	local m mode
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		for mode in --no-stream ""; do
			run --separate-stderr timeout 10 "$AROUTER" chat -m "$m" $mode "[[fake:stall=3000]] hi" < /dev/null
			assert_failure 7
			assert_error_line
			[[ "${stderr,,}" =~ time|within ]] || fail "$m $mode: stderr does not say it timed out: $stderr"
		done
	done
	(( $(fake_request_count) >= 6 )) || fail "the requests did not reach the fake"
}

@test "a slow but steady stream within the idle timeout succeeds" {
	export AROUTER_IDLE_TIMEOUT=2
	fake_next drip=300
	run --separate-stderr chat -m "$OPENAI" "Say hi"
	assert_success
	assert_output "$ANSWER"
	assert_requests 1
	assert_req '.path == "/v1/chat/completions"'
}

@test "AROUTER_TIMEOUT bounds the whole request even while bytes keep coming" {
	export AROUTER_TIMEOUT=1 AROUTER_IDLE_TIMEOUT=5
	run --separate-stderr timeout 10 "$AROUTER" chat -m "$OPENAI" "[[fake:drip=600]] hi" < /dev/null
	assert_failure 7
	assert_error_line
	[[ "${stderr,,}" =~ time|within ]] || fail "stderr: $stderr"
}

@test "a cut stream keeps the partial text on stdout and exits 7" {
	local m
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		fake_reset
		run --separate-stderr chat -m "$m" "[[fake:cut=4]] hi"
		assert_failure 7
		assert_partial
		assert_error_line
	done
}

@test "an error event inside a 200 stream fails the command, keeping the partial text" {
	# The fake sends two content deltas ("Hello", " from") then its dialect's
	# error event: OpenAI "fake stream error", Anthropic overloaded_error,
	# Gemini UNAVAILABLE "The model is overloaded".
	local m
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		run --separate-stderr chat -m "$m" "[[fake:stream_error]] hi"
		assert_failure
		(( status != 124 )) || fail "$m: hung"
		assert_error_line
		assert_output "Hello from"
		[[ "${stderr,,}" =~ "stream error"|overloaded ]] || fail "$m: upstream error not shown: $stderr"
	done
}

# ==== usage errors (2) and config errors (3) ====

@test "an empty prompt is a usage error (exit 2) and sends nothing" {
	run --separate-stderr chat -m "$OPENAI"
	assert_failure 2
	assert_error_line
	run --separate-stderr chat -m "$OPENAI" ""
	assert_failure 2
	run --separate-stderr pipe_chat "" -m "$OPENAI"
	assert_failure 2
	assert_requests 0
}

@test "an unknown option is a usage error (exit 2) with a suggestion" {
	run --separate-stderr chat -m "$OPENAI" --no-straem "hi"
	assert_failure 2
	assert_error_line
	[[ "$stderr" == *"--no-stream"* ]] || fail "stderr: $stderr"
	assert_requests 0
}

@test "-o without '=' is a usage error (exit 2)" {
	run --separate-stderr chat -m "$OPENAI" -o temperature "hi"
	assert_failure 2
	assert_error_line
	[[ "$stderr" == *temperature* ]] || fail "stderr: $stderr"
	assert_requests 0
}

@test "an unknown provider is a config error (exit 3) suggesting the closest slug" {
	run --separate-stderr chat -m opnai/gpt-4o "hi"
	assert_failure 3
	assert_error_line
	[[ "$stderr" == *"'openai'"* || "$stderr" == *" openai"* ]] || fail "stderr: $stderr"
	run --separate-stderr chat -m antropic/claude-sonnet-4-6 "hi"
	assert_failure 3
	[[ "$stderr" == *anthropic* ]] || fail "stderr: $stderr"
	assert_requests 0
}

@test "a missing provider key is a config error (exit 3) naming the variable" {
	unset ANTHROPIC_API_KEY
	run --separate-stderr chat -m "$ANTHROPIC" "hi"
	assert_failure 3
	assert_error_line
	[[ "$stderr" == *ANTHROPIC_API_KEY* ]] || fail "stderr: $stderr"
	unset GEMINI_API_KEY
	run --separate-stderr chat -m "$GOOGLE" "hi"
	assert_failure 3
	[[ "$stderr" == *GEMINI_API_KEY* ]] || fail "stderr: $stderr"
	assert_requests 0
}

@test "an empty model is a config error (exit 3)" {
	run --separate-stderr chat -m openai/ "hi"
	assert_failure 3
	assert_error_line
	run --separate-stderr chat -m 'openai/?temperature=1' "hi"
	assert_failure 3
	assert_requests 0
}

@test "a bare model name no provider claims is a config error (exit 3) showing the PROVIDER/ form" {
	run --separate-stderr chat -m llama3.2 "hi"
	assert_failure 3
	assert_error_line
	[[ "$stderr" == *"/llama3.2"* ]] || fail "stderr: $stderr"
	assert_requests 0
}

@test "a missing attachment fails before anything is sent, naming the file" {
	run --separate-stderr chat -m "$OPENAI" -a "$BATS_TEST_TMPDIR/nope.png" "hi"
	assert_failure
	(( status != 124 ))
	assert_error_line
	[[ "$stderr" == *nope.png* ]] || fail "stderr: $stderr"
	assert_requests 0
}

# ==== model grammar ====

@test "bare names infer the provider: gpt-, claude-, gemini-" {
	run --separate-stderr chat -m gpt-4o "hi"
	assert_success
	assert_req '.path == "/v1/chat/completions" and .headers.authorization == "Bearer sk-test-SECRET123456789"'
	assert_body '.model == "gpt-4o"'
	run --separate-stderr chat -m claude-sonnet-4-6 "hi"
	assert_success
	assert_req '.path == "/v1/messages"'
	assert_body '.model == "claude-sonnet-4-6"'
	run --separate-stderr chat -m gemini-2.5-flash --no-stream "hi"
	assert_success
	assert_req '.path == "/v1beta/models/gemini-2.5-flash:generateContent"'
	assert_output "$ANSWER"
}

@test "bare names infer OpenAI-compatible providers with their own keys and paths" {
	export DEEPSEEK_API_KEY=sk-ds-SECRET523456789 XAI_API_KEY=xai-SECRET523456789
	export MISTRAL_API_KEY=mis-SECRET523456789 MOONSHOT_API_KEY=moon-SECRET523456789
	run --separate-stderr chat -m deepseek-chat "hi"
	assert_success
	assert_output "$ANSWER"
	assert_req '.path == "/chat/completions" and .headers.authorization == "Bearer sk-ds-SECRET523456789"'
	assert_body '.model == "deepseek-chat"'
	run --separate-stderr chat -m grok-4 "hi"
	assert_success
	assert_req '.path == "/v1/chat/completions" and .headers.authorization == "Bearer xai-SECRET523456789"'
	assert_body '.model == "grok-4"'
	run --separate-stderr chat -m mistral-large-latest "hi"
	assert_success
	assert_req '.headers.authorization == "Bearer mis-SECRET523456789"'
	assert_body '.model == "mistral-large-latest"'
	run --separate-stderr chat -m kimi-k2 "hi"
	assert_success
	assert_req '.headers.authorization == "Bearer moon-SECRET523456789"'
	assert_body '.model == "kimi-k2"'
}

@test "openrouter:vendor/model posts to /api/v1/chat/completions with the model as given" {
	export OPENROUTER_API_KEY=sk-or-SECRET523456789
	run --separate-stderr chat -m openrouter:anthropic/claude-3-5-sonnet "hi"
	assert_success
	assert_output "$ANSWER"
	assert_req '.path == "/api/v1/chat/completions"'
	assert_req '.headers.authorization == "Bearer sk-or-SECRET523456789"'
	assert_body '.model == "anthropic/claude-3-5-sonnet" and .stream == true'
	assert_body '.messages[0].role == "user"'
}

@test "ollama:model needs no key and posts to /v1/chat/completions" {
	run --separate-stderr chat -m ollama:llama3.2 "hi"
	assert_success
	assert_output "$ANSWER"
	assert_req '.path == "/v1/chat/completions"'
	assert_body '.model == "llama3.2"'
	assert_req '(.headers.authorization // "") | contains("SECRET") | not'
}

@test "?k=v parameters on the model string are typed into the body" {
	run --separate-stderr chat -m "openai/gpt-4o?temperature=0.7&top_p=0.9&seed=7&logprobs=true&user=bob" "hi"
	assert_success
	assert_body '.model == "gpt-4o"'
	assert_body '.temperature == 0.7 and (.temperature | type) == "number"'
	assert_body '.top_p == 0.9 and .seed == 7 and .logprobs == true and .user == "bob"'
	run --separate-stderr chat -m "google/gemini-2.5-flash?temperature=0.7" "hi"
	assert_success
	assert_req '.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"'
	assert_body '.generationConfig.temperature == 0.7'
	run --separate-stderr chat -m "anthropic/claude-sonnet-4-6?temperature=0.4&max_tokens=99" "hi"
	assert_success
	assert_body '.model == "claude-sonnet-4-6" and .temperature == 0.4 and .max_tokens == 99'
	# As typed, not in json-c's 17 digits (0.40000000000000002).
	[[ $(fake_last_request | jq -r .body) == *'"temperature":0.4,'* ]] || fail "body: $(fake_last_request | jq -r .body)"
}

@test "--temperature nan, inf or 1e999 is a usage error (exit 2): JSON has no such numbers" {
	for v in nan inf -inf 1e999; do
		run --separate-stderr chat -m "$OPENAI" --temperature "$v" "hi"
		assert_failure 2
		assert_error_line
		[[ "$stderr" == *"--temperature takes a number"* ]] || fail "stderr for $v: $stderr"
	done
	assert_requests 0
}

@test "?stream=false on the model string turns streaming off" {
	run --separate-stderr chat -m "openai/gpt-4o?stream=false" "hi"
	assert_success
	assert_output "$ANSWER"
	assert_body '(.stream // false) == false and (has("stream_options") | not)'
}

@test "model_aliases rewrite the model before it is parsed" {
	export OPENROUTER_API_KEY=sk-or-SECRET523456789
	write_config <<- 'EOF'
	{"model_aliases": [
	  {"pattern": "^fast$", "replacement": "anthropic/claude-sonnet-4-6"},
	  {"pattern": "^gpt-(.*)", "replacement": "openrouter:openai/gpt-\\1"}
	]}
	EOF
	run --separate-stderr chat -m gpt-4o "hi"
	assert_success
	assert_req '.path == "/api/v1/chat/completions"'
	assert_body '.model == "openai/gpt-4o"'
	run --separate-stderr chat -m fast "hi"
	assert_success
	assert_req '.path == "/v1/messages"'
	assert_body '.model == "claude-sonnet-4-6"'
}

@test "model precedence: -m over AROUTER_MODEL over default_model" {
	write_config <<< '{"default_model": "anthropic/claude-sonnet-4-6"}'
	export AROUTER_MODEL=google/gemini-2.5-flash
	run --separate-stderr chat -m openai/gpt-4o "hi"
	assert_success
	assert_req '.path == "/v1/chat/completions"'
	assert_body '.model == "gpt-4o"'
	run --separate-stderr chat "hi"
	assert_success
	assert_req '.path | startswith("/v1beta/models/gemini-2.5-flash:")'
	unset AROUTER_MODEL
	run --separate-stderr chat "hi"
	assert_success
	assert_req '.path == "/v1/messages"'
	assert_body '.model == "claude-sonnet-4-6"'
	run --separate-stderr chat --model openai/gpt-4o-mini "hi"
	assert_body '.model == "gpt-4o-mini"'
}

# ==== backend choice ====

@test "auto backend with AROUTER_API_KEY goes through the gateway with the full provider/model" {
	export AROUTER_API_KEY=$GATEWAY_KEY
	run --separate-stderr chat -m "$ANTHROPIC" "hi"
	assert_success
	assert_output "$ANSWER"
	assert_requests 1
	assert_req '.path == "/v1/chat/completions"'
	assert_req '.headers.authorization == "Bearer ar-test-SECRET423456789"'
	assert_req '.headers | has("x-api-key") | not'
	assert_body '.model == "anthropic/claude-sonnet-4-6" and .stream == true'
	assert_body '.messages[0].role == "user"'
}

@test "the gateway speaks OpenAI for every provider, e.g. a Gemini model" {
	export AROUTER_API_KEY=$GATEWAY_KEY
	run --separate-stderr chat -m "$GOOGLE" -s "Be brief." --no-stream "hi"
	assert_success
	assert_output "$ANSWER"
	assert_req '.path == "/v1/chat/completions" and (.headers | has("x-goog-api-key") | not)'
	assert_body '.model == "google/gemini-2.5-flash"'
	assert_body '.messages[0] == {"role": "system", "content": "Be brief."}'
}

@test "through the gateway, --json and -u report usage" {
	export AROUTER_API_KEY=$GATEWAY_KEY
	run --separate-stderr chat -m "$ANTHROPIC" --json -u "hi"
	assert_success
	assert_out '.usage.prompt_tokens == 12 and .usage.completion_tokens == 5 and .usage.total_tokens == 17'
	assert_out --arg a "$ANSWER" '.choices[0].message.content == $a'
	[[ "$stderr" == *"12 prompt"* && "$stderr" == *"5 completion"* && "$stderr" == *17* ]] || fail "stderr: $stderr"
	assert_req '.path == "/v1/chat/completions"'
	assert_body '.stream_options.include_usage == true'
}

@test "AROUTER_DEFAULT_BACKEND=direct ignores the gateway key" {
	export AROUTER_API_KEY=$GATEWAY_KEY AROUTER_DEFAULT_BACKEND=direct
	run --separate-stderr chat -m "$ANTHROPIC" "hi"
	assert_success
	assert_req '.path == "/v1/messages" and .headers["x-api-key"] == "sk-ant-test-SECRET223456789"'
	assert_body '.model == "claude-sonnet-4-6"'
}

@test "default_backend gateway in config without a gateway key is a config error naming AROUTER_API_KEY" {
	write_config <<< '{"default_backend": "gateway"}'
	run --separate-stderr chat -m "$OPENAI" "hi"
	assert_failure 3
	assert_error_line
	[[ "$stderr" == *AROUTER_API_KEY* ]] || fail "stderr: $stderr"
	assert_requests 0
	export AROUTER_API_KEY=$GATEWAY_KEY
	run --separate-stderr chat -m "$OPENAI" "hi"
	assert_success
	assert_body '.model == "openai/gpt-4o"'
}

@test "default_backend naming a provider sends every model there as provider/model" {
	export OPENROUTER_API_KEY=sk-or-SECRET523456789
	write_config <<< '{"default_backend": "openrouter"}'
	run --separate-stderr chat -m "$ANTHROPIC" "hi"
	assert_success
	assert_req '.path == "/api/v1/chat/completions" and .headers.authorization == "Bearer sk-or-SECRET523456789"'
	assert_body '.model == "anthropic/claude-sonnet-4-6"'
}

@test "a backend: prefix wins over the gateway" {
	export AROUTER_API_KEY=$GATEWAY_KEY OPENROUTER_API_KEY=sk-or-SECRET523456789
	run --separate-stderr chat -m openrouter:meta-llama/llama-3.1-8b "hi"
	assert_success
	assert_req '.path == "/api/v1/chat/completions" and .headers.authorization == "Bearer sk-or-SECRET523456789"'
	assert_body '.model == "meta-llama/llama-3.1-8b"'
}

# ==== pipes ====

@test "piped stdin alone is the prompt" {
	run --separate-stderr pipe_chat $'What does this say?\nline two\n' -m "$OPENAI"
	assert_success
	assert_output "$ANSWER"
	[[ "$(last_user_text)" == $'What does this say?\nline two'* ]] || fail "user text: $(last_user_text)"
}

@test "args and piped stdin: the args, a blank line, then the piped text" {
	run --separate-stderr pipe_chat $'diff text\n+added line\n' -m "$OPENAI" "review this"
	assert_success
	assert_output "$ANSWER"
	local t
	t=$(last_user_text)
	[[ "$t" == $'review this\n\ndiff text\n+added line'* ]] || fail "user text: '$t'"
}

@test "pipes work in the Anthropic and Gemini dialects too" {
	run --separate-stderr pipe_chat 'piped body' -m "$ANTHROPIC" "summarize"
	assert_success
	[[ "$(last_user_text)" == $'summarize\n\npiped body'* ]] || fail "anthropic: $(last_user_text)"
	run --separate-stderr pipe_chat 'piped body' -m "$GOOGLE" "summarize"
	assert_success
	[[ "$(last_user_text)" == $'summarize\n\npiped body'* ]] || fail "google: $(last_user_text)"
}

@test "several prompt words are joined with spaces" {
	run --separate-stderr chat -m "$OPENAI" what is 2 + 2
	assert_success
	[[ "$(last_user_text)" == "what is 2 + 2" ]] || fail "user text: $(last_user_text)"
}

@test "a large piped input is sent whole" {
	head -c 300000 /dev/zero | tr '\0' 'x' > "$BATS_TEST_TMPDIR/big"
	printf '\nEND-OF-INPUT\n' >> "$BATS_TEST_TMPDIR/big"
	run --separate-stderr cat_chat "$BATS_TEST_TMPDIR/big" -m "$OPENAI" "count"
	assert_success
	local t
	t=$(last_user_text)
	(( ${#t} >= 300000 )) || fail "only ${#t} characters sent"
	[[ "$t" == *END-OF-INPUT* ]] || fail "the end of the input is missing"
}

@test "the echo reply shows exactly what was sent, end to end through a pipe" {
	run --separate-stderr pipe_chat 'from the pipe' -m "$ANTHROPIC" "[[fake:echo]]"
	assert_success
	assert_output $'Echo: [[fake:echo]]\n\nfrom the pipe'
	[[ "$output" != *$'\e['* && "$stderr" != *$'\e['* ]] || fail "escape codes in piped output"
}

@test "the answer keeps its own newlines and unicode on a pipe" {
	fake_next $'reply=first line\nsecond line ✓'
	run --separate-stderr pipe_chat 'x' -m "$OPENAI" "hi"
	assert_success
	assert_output $'first line\nsecond line ✓'
}

# ==== continuation ====

@test "-c continues the last conversation: the new request carries the previous turns" {
	run --separate-stderr chat -m "$OPENAI" "first question"
	assert_success
	fake_next 'reply=Second answer.'
	run --separate-stderr chat -m "$OPENAI" -c "second question"
	assert_success
	assert_output "Second answer."
	assert_body '[.messages[].role] == ["user", "assistant", "user"]'
	assert_body '.messages[0].content | tostring | contains("first question")'
	assert_body --arg a "$ANSWER" '.messages[1].content | tostring | contains($a)'
	assert_body '.messages[2].content | tostring | contains("second question")'
	# and again: the conversation grows
	run --separate-stderr chat -m "$OPENAI" --continue "third"
	assert_success
	assert_body '[.messages[].role] == ["user", "assistant", "user", "assistant", "user"]'
	assert_body '.messages[3].content | tostring | contains("Second answer.")'
}

@test "-c keeps the system prompt of the conversation's first turn in the new request" {
	run --separate-stderr chat -m "$OPENAI" -s "Be brief." "first"
	assert_success
	run --separate-stderr chat -m "$OPENAI" -c "second"
	assert_success
	assert_body '.messages[0].role == "system" and .messages[0].content == "Be brief."'
	assert_body '[.messages[].role] == ["system", "user", "assistant", "user"]'
}

@test "-c in the Anthropic and Gemini dialects alternates user and assistant/model turns" {
	run --separate-stderr chat -m "$ANTHROPIC" "first question"
	assert_success
	run --separate-stderr chat -m "$ANTHROPIC" -c "second question"
	assert_success
	assert_body '[.messages[].role] == ["user", "assistant", "user"]'
	assert_body --arg a "$ANSWER" '.messages[1].content | tostring | contains($a)'
	rm -rf "$XDG_STATE_HOME"
	run --separate-stderr chat -m "$GOOGLE" "first question"
	assert_success
	run --separate-stderr chat -m "$GOOGLE" -c "second question"
	assert_success
	assert_body '[.contents[].role] == ["user", "model", "user"]'
	assert_body --arg a "$ANSWER" '.contents[1].parts | map(.text // "") | join("") | contains($a)'
}

@test "--no-save leaves the last saved conversation as it was" {
	run --separate-stderr chat -m "$OPENAI" "alpha"
	assert_success
	run --separate-stderr chat -m "$OPENAI" --no-save "beta"
	assert_success
	run --separate-stderr chat -m "$OPENAI" -c "gamma"
	assert_success
	assert_body '.messages | length == 3'
	assert_body '.messages[0].content | tostring | contains("alpha")'
	assert_body '[.messages[].content | tostring | select(contains("beta"))] | length == 0'
}

@test "a failed request is not saved into the conversation" {
	run --separate-stderr chat -m "$OPENAI" "alpha"
	assert_success
	run --separate-stderr chat -m "$OPENAI" -c "[[fake:status=500]] broken"
	assert_failure 6
	run --separate-stderr chat -m "$OPENAI" -c "gamma"
	assert_success
	assert_body '[.messages[].role] == ["user", "assistant", "user"]'
	assert_body '[.messages[].content | tostring | select(contains("broken"))] | length == 0'
}

# ==== attachments ====

@test "openai: an image attachment is an image_url part with a data: URL" {
	make_png "$BATS_TEST_TMPDIR/dot.png"
	run --separate-stderr chat -m "$OPENAI" -a "$BATS_TEST_TMPDIR/dot.png" "Describe"
	assert_success
	assert_output "$ANSWER"
	assert_body '.messages[-1].role == "user" and (.messages[-1].content | type) == "array"'
	assert_body --arg u "data:image/png;base64,$(b64 "$BATS_TEST_TMPDIR/dot.png")" \
		'[.messages[-1].content[] | select(.type == "image_url") | .image_url.url] == [$u]'
	assert_body '[.messages[-1].content[] | select(.type == "text") | .text] | join(" ") | contains("Describe")'
}

@test "openai: a PDF attachment is a file part with file_data" {
	make_pdf "$BATS_TEST_TMPDIR/doc.pdf"
	run --separate-stderr chat -m "$OPENAI" --attach "$BATS_TEST_TMPDIR/doc.pdf" "Summarize"
	assert_success
	assert_body --arg u "data:application/pdf;base64,$(b64 "$BATS_TEST_TMPDIR/doc.pdf")" \
		'[.messages[-1].content[] | select(.type == "file") | .file.file_data] == [$u]'
}

@test "a text attachment is inlined into the user text in every dialect" {
	printf 'The secret number is 42.\n' > "$BATS_TEST_TMPDIR/notes.txt"
	local m
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		run --separate-stderr chat -m "$m" -a "$BATS_TEST_TMPDIR/notes.txt" "What is the number?"
		assert_success
		local t
		t=$(last_user_text)
		[[ "$t" == *"The secret number is 42."* ]] || fail "$m: file not inlined: $t"
		[[ "$t" == *"What is the number?"* ]] || fail "$m: prompt missing: $t"
		assert_body '[.. | objects | select(has("image_url") or has("inlineData") or .type == "image" or .type == "document")] | length == 0'
	done
}

@test "anthropic: image and PDF attachments become image and document blocks" {
	make_png "$BATS_TEST_TMPDIR/dot.png"
	make_pdf "$BATS_TEST_TMPDIR/doc.pdf"
	run --separate-stderr chat -m "$ANTHROPIC" -a "$BATS_TEST_TMPDIR/dot.png" -a "$BATS_TEST_TMPDIR/doc.pdf" "Both?"
	assert_success
	assert_body --arg d "$(b64 "$BATS_TEST_TMPDIR/dot.png")" \
		'[.messages[-1].content[] | select(.type == "image") | .source] == [{"type": "base64", "media_type": "image/png", "data": $d}]'
	assert_body --arg d "$(b64 "$BATS_TEST_TMPDIR/doc.pdf")" \
		'[.messages[-1].content[] | select(.type == "document") | .source | .type == "base64" and .media_type == "application/pdf" and .data == $d] == [true]'
	assert_body '[.messages[-1].content[] | select(.type == "text") | .text] | join(" ") | contains("Both?")'
}

@test "google: image and PDF attachments become inlineData parts" {
	make_png "$BATS_TEST_TMPDIR/dot.png"
	make_pdf "$BATS_TEST_TMPDIR/doc.pdf"
	run --separate-stderr chat -m "$GOOGLE" -a "$BATS_TEST_TMPDIR/dot.png" -a "$BATS_TEST_TMPDIR/doc.pdf" "Both?"
	assert_success
	assert_body --arg d "$(b64 "$BATS_TEST_TMPDIR/dot.png")" \
		'[.contents[-1].parts[] | select(.inlineData.mimeType == "image/png") | .inlineData.data] == [$d]'
	assert_body --arg d "$(b64 "$BATS_TEST_TMPDIR/doc.pdf")" \
		'[.contents[-1].parts[] | select(.inlineData.mimeType == "application/pdf") | .inlineData.data] == [$d]'
	assert_body '[.contents[-1].parts[] | .text // empty] | join(" ") | contains("Both?")'
}

@test "several attachments of mixed kinds arrive together with piped text" {
	make_png "$BATS_TEST_TMPDIR/a.png"
	printf 'alpha notes\n' > "$BATS_TEST_TMPDIR/a.txt"
	run --separate-stderr pipe_chat 'piped context' -m "$OPENAI" -a "$BATS_TEST_TMPDIR/a.png" -a "$BATS_TEST_TMPDIR/a.txt" "look"
	assert_success
	assert_body '[.messages[-1].content[] | select(.type == "image_url")] | length == 1'
	local t
	t=$(last_user_text)
	[[ "$t" == *look* && "$t" == *"alpha notes"* && "$t" == *"piped context"* ]] || fail "user text: $t"
}

# ==== secrets ====

@test "keys never appear in output, even with -v, in success and failure" {
	local m
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		run --separate-stderr timeout 30 "$AROUTER" -v -v chat -m "$m" "hi" < /dev/null
		assert_success
		refute_secrets
		run --separate-stderr timeout 30 "$AROUTER" chat -v -m "$m" "[[fake:status=401]] hi" < /dev/null
		assert_failure 4
		refute_secrets
	done
	export AROUTER_API_KEY=$GATEWAY_KEY
	run --separate-stderr timeout 30 "$AROUTER" -v chat -m "$OPENAI" --json -u "hi" < /dev/null
	assert_success
	refute_secrets
	run --separate-stderr timeout 30 "$AROUTER" -v chat -m "$OPENAI" "[[fake:status=403]] hi" < /dev/null
	assert_failure 4
	refute_secrets
}

@test "a provider key from the config file is used and never printed" {
	unset OPENAI_API_KEY
	write_config <<< '{"providers": {"openai": {"api_key": "sk-test-SECRET523456789"}}}'
	run --separate-stderr timeout 30 "$AROUTER" -v -v chat -m "$OPENAI" "hi" < /dev/null
	assert_success
	assert_output "$ANSWER"
	assert_req '.headers.authorization == "Bearer sk-test-SECRET523456789"'
	refute_secrets
}

@test "a missing-key error does not print the other keys that are set" {
	unset ANTHROPIC_API_KEY
	run --separate-stderr timeout 30 "$AROUTER" -v chat -m "$ANTHROPIC" "hi" < /dev/null
	assert_failure 3
	refute_secrets
}

# ==== the offline mock ====

@test "mock/echo answers offline, streamed and not, with no request" {
	run --separate-stderr chat -m mock/echo "hi there"
	assert_success
	assert_output "Echo: hi there"
	run --separate-stderr chat -m mock/echo --no-stream "hi there"
	assert_success
	assert_output "Echo: hi there"
	assert_requests 0
}

@test "mock/echo works with --json and pipes" {
	run --separate-stderr chat -m mock/echo --json "ping"
	assert_success
	assert_out '.object == "chat.completion" and .choices[0].message.content == "Echo: ping"'
	run --separate-stderr pipe_chat 'piped' -m mock/echo
	assert_success
	assert_output --partial "Echo: piped"
	assert_requests 0
}

@test "with no key at all, the mock answers and stderr says so" {
	unset OPENAI_API_KEY ANTHROPIC_API_KEY GEMINI_API_KEY
	run --separate-stderr chat -m "$OPENAI" "hello"
	assert_success
	assert_output "Echo: hello"
	[[ "${stderr,,}" == *mock* ]] || fail "stderr does not mention mock: $stderr"
	run --separate-stderr chat "hello again"
	assert_success
	assert_output "Echo: hello again"
	[[ "${stderr,,}" == *mock* ]] || fail "stderr does not mention mock: $stderr"
	assert_requests 0
}

@test "mock/echo works even when another key is set and the gateway is configured" {
	export AROUTER_API_KEY=$GATEWAY_KEY
	run --separate-stderr chat -m mock/echo "x"
	assert_success
	assert_output "Echo: x"
	assert_requests 0
}

# Regression: json-c 0.16 read the escaped surrogate pairs of U+1D800-1DFFF,
# U+2D800-2DFFF, ... as U+FFFD; Python servers escape everything past ASCII.
@test "characters past U+FFFF that the upstream sends \\u-escaped are printed whole, every dialect, streaming and not" {
	local want=$'H\u00e9 \U0001D800 \U0002D800 \U0001F600' m
	for m in "$OPENAI" "$ANTHROPIC" "$GOOGLE"; do
		for s in "" --no-stream; do
			fake_next "reply=$want;ascii"
			run --separate-stderr chat -m "$m" $s "hi"
			assert_success
			assert_output "$want"
		done
	done
}
