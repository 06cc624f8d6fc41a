#!/usr/bin/env bats
# `arouter proxy`: the full translation matrix.  Every client dialect
# (OpenAI /v1/chat/completions, Anthropic /v1/messages, Gemini
# /v1beta/models/{model}:generateContent) against every upstream dialect
# (openai/gpt-4o, anthropic/claude-x, google/gemini-2.5-flash), streaming and
# not; then tool calls, tool-result round trips, reasoning and in-stream
# errors.  Each test checks both sides: what the client received, in its own
# dialect, and what the fake upstream was sent, in the upstream's dialect.

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

ANSWER='Hello from the fake upstream.'
SYSTEM='You are terse.'
PROMPT='hi there'
MAXTOK=77
SIGNATURE='ZmFrZS1zaWduYXR1cmU=' # the fake's thinking / thoughtSignature

post() { curl -sS -H 'Content-Type: application/json' "$@"; }

# jq helpers shared by every filter: the text of an OpenAI/Anthropic content
# (a string or text parts) and of Gemini parts.
JQ_DEFS='
def txt: if type == "string" then . elif type == "array" then map(select((.type // "text") == "text") | .text // "") | join("") else "" end;
def gtxt: map(select(.thought != true) | .text // "") | join("");
'

# ---- request bodies, one per client dialect, each with a system prompt and a
# max-tokens value in that dialect's own form ----

oai_body() { # MODEL STREAM(true|false) [EXTRA-JSON]
	jq -cn --arg m "$1" --argjson s "$2" --arg sys "$SYSTEM" --arg u "$PROMPT" --argjson mt "$MAXTOK" --argjson x "${3:-"{}"}" \
		'{model: $m, max_tokens: $mt, messages: [{role: "system", content: $sys}, {role: "user", content: $u}]}
		 + (if $s then {stream: true, stream_options: {include_usage: true}} else {} end) + $x'
}

ant_body() { # MODEL STREAM [EXTRA-JSON]
	jq -cn --arg m "$1" --argjson s "$2" --arg sys "$SYSTEM" --arg u "$PROMPT" --argjson mt "$MAXTOK" --argjson x "${3:-"{}"}" \
		'{model: $m, max_tokens: $mt, system: $sys, messages: [{role: "user", content: $u}]}
		 + (if $s then {stream: true} else {} end) + $x'
}

gem_body() { # [EXTRA-JSON]
	jq -cn --arg sys "$SYSTEM" --arg u "$PROMPT" --argjson mt "$MAXTOK" --argjson x "${1:-"{}"}" \
		'{systemInstruction: {parts: [{text: $sys}]}, contents: [{role: "user", parts: [{text: $u}]}],
		  generationConfig: {maxOutputTokens: $mt}} + $x'
}

# gem_url MODEL STREAM: the model URL-encoded into the path.
gem_url() {
	local enc=${1//\//%2F}
	if [[ $2 == true ]]; then
		echo "$PROXY_URL/v1beta/models/$enc:streamGenerateContent?alt=sse"
	else
		echo "$PROXY_URL/v1beta/models/$enc:generateContent"
	fi
}

# ---- reading streams ----

# sse_json: the JSON payloads of the `data:` lines in $output ([DONE] dropped).
sse_json() { sed -n 's/^data: //p' <<< "$output" | tr -d '\r' | grep -v '^\[DONE\]$'; }
# sse_last_data: the last `data:` payload, verbatim.
sse_last_data() { sed -n 's/^data: //p' <<< "$output" | tr -d '\r' | tail -n 1; }
# ant_events: the event names in order, space-separated (with a trailing
# space); `ping` may come anywhere (wire-formats §2.5) and is left out.
ant_events() { sed -n 's/^event: //p' <<< "$output" | tr -d '\r' | grep -vx ping | tr '\n' ' '; }

# assert_ant_framing: every `data:` line follows an `event:` line whose name
# equals data.type.
assert_ant_framing() {
	local pairs bad
	pairs=$(awk '/^event: /{ev=substr($0,8); next} /^data: /{print (ev == "" ? "<none>" : ev) "\t" substr($0,7); ev=""}' <<< "$output" | tr -d '\r')
	[[ -n $pairs ]] || fail "no Anthropic events in: $output"
	bad=$(while IFS=$'\t' read -r ev data; do
		[[ $(jq -r '.type' <<< "$data") == "$ev" ]] || echo "event '$ev' carries data.type '$(jq -r '.type' <<< "$data")'"
	done <<< "$pairs")
	[[ -z $bad ]] || fail "$bad"
}

# assert_oai_done_last: the OpenAI stream's last data line is [DONE].
assert_oai_done_last() {
	[[ $(sse_last_data) == '[DONE]' ]] || fail "the stream does not end with data: [DONE]: $output"
}

# assert_gemini_framing: Gemini SSE has no event: lines and no [DONE].
assert_gemini_framing() {
	refute_output --partial 'event:'
	refute_output --partial '[DONE]'
	sse_json | jq -se 'length > 0 and all(type == "object")' > /dev/null || fail "not Gemini JSON chunks: $output"
}

# ---- what the upstream was sent ----

# assert_upstream UPSTREAM-MODEL STREAM: path, query and injected key for the
# upstream's dialect; the system prompt where that dialect wants it; the user
# text; the max-tokens field; and no client-side secret or foreign key.
assert_upstream() {
	local model=$1 stream=$2 req
	req=$(fake_last_request)
	[[ -n $req ]] || fail "the upstream received nothing"
	case $model in
	openai/*)
		jq -e '.path == "/v1/chat/completions" and .query == ""
			and .headers.authorization == "Bearer sk-test-OPENAI-SECRET-1234"
			and (.headers | has("x-api-key") | not) and (.headers | has("x-goog-api-key") | not)' <<< "$req" > /dev/null ||
			fail "OpenAI upstream: wrong path/query/auth: $req"
		jq -e --arg sys "$SYSTEM" --arg u "$PROMPT" --argjson mt "$MAXTOK" --argjson s "$stream" "$JQ_DEFS"'
			.body | fromjson | .model == "gpt-4o"
			and ((.stream // false) == $s)
			and ((.max_tokens // .max_completion_tokens) == $mt)
			and (.messages | length == 2)
			and (.messages[0].role == "system" or .messages[0].role == "developer") and (.messages[0].content | txt) == $sys
			and .messages[1].role == "user" and (.messages[1].content | txt) == $u' <<< "$req" > /dev/null ||
			fail "OpenAI upstream: wrong body: $(jq -r .body <<< "$req")"
		;;
	anthropic/*)
		jq -e '.path == "/v1/messages" and .query == ""
			and .headers["x-api-key"] == "sk-ant-SECRET-5678" and .headers["anthropic-version"] == "2023-06-01"
			and (.headers | has("authorization") | not) and (.headers | has("x-goog-api-key") | not)' <<< "$req" > /dev/null ||
			fail "Anthropic upstream: wrong path/query/auth: $req"
		jq -e --arg sys "$SYSTEM" --arg u "$PROMPT" --argjson mt "$MAXTOK" --argjson s "$stream" "$JQ_DEFS"'
			.body | fromjson | .model == "claude-x"
			and ((.stream // false) == $s)
			and .max_tokens == $mt
			and (.system | txt) == $sys
			and (.messages | length == 1)
			and .messages[0].role == "user" and (.messages[0].content | txt) == $u' <<< "$req" > /dev/null ||
			fail "Anthropic upstream: wrong body: $(jq -r .body <<< "$req")"
		;;
	google/*)
		local path=/v1beta/models/gemini-2.5-flash:generateContent query=
		if [[ $stream == true ]]; then
			path=/v1beta/models/gemini-2.5-flash:streamGenerateContent query=alt=sse
		fi
		jq -e --arg p "$path" --arg q "$query" '.path == $p and .query == $q
			and .headers["x-goog-api-key"] == "AIza-SECRET-9012"
			and (.headers | has("authorization") | not) and (.headers | has("x-api-key") | not)' <<< "$req" > /dev/null ||
			fail "Gemini upstream: wrong path/query/auth (want $path?$query): $req"
		jq -e --arg sys "$SYSTEM" --arg u "$PROMPT" --argjson mt "$MAXTOK" "$JQ_DEFS"'
			.body | fromjson
			| (.systemInstruction.parts | gtxt) == $sys
			and .generationConfig.maxOutputTokens == $mt
			and (.contents | length == 1)
			and ((.contents[0].role // "user") == "user") and (.contents[0].parts | gtxt) == $u' <<< "$req" > /dev/null ||
			fail "Gemini upstream: wrong body: $(jq -r .body <<< "$req")"
		;;
	esac
}

# ---- the 18 combinations, one function per client dialect and mode ----

oai_plain() { # UPSTREAM-MODEL
	run post "$PROXY_URL/v1/chat/completions" -d "$(oai_body "$1" false)"
	assert_success
	jq -e --arg a "$ANSWER" '.object == "chat.completion"
		and .choices[0].message.role == "assistant" and .choices[0].message.content == $a
		and .choices[0].finish_reason == "stop"
		and .usage.prompt_tokens == 12 and .usage.completion_tokens == 5 and .usage.total_tokens == 17' <<< "$output" > /dev/null ||
		fail "OpenAI client got: $output"
	assert_upstream "$1" false
}

oai_stream() {
	run post -N "$PROXY_URL/v1/chat/completions" -d "$(oai_body "$1" true)"
	assert_success
	assert_oai_done_last
	text=$(sse_json | jq -rj '.choices[0]?.delta.content // empty')
	assert_equal "$text" "$ANSWER"
	sse_json | jq -se 'all(.object == "chat.completion.chunk")
		and ([.[] | .choices[0]?.delta.role // empty] == ["assistant"])
		and ([.[] | .choices[0]?.finish_reason // empty] == ["stop"])
		and (map(select(.choices == [] and .usage != null)) | length == 1 and .[0].usage.total_tokens == 17
		     and .[0].usage.prompt_tokens == 12 and .[0].usage.completion_tokens == 5)' > /dev/null ||
		fail "OpenAI chunks wrong: $output"
	assert_upstream "$1" true
}

ant_plain() {
	run post "$PROXY_URL/v1/messages" -H 'anthropic-version: 2023-06-01' -d "$(ant_body "$1" false)"
	assert_success
	jq -e --arg a "$ANSWER" '.type == "message" and .role == "assistant"
		and (.content | length == 1) and .content[0].type == "text" and .content[0].text == $a
		and .stop_reason == "end_turn"
		and .usage.output_tokens == 5
		and .usage.input_tokens + (.usage.cache_read_input_tokens // 0) + (.usage.cache_creation_input_tokens // 0) == 12' <<< "$output" > /dev/null ||
		fail "Anthropic client got: $output"
	assert_upstream "$1" false
}

ant_stream() {
	run post -N "$PROXY_URL/v1/messages" -H 'anthropic-version: 2023-06-01' -d "$(ant_body "$1" true)"
	assert_success
	events=$(ant_events)
	[[ $events =~ ^message_start\ content_block_start\ (content_block_delta\ )+content_block_stop\ message_delta\ message_stop\ $ ]] ||
		fail "events: $events"
	assert_ant_framing
	text=$(sse_json | jq -rj 'select(.type == "content_block_delta") | .delta.text')
	assert_equal "$text" "$ANSWER"
	sse_json | jq -se '(map(select(.type == "message_start"))[0].message | .role == "assistant" and .content == [])
		and (map(select(.type == "content_block_start"))[0].content_block.type == "text")
		and (map(select(.type == "message_delta"))[0] | .delta.stop_reason == "end_turn" and .usage.output_tokens == 5)' > /dev/null ||
		fail "Anthropic events wrong: $output"
	assert_upstream "$1" true
}

gem_plain() {
	run post "$(gem_url "$1" false)" -d "$(gem_body)"
	assert_success
	jq -e --arg a "$ANSWER" "$JQ_DEFS"'(.candidates | length == 1)
		and .candidates[0].content.role == "model" and (.candidates[0].content.parts | gtxt) == $a
		and .candidates[0].finishReason == "STOP"
		and .usageMetadata.promptTokenCount == 12 and .usageMetadata.candidatesTokenCount == 5
		and .usageMetadata.totalTokenCount == 17' <<< "$output" > /dev/null ||
		fail "Gemini client got: $output"
	assert_upstream "$1" false
}

gem_stream() {
	run post -N "$(gem_url "$1" true)" -d "$(gem_body)"
	assert_success
	assert_gemini_framing
	text=$(sse_json | jq -rj '.candidates[0].content.parts[]? | select(.thought != true) | .text // empty')
	assert_equal "$text" "$ANSWER"
	sse_json | jq -se '(last | .candidates[0].finishReason == "STOP"
			and .usageMetadata.promptTokenCount == 12 and .usageMetadata.candidatesTokenCount == 5
			and .usageMetadata.totalTokenCount == 17)
		and (.[:-1] | all(.candidates[0].finishReason == null))' > /dev/null ||
		fail "Gemini chunks wrong: $output"
	assert_upstream "$1" true
}

@test "matrix: OpenAI client, OpenAI upstream, not streaming" { oai_plain openai/gpt-4o; }
@test "matrix: OpenAI client, OpenAI upstream, streaming" { oai_stream openai/gpt-4o; }
@test "matrix: OpenAI client, Anthropic upstream, not streaming" { oai_plain anthropic/claude-x; }
@test "matrix: OpenAI client, Anthropic upstream, streaming" { oai_stream anthropic/claude-x; }
@test "matrix: OpenAI client, Gemini upstream, not streaming" { oai_plain google/gemini-2.5-flash; }
@test "matrix: OpenAI client, Gemini upstream, streaming" { oai_stream google/gemini-2.5-flash; }
@test "matrix: Anthropic client, OpenAI upstream, not streaming" { ant_plain openai/gpt-4o; }
@test "matrix: Anthropic client, OpenAI upstream, streaming" { ant_stream openai/gpt-4o; }
@test "matrix: Anthropic client, Anthropic upstream, not streaming" { ant_plain anthropic/claude-x; }
@test "matrix: Anthropic client, Anthropic upstream, streaming" { ant_stream anthropic/claude-x; }
@test "matrix: Anthropic client, Gemini upstream, not streaming" { ant_plain google/gemini-2.5-flash; }
@test "matrix: Anthropic client, Gemini upstream, streaming" { ant_stream google/gemini-2.5-flash; }
@test "matrix: Gemini client, OpenAI upstream, not streaming" { gem_plain openai/gpt-4o; }
@test "matrix: Gemini client, OpenAI upstream, streaming" { gem_stream openai/gpt-4o; }
@test "matrix: Gemini client, Anthropic upstream, not streaming" { gem_plain anthropic/claude-x; }
@test "matrix: Gemini client, Anthropic upstream, streaming" { gem_stream anthropic/claude-x; }
@test "matrix: Gemini client, Gemini upstream, not streaming" { gem_plain google/gemini-2.5-flash; }
@test "matrix: Gemini client, Gemini upstream, streaming" { gem_stream google/gemini-2.5-flash; }

# ---- tool calls (fake_next tool=2: get_weather Paris, then Tokyo), streaming ----

# The ids the client must see: the upstream's own, or (Gemini sends none)
# any two distinct non-empty ones.
expected_ids() {
	case $1 in
	openai/*) echo '["call_fake1","call_fake2"]' ;;
	anthropic/*) echo '["toolu_fake1","toolu_fake2"]' ;;
	google/*) echo null ;;
	esac
}

JQ_IDS='def ids_ok($want): (length == 2) and all(type == "string" and length > 0) and (.[0] != .[1])
	and ($want == null or . == $want);'

# assert_upstream_tools UPSTREAM-MODEL: the get_weather declaration arrived in
# the upstream's own tool shape.
assert_upstream_tools() {
	local req
	req=$(fake_last_request)
	case $1 in
	openai/*) jq -e '.body | fromjson | .tools == [{"type":"function","function":{"name":"get_weather","description":"Get the weather","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}]' <<< "$req" > /dev/null ;;
	anthropic/*) jq -e '.body | fromjson | (.tools | length == 1) and .tools[0].name == "get_weather" and .tools[0].input_schema.properties.location.type == "string"' <<< "$req" > /dev/null ;;
	google/*) jq -e '.body | fromjson | (.tools[0].functionDeclarations | length == 1) and .tools[0].functionDeclarations[0].name == "get_weather"
		and ((.tools[0].functionDeclarations[0] | .parametersJsonSchema // .parameters).properties.location.type | ascii_downcase == "string")' <<< "$req" > /dev/null ;;
	esac || fail "upstream tools wrong: $(jq -r .body <<< "$req")"
}

oai_tools() {
	fake_next 'tool=2'
	run post -N "$PROXY_URL/v1/chat/completions" -d "$(oai_body "$1" true '{"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the weather","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}]}')"
	assert_success
	assert_oai_done_last
	# Reassemble like the SDK's accumulator: by tool_calls[].index.
	calls=$(sse_json | jq -sc '[.[] | .choices[0]?.delta.tool_calls // empty | .[]]
		| group_by(.index) | map({index: .[0].index, id: (map(.id // empty) | first), type: (map(.type // empty) | first),
		   name: (map(.function.name // empty) | first), arguments: (map(.function.arguments // "") | join(""))})')
	jq -e --argjson want "$(expected_ids "$1")" "$JQ_IDS"'(map(.index) == [0,1])
		and (map(.id) | ids_ok($want))
		and all(.type == "function" and .name == "get_weather")
		and (map(.arguments | fromjson) == [{"location":"Paris"},{"location":"Tokyo"}])' <<< "$calls" > /dev/null ||
		fail "OpenAI tool calls reassembled to: $calls"
	sse_json | jq -se '[.[] | .choices[0]?.finish_reason // empty] == ["tool_calls"]' > /dev/null || fail "finish_reason: $output"
	assert_upstream_tools "$1"
}

ant_tools() {
	fake_next 'tool=2'
	run post -N "$PROXY_URL/v1/messages" -d "$(ant_body "$1" true '{"tools":[{"name":"get_weather","description":"Get the weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}]}')"
	assert_success
	events=$(ant_events)
	[[ $events =~ ^message_start\ (content_block_start\ (content_block_delta\ )+content_block_stop\ ){2}message_delta\ message_stop\ $ ]] ||
		fail "events: $events"
	assert_ant_framing
	blocks=$(sse_json | jq -sc '. as $ev | [ $ev[] | select(.type == "content_block_start") | {index, block: .content_block} ]
		| map(. as $b | $b + {json: ([ $ev[] | select(.type == "content_block_delta" and .index == $b.index) | .delta ]
			| if all(.type == "input_json_delta") then map(.partial_json) | join("") else "NOT-JSON-DELTAS" end)})')
	jq -e --argjson want "$(expected_ids "$1")" "$JQ_IDS"'(map(.block.type) == ["tool_use","tool_use"])
		and (map(.index) == [0,1])
		and (map(.block.id) | ids_ok($want))
		and all(.block.name == "get_weather" and .block.input == {})
		and (map(.json | fromjson) == [{"location":"Paris"},{"location":"Tokyo"}])' <<< "$blocks" > /dev/null ||
		fail "tool_use blocks: $blocks"
	sse_json | jq -se 'map(select(.type == "message_delta"))[0] | .delta.stop_reason == "tool_use" and .usage.output_tokens == 5' > /dev/null ||
		fail "message_delta: $output"
	assert_upstream_tools "$1"
}

gem_tools() {
	fake_next 'tool=2'
	run post -N "$(gem_url "$1" true)" -d "$(gem_body '{"tools":[{"functionDeclarations":[{"name":"get_weather","description":"Get the weather","parameters":{"type":"OBJECT","properties":{"location":{"type":"STRING"}},"required":["location"]}}]}]}')"
	assert_success
	assert_gemini_framing
	calls=$(sse_json | jq -sc '[.[] | .candidates[0].content.parts[]? | .functionCall // empty]')
	jq -e '(length == 2) and all(.name == "get_weather") and (map(.args) == [{"location":"Paris"},{"location":"Tokyo"}])' <<< "$calls" > /dev/null ||
		fail "functionCall parts: $calls"
	# Gemini has no tool-use finish reason: a call still ends with STOP.
	sse_json | jq -se '(last | .candidates[0].finishReason == "STOP" and .usageMetadata.totalTokenCount == 17)
		and (.[:-1] | all(.candidates[0].finishReason == null))' > /dev/null || fail "finishReason: $output"
	assert_upstream_tools "$1"
}

@test "tools: OpenAI client, OpenAI upstream: tool_calls with ids and arguments" { oai_tools openai/gpt-4o; }
@test "tools: OpenAI client, Anthropic upstream: tool_calls with ids and arguments" { oai_tools anthropic/claude-x; }
@test "tools: OpenAI client, Gemini upstream: tool_calls with ids and arguments" { oai_tools google/gemini-2.5-flash; }
@test "tools: Anthropic client, OpenAI upstream: tool_use blocks with input_json_delta" { ant_tools openai/gpt-4o; }
@test "tools: Anthropic client, Anthropic upstream: tool_use blocks with input_json_delta" { ant_tools anthropic/claude-x; }
@test "tools: Anthropic client, Gemini upstream: tool_use blocks with input_json_delta" { ant_tools google/gemini-2.5-flash; }
@test "tools: Gemini client, OpenAI upstream: functionCall parts with args" { gem_tools openai/gpt-4o; }
@test "tools: Gemini client, Anthropic upstream: functionCall parts with args" { gem_tools anthropic/claude-x; }
@test "tools: Gemini client, Gemini upstream: functionCall parts with args" { gem_tools google/gemini-2.5-flash; }

# ---- a tool round trip: the history holds an assistant turn with two calls
# (get_weather Paris, get_time Tokyo) and both results; the upstream must get
# the results paired with their calls, and the client the answer ----

OAI_HISTORY='[
 {"role":"system","content":"You are terse."},
 {"role":"user","content":"weather in Paris and time in Tokyo?"},
 {"role":"assistant","content":null,"tool_calls":[
   {"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"},
    "extra_content":{"google":{"thought_signature":"ZmFrZS1zaWduYXR1cmU="}}},
   {"id":"call_def","type":"function","function":{"name":"get_time","arguments":"{\"location\":\"Tokyo\"}"}}]},
 {"role":"tool","tool_call_id":"call_abc","content":"14C and sunny"},
 {"role":"tool","tool_call_id":"call_def","content":"09:00 JST"}]'

ANT_HISTORY='[
 {"role":"user","content":"weather in Paris and time in Tokyo?"},
 {"role":"assistant","content":[
   {"type":"text","text":"Checking."},
   {"type":"tool_use","id":"toolu_abc","name":"get_weather","input":{"location":"Paris"}},
   {"type":"tool_use","id":"toolu_def","name":"get_time","input":{"location":"Tokyo"}}]},
 {"role":"user","content":[
   {"type":"tool_result","tool_use_id":"toolu_abc","content":"14C and sunny"},
   {"type":"tool_result","tool_use_id":"toolu_def","content":[{"type":"text","text":"09:00 JST"}]}]}]'

GEM_HISTORY='[
 {"role":"user","parts":[{"text":"weather in Paris and time in Tokyo?"}]},
 {"role":"model","parts":[
   {"functionCall":{"name":"get_weather","args":{"location":"Paris"}},"thoughtSignature":"ZmFrZS1zaWduYXR1cmU="},
   {"functionCall":{"name":"get_time","args":{"location":"Tokyo"}}}]},
 {"role":"user","parts":[
   {"functionResponse":{"name":"get_weather","response":{"output":"14C and sunny"}}},
   {"functionResponse":{"name":"get_time","response":{"output":"09:00 JST"}}}]}]'

# assert_upstream_tool_results UPSTREAM-MODEL ID1 ID2: the last three turns the
# upstream got are the user question, the assistant's two calls and the two
# results, paired by id (or, for Gemini, by function name and order).  ID1/ID2
# empty: any ids, as long as results match calls.
assert_upstream_tool_results() {
	local req body
	req=$(fake_last_request)
	body=$(jq -r .body <<< "$req")
	case $1 in
	openai/*)
		jq -e --arg i1 "$2" --arg i2 "$3" '.messages | map(select(.role != "system")) as $m
			| ($m | length == 4) and $m[0].role == "user"
			and $m[1].role == "assistant"
			and ($m[1].tool_calls | map(.function.name) == ["get_weather","get_time"])
			and ($m[1].tool_calls | map(.function.arguments | fromjson) == [{"location":"Paris"},{"location":"Tokyo"}])
			and ($m[1].tool_calls | map(.id) as $ids | ($ids[0] != $ids[1]) and ($i1 == "" or $ids == [$i1, $i2]))
			and $m[2].role == "tool" and $m[2].tool_call_id == $m[1].tool_calls[0].id
			and $m[3].role == "tool" and $m[3].tool_call_id == $m[1].tool_calls[1].id
			and ($m[2].content | tostring | contains("14C and sunny"))
			and ($m[3].content | tostring | contains("09:00 JST"))' <<< "$body" > /dev/null
		;;
	anthropic/*)
		jq -e --arg i1 "$2" --arg i2 "$3" '.messages as $m
			| ($m | length == 3) and $m[0].role == "user"
			and $m[1].role == "assistant"
			and ($m[1].content | map(select(.type == "tool_use")) | map(.name) == ["get_weather","get_time"])
			and ($m[1].content | map(select(.type == "tool_use")) | map(.input) == [{"location":"Paris"},{"location":"Tokyo"}])
			and ($m[1].content | map(select(.type == "tool_use") | .id) as $ids | ($ids[0] != $ids[1]) and ($i1 == "" or $ids == [$i1, $i2]))
			and $m[2].role == "user"
			and ($m[2].content[0].type == "tool_result") and ($m[2].content[1].type == "tool_result")
			and $m[2].content[0].tool_use_id == ($m[1].content | map(select(.type == "tool_use")))[0].id
			and $m[2].content[1].tool_use_id == ($m[1].content | map(select(.type == "tool_use")))[1].id
			and ($m[2].content[0].content | tostring | contains("14C and sunny"))
			and ($m[2].content[1].content | tostring | contains("09:00 JST"))' <<< "$body" > /dev/null
		;;
	google/*)
		jq -e '.contents as $c
			| ($c | length == 3) and (($c[0].role // "user") == "user")
			and $c[1].role == "model"
			and ($c[1].parts | map(.functionCall // empty) | map(.name) == ["get_weather","get_time"])
			and ($c[1].parts | map(.functionCall // empty) | map(.args) == [{"location":"Paris"},{"location":"Tokyo"}])
			and (($c[2].role // "user") == "user")
			and ($c[2].parts | length == 2)
			and ($c[2].parts | map(.functionResponse.name) == ["get_weather","get_time"])
			and ($c[2].parts | all(.functionResponse.response | type == "object"))
			and ($c[2].parts[0].functionResponse.response | tostring | contains("14C and sunny"))
			and ($c[2].parts[1].functionResponse.response | tostring | contains("09:00 JST"))' <<< "$body" > /dev/null
		;;
	esac || fail "upstream history wrong: $body"
}

@test "round trip: OpenAI client, OpenAI upstream: tool messages keep their tool_call_id" {
	run post "$PROXY_URL/v1/chat/completions" -d "{\"model\":\"openai/gpt-4o\",\"max_tokens\":$MAXTOK,\"messages\":$OAI_HISTORY}"
	assert_success
	jq -e --arg a "$ANSWER" '.choices[0].message.content == $a and .choices[0].finish_reason == "stop"' <<< "$output" > /dev/null || fail "$output"
	assert_upstream_tool_results openai/gpt-4o call_abc call_def
}

@test "round trip: OpenAI client, Anthropic upstream: tool_result blocks first in the user turn, ids matching" {
	run post "$PROXY_URL/v1/chat/completions" -d "{\"model\":\"anthropic/claude-x\",\"max_tokens\":$MAXTOK,\"messages\":$OAI_HISTORY}"
	assert_success
	jq -e --arg a "$ANSWER" '.choices[0].message.content == $a and .choices[0].finish_reason == "stop"' <<< "$output" > /dev/null || fail "$output"
	assert_upstream_tool_results anthropic/claude-x call_abc call_def
}

@test "round trip: OpenAI client, Gemini upstream: functionResponse named after the call, signature replayed" {
	run post "$PROXY_URL/v1/chat/completions" -d "{\"model\":\"google/gemini-2.5-flash\",\"max_tokens\":$MAXTOK,\"messages\":$OAI_HISTORY}"
	assert_success
	jq -e --arg a "$ANSWER" '.choices[0].message.content == $a and .choices[0].finish_reason == "stop"' <<< "$output" > /dev/null || fail "$output"
	assert_upstream_tool_results google/gemini-2.5-flash
	# The signature handed out as extra_content comes back on the same call.
	fake_last_request | jq -e --arg sig "$SIGNATURE" '.body | fromjson | .contents[1].parts[0].thoughtSignature == $sig' > /dev/null ||
		fail "thoughtSignature not replayed: $(fake_last_request | jq -r .body)"
}

@test "round trip: Anthropic client, OpenAI upstream: tool messages with tool_call_id = tool_use_id" {
	run post "$PROXY_URL/v1/messages" -d "{\"model\":\"openai/gpt-4o\",\"max_tokens\":$MAXTOK,\"messages\":$ANT_HISTORY}"
	assert_success
	jq -e --arg a "$ANSWER" '.content == [{"type":"text","text":$a}] and .stop_reason == "end_turn"' <<< "$output" > /dev/null || fail "$output"
	assert_upstream_tool_results openai/gpt-4o toolu_abc toolu_def
}

@test "round trip: Anthropic client, Anthropic upstream: tool_result blocks first, ids matching" {
	run post "$PROXY_URL/v1/messages" -d "{\"model\":\"anthropic/claude-x\",\"max_tokens\":$MAXTOK,\"messages\":$ANT_HISTORY}"
	assert_success
	jq -e --arg a "$ANSWER" '.content == [{"type":"text","text":$a}] and .stop_reason == "end_turn"' <<< "$output" > /dev/null || fail "$output"
	assert_upstream_tool_results anthropic/claude-x toolu_abc toolu_def
}

@test "round trip: Anthropic client, Gemini upstream: functionResponse named after the tool_use" {
	run post "$PROXY_URL/v1/messages" -d "{\"model\":\"google/gemini-2.5-flash\",\"max_tokens\":$MAXTOK,\"messages\":$ANT_HISTORY}"
	assert_success
	jq -e --arg a "$ANSWER" '.content == [{"type":"text","text":$a}] and .stop_reason == "end_turn"' <<< "$output" > /dev/null || fail "$output"
	assert_upstream_tool_results google/gemini-2.5-flash
}

@test "round trip: Gemini client, OpenAI upstream: synthesized call ids paired with the tool messages" {
	run post "$(gem_url openai/gpt-4o false)" -d "{\"contents\":$GEM_HISTORY,\"generationConfig\":{\"maxOutputTokens\":$MAXTOK}}"
	assert_success
	jq -e --arg a "$ANSWER" '.candidates[0].content.parts[0].text == $a and .candidates[0].finishReason == "STOP"' <<< "$output" > /dev/null || fail "$output"
	assert_upstream_tool_results openai/gpt-4o
}

@test "round trip: Gemini client, Anthropic upstream: synthesized tool_use ids paired with tool_result blocks" {
	run post "$(gem_url anthropic/claude-x false)" -d "{\"contents\":$GEM_HISTORY,\"generationConfig\":{\"maxOutputTokens\":$MAXTOK}}"
	assert_success
	jq -e --arg a "$ANSWER" '.candidates[0].content.parts[0].text == $a and .candidates[0].finishReason == "STOP"' <<< "$output" > /dev/null || fail "$output"
	assert_upstream_tool_results anthropic/claude-x
}

@test "round trip: Gemini client, Gemini upstream: functionResponse and thoughtSignature kept" {
	run post "$(gem_url google/gemini-2.5-flash false)" -d "{\"contents\":$GEM_HISTORY,\"generationConfig\":{\"maxOutputTokens\":$MAXTOK}}"
	assert_success
	jq -e --arg a "$ANSWER" '.candidates[0].content.parts[0].text == $a and .candidates[0].finishReason == "STOP"' <<< "$output" > /dev/null || fail "$output"
	assert_upstream_tool_results google/gemini-2.5-flash
	fake_last_request | jq -e --arg sig "$SIGNATURE" '.body | fromjson | .contents[1].parts[0].thoughtSignature == $sig' > /dev/null ||
		fail "thoughtSignature not replayed: $(fake_last_request | jq -r .body)"
}

# ---- reasoning (fake_next reasoning: "Let me think." before the answer;
# completion 8 of which 3 reasoning, total 20) ----

oai_reasoning() { # UPSTREAM-MODEL
	fake_next reasoning
	run post "$PROXY_URL/v1/chat/completions" -d "$(oai_body "$1" false)"
	assert_success
	jq -e --arg a "$ANSWER" '.choices[0].message.content == $a and .choices[0].message.reasoning_content == "Let me think."
		and .usage.completion_tokens == 8 and .usage.total_tokens == 20' <<< "$output" > /dev/null || fail "not streaming: $output"
	fake_next reasoning
	run post -N "$PROXY_URL/v1/chat/completions" -d "$(oai_body "$1" true)"
	assert_success
	assert_oai_done_last
	assert_equal "$(sse_json | jq -rj '.choices[0]?.delta.reasoning_content // empty')" 'Let me think.'
	assert_equal "$(sse_json | jq -rj '.choices[0]?.delta.content // empty')" "$ANSWER"
	# Reasoning comes first, and never leaks into content.
	sse_json | jq -se '[.[] | .choices[0]?.delta | select(. != null) | if .reasoning_content then "r" elif ((.content // "") != "") then "c" else empty end]
		| join("") | test("^r+c+$")' > /dev/null || fail "order: $output"
	sse_json | jq -se 'map(select(.choices == [] and .usage != null))[0].usage | .completion_tokens == 8 and .total_tokens == 20' > /dev/null ||
		fail "usage: $output"
}

ant_reasoning() {
	local thinking='{"thinking":{"type":"enabled","budget_tokens":1024},"max_tokens":2048}'
	fake_next reasoning
	run post "$PROXY_URL/v1/messages" -d "$(ant_body "$1" false "$thinking")"
	assert_success
	jq -e --arg a "$ANSWER" '(.content | map(.type) == ["thinking","text"])
		and .content[0].thinking == "Let me think." and (.content[0] | has("signature"))
		and .content[1].text == $a and .stop_reason == "end_turn" and .usage.output_tokens == 8' <<< "$output" > /dev/null ||
		fail "not streaming: $output"
	fake_next reasoning
	run post -N "$PROXY_URL/v1/messages" -d "$(ant_body "$1" true "$thinking")"
	assert_success
	events=$(ant_events)
	[[ $events =~ ^message_start\ (content_block_start\ (content_block_delta\ )+content_block_stop\ ){2}message_delta\ message_stop\ $ ]] ||
		fail "events: $events"
	assert_ant_framing
	sse_json | jq -se --arg a "$ANSWER" '. as $ev
		| ([ $ev[] | select(.type == "content_block_start") | .content_block.type ] == ["thinking","text"])
		and ([ $ev[] | select(.type == "content_block_start") | .index ] == [0,1])
		and ([ $ev[] | select(.type == "content_block_delta" and .index == 0 and .delta.type == "thinking_delta") | .delta.thinking ] | join("")) == "Let me think."
		and ([ $ev[] | select(.type == "content_block_delta" and .index == 0) | .delta.type ] | all(. == "thinking_delta" or . == "signature_delta"))
		and ([ $ev[] | select(.type == "content_block_delta" and .index == 1) | .delta | select(.type == "text_delta") | .text ] | join("")) == $a
		and (map(select(.type == "message_delta"))[0] | .delta.stop_reason == "end_turn" and .usage.output_tokens == 8)' > /dev/null ||
		fail "stream: $output"
}

@test "reasoning: OpenAI client, Anthropic upstream: reasoning_content, streaming and not" {
	oai_reasoning anthropic/claude-x
	# The thinking budget the client did not ask for is not invented.
	fake_last_request | jq -e '.body | fromjson | has("thinking") | not' > /dev/null
}

@test "reasoning: OpenAI client, Gemini upstream: reasoning_content and reasoning_tokens" {
	oai_reasoning google/gemini-2.5-flash
	fake_next reasoning
	run post "$PROXY_URL/v1/chat/completions" -d "$(oai_body google/gemini-2.5-flash false)"
	assert_success
	jq -e '.usage.completion_tokens_details.reasoning_tokens == 3' <<< "$output" > /dev/null || fail "$output"
}

@test "reasoning: Anthropic client, Anthropic upstream: a thinking block, streaming and not" {
	ant_reasoning anthropic/claude-x
	fake_last_request | jq -e '.body | fromjson | .thinking == {"type":"enabled","budget_tokens":1024} and .max_tokens == 2048' > /dev/null ||
		fail "thinking not forwarded: $(fake_last_request | jq -r .body)"
}

@test "reasoning: Anthropic client, Gemini upstream: a thinking block, streaming and not" {
	ant_reasoning google/gemini-2.5-flash
	fake_last_request | jq -e '.body | fromjson | .generationConfig.thinkingConfig.includeThoughts == true
		and .generationConfig.thinkingConfig.thinkingBudget == 1024 and .generationConfig.maxOutputTokens == 2048' > /dev/null ||
		fail "thinkingConfig: $(fake_last_request | jq -r .body)"
}

# ---- in-stream errors (fake_next stream_error: two content deltas, then the
# upstream dialect's error event) ----

upstream_error_text() {
	case $1 in
	openai/*) echo 'fake stream error' ;;
	anthropic/*) echo 'Overloaded' ;;
	google/*) echo 'The model is overloaded' ;;
	esac
}

oai_stream_error() {
	fake_next stream_error
	run post -N "$PROXY_URL/v1/chat/completions" -d "$(oai_body "$1" true)"
	assert_success
	assert_equal "$(sse_json | jq -rj '.choices[0]?.delta.content // empty')" 'Hello from'
	sse_json | jq -se --arg msg "$(upstream_error_text "$1")" '
		(map(select(.error != null)) | length >= 1)
		and (last | .error | (.message | type == "string" and contains($msg)) and (.type | type == "string"))
		and ([.[] | .choices[0]?.finish_reason // empty] == [])
		and ((to_entries | map(select(.value | has("error"))) | .[0].key) as $i | .[$i:] | all(has("error")))' > /dev/null ||
		fail "OpenAI in-stream error wrong: $output"
}

ant_stream_error() {
	fake_next stream_error
	run post -N "$PROXY_URL/v1/messages" -d "$(ant_body "$1" true)"
	assert_success
	events=$(ant_events)
	[[ $events =~ ^message_start\ content_block_start\ content_block_delta\ content_block_delta\ error\ $ ]] ||
		fail "events: $events"
	assert_ant_framing
	assert_equal "$(sse_json | jq -rj 'select(.type == "content_block_delta") | .delta.text')" 'Hello from'
	sse_json | jq -se --arg msg "$(upstream_error_text "$1")" 'last | .type == "error"
		and (.error.type | IN("invalid_request_error","authentication_error","billing_error","permission_error","not_found_error",
			"request_too_large","rate_limit_error","api_error","timeout_error","overloaded_error"))
		and (.error.message | contains($msg))' > /dev/null || fail "Anthropic error event wrong: $output"
}

gem_stream_error() {
	fake_next stream_error
	run post -N "$(gem_url "$1" true)" -d "$(gem_body)"
	assert_success
	refute_output --partial 'event:'
	assert_equal "$(sse_json | jq -rj '.candidates[0]?.content.parts[]?.text // empty')" 'Hello from'
	sse_json | jq -se --arg msg "$(upstream_error_text "$1")" '(last | .error | (.code | type == "number" and . >= 400)
			and (.status | type == "string" and length > 0) and (.message | contains($msg)))
		and (.[:-1] | all(has("candidates") and .candidates[0].finishReason == null))' > /dev/null ||
		fail "Gemini in-stream error wrong: $output"
}

@test "stream error: OpenAI client, OpenAI upstream: a data: {error} object, no finish" { oai_stream_error openai/gpt-4o; }
@test "stream error: OpenAI client, Anthropic upstream: a data: {error} object, no finish" { oai_stream_error anthropic/claude-x; }
@test "stream error: OpenAI client, Gemini upstream: a data: {error} object, no finish" { oai_stream_error google/gemini-2.5-flash; }
@test "stream error: Anthropic client, OpenAI upstream: event: error, no message_stop" { ant_stream_error openai/gpt-4o; }
@test "stream error: Anthropic client, Anthropic upstream: event: error, no message_stop" { ant_stream_error anthropic/claude-x; }
@test "stream error: Anthropic client, Gemini upstream: event: error, no message_stop" { ant_stream_error google/gemini-2.5-flash; }
@test "stream error: Gemini client, OpenAI upstream: a data: {error} status object last" { gem_stream_error openai/gpt-4o; }
@test "stream error: Gemini client, Anthropic upstream: a data: {error} status object last" { gem_stream_error anthropic/claude-x; }
@test "stream error: Gemini client, Gemini upstream: a data: {error} status object last" { gem_stream_error google/gemini-2.5-flash; }

@test "stream cut without an error event: the proxy's own in-stream error, every client dialect x every upstream" {
	local m
	for m in openai/gpt-4o anthropic/claude-x google/gemini-2.5-flash; do
		fake_next 'cut=3'
		run post -N "$PROXY_URL/v1/chat/completions" -d "$(oai_body "$m" true)"
		assert_success
		sse_json | jq -se '(map(select(.error != null)) | length == 1) and (last | .error.message | test("closed|cut|incomplete|middle"))
			and ([.[] | .choices[0]?.finish_reason // empty] == [])' > /dev/null || fail "OpenAI client, $m: $output"
		fake_next 'cut=3'
		run post -N "$PROXY_URL/v1/messages" -d "$(ant_body "$m" true)"
		assert_success
		[[ $(ant_events) =~ ^message_start\ .*error\ $ ]] || fail "Anthropic client, $m: events $(ant_events)"
		[[ $(ant_events) != *message_stop* ]] || fail "Anthropic client, $m: a cut stream ended with message_stop"
		assert_ant_framing
		sse_json | jq -se 'map(select(.type == "error")) | length == 1 and (.[0].error.type | type == "string")' > /dev/null ||
			fail "Anthropic client, $m: $output"
		fake_next 'cut=3'
		run post -N "$(gem_url "$m" true)" -d "$(gem_body)"
		assert_success
		sse_json | jq -se '(map(select(.error != null)) | length == 1) and (last | .error | (.code | type == "number") and (.status | type == "string"))
			and all(.candidates[0]?.finishReason == null)' > /dev/null || fail "Gemini client, $m: $output"
	done
}

# ---- fidelity beyond the matrix: things found while building it ----

# Regression: the raw OpenAI->OpenAI stream once forwarded the upstream's error
# object and then appended the proxy's own (two error objects).
@test "stream error: an OpenAI client gets exactly one error object, from every upstream" {
	local m n
	for m in anthropic/claude-x google/gemini-2.5-flash openai/gpt-4o; do
		fake_next stream_error
		run post -N "$PROXY_URL/v1/chat/completions" -d "$(oai_body "$m" true)"
		n=$(sse_json | jq -s 'map(select(.error != null)) | length')
		[[ $n == 1 ]] || fail "$m: $n error objects in: $output"
	done
}

# Regression: overloaded_error once reached the client as api_error with the
# type folded into the message.
@test "stream error: Anthropic client, Anthropic upstream: the upstream's error type is kept" {
	fake_next stream_error
	run post -N "$PROXY_URL/v1/messages" -d "$(ant_body anthropic/claude-x true)"
	assert_success
	sse_json | jq -se 'last | .type == "error" and .error.type == "overloaded_error"' > /dev/null || fail "$(sse_last_data)"
}

# The proxy asks OpenAI upstreams for usage to tap it; a client that did not
# ask must not get the usage-only chunk (wire-formats §1.6/§4.8: clients that
# did not ask index choices[0]).
@test "OpenAI streaming without include_usage: no usage chunk reaches the client, from every upstream" {
	local m
	for m in anthropic/claude-x google/gemini-2.5-flash openai/gpt-4o; do
		run post -N "$PROXY_URL/v1/chat/completions" -d "$(oai_body "$m" false '{"stream":true}')"
		assert_success
		assert_oai_done_last
		assert_equal "$(sse_json | jq -rj '.choices[0]?.delta.content // empty')" "$ANSWER"
		sse_json | jq -se 'all(.choices | length == 1) and all(.usage == null)' > /dev/null ||
			fail "$m: a usage chunk the client did not ask for: $(sse_json | tail -n 2)"
	done
}

# Regression: the non-streaming completion builder once dropped extra_content,
# so such a client could never give Gemini its signature back (§3.8).
@test "OpenAI client, Gemini upstream, not streaming: the call's thoughtSignature is handed out as extra_content" {
	fake_next 'tool=2'
	run post "$PROXY_URL/v1/chat/completions" -d "$(oai_body google/gemini-2.5-flash false)"
	assert_success
	jq -e '.choices[0].finish_reason == "tool_calls" and (.choices[0].message.tool_calls | length == 2)' <<< "$output" > /dev/null || fail "$output"
	# The streaming path does this (see the tools test); without it a
	# non-streaming client cannot give Gemini its signature back.
	jq -e --arg sig "$SIGNATURE" '.choices[0].message.tool_calls[0].extra_content.google.thought_signature == $sig' <<< "$output" > /dev/null ||
		fail "no extra_content.google.thought_signature: $(jq -c .choices[0].message.tool_calls <<< "$output")"
}

# Regression: the signature was once emptied (not streaming) and the
# signature_delta dropped (streaming).
@test "Anthropic client, Anthropic upstream: the thinking block's signature reaches the client" {
	local thinking='{"thinking":{"type":"enabled","budget_tokens":1024},"max_tokens":2048}'
	fake_next reasoning
	run post "$PROXY_URL/v1/messages" -d "$(ant_body anthropic/claude-x false "$thinking")"
	assert_success
	jq -e --arg sig "$SIGNATURE" '.content[0].type == "thinking" and .content[0].signature == $sig' <<< "$output" > /dev/null ||
		fail "not streaming: $(jq -c '.content[0]' <<< "$output")"
	fake_next reasoning
	run post -N "$PROXY_URL/v1/messages" -d "$(ant_body anthropic/claude-x true "$thinking")"
	assert_success
	sse_json | jq -se --arg sig "$SIGNATURE" '[.[] | select(.type == "content_block_delta" and .delta.type == "signature_delta") | .delta.signature] == [$sig]' > /dev/null ||
		fail "no signature_delta in: $output"
}

# Regression: thinking blocks were once dropped from the history, which breaks
# extended thinking with tool use against the real API.
@test "Anthropic client, Anthropic upstream: a thinking block in the history is forwarded with its signature" {
	run post "$PROXY_URL/v1/messages" -d '{"model":"anthropic/claude-x","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},
		"messages":[{"role":"user","content":"weather?"},
		 {"role":"assistant","content":[{"type":"thinking","thinking":"Let me think.","signature":"ZmFrZS1zaWduYXR1cmU="},
		   {"type":"tool_use","id":"toolu_abc","name":"get_weather","input":{"location":"Paris"}}]},
		 {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_abc","content":"14C"}]}]}'
	assert_success
	fake_last_request | jq -e --arg sig "$SIGNATURE" '.body | fromjson | .messages[1].content[0] == {"type":"thinking","thinking":"Let me think.","signature":$sig}
		and .messages[1].content[1].type == "tool_use"' > /dev/null ||
		fail "assistant turn sent upstream: $(fake_last_request | jq -c '.body | fromjson | .messages[1]')"
}

# DESIGN.md: same dialect in and out is forwarded untranslated.  Regression:
# top_k and cache_control were once dropped on the way through the canonical form.
@test "same dialect, Anthropic: fields the canonical form lacks (top_k, cache_control) reach the upstream" {
	run post "$PROXY_URL/v1/messages" -d '{"model":"anthropic/claude-x","max_tokens":77,"top_k":5,
		"system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}],
		"messages":[{"role":"user","content":[{"type":"text","text":"hi there","cache_control":{"type":"ephemeral"}}]}]}'
	assert_success
	fake_last_request | jq -e '.body | fromjson | .top_k == 5
		and .system == [{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}]
		and .messages[0].content == [{"type":"text","text":"hi there","cache_control":{"type":"ephemeral"}}]' > /dev/null ||
		fail "sent upstream: $(fake_last_request | jq -r .body)"
}

# Regression: on the untranslated path the model string's parameters were
# dropped (the client's own body went out as it came).
@test "same dialect, Anthropic: model-string parameters apply where the body leaves them unset, cache_control kept" {
	run post "$PROXY_URL/v1/messages" -d '{"model":"anthropic/claude-x?temperature=0.25&max_tokens=33","max_tokens":77,
		"messages":[{"role":"user","content":[{"type":"text","text":"hi there","cache_control":{"type":"ephemeral"}}]}]}'
	assert_success
	fake_last_request | jq -e '.body | fromjson | .temperature == 0.25 and .max_tokens == 77 and .model == "claude-x"
		and .messages[0].content == [{"type":"text","text":"hi there","cache_control":{"type":"ephemeral"}}]' > /dev/null ||
		fail "sent upstream: $(fake_last_request | jq -r .body)"
}

@test "same dialect, Gemini: model-string parameters go into generationConfig beside the client's own" {
	run post "$(gem_url 'google/gemini-2.5-flash%3Ftemperature%3D0.25' false)" -d "$(gem_body '{"generationConfig":{"maxOutputTokens":77,"topK":5}}')"
	assert_success
	fake_last_request | jq -e '.body | fromjson | .generationConfig == {"maxOutputTokens":77,"topK":5,"temperature":0.25}' > /dev/null ||
		fail "sent upstream: $(fake_last_request | jq -r .body)"
}

# DESIGN.md: same dialect in and out is forwarded untranslated.  Regression:
# topK, safetySettings and cachedContent were once dropped.
@test "same dialect, Gemini: safetySettings, topK and cachedContent reach the upstream" {
	run post "$(gem_url google/gemini-2.5-flash false)" -d "$(gem_body '{"generationConfig":{"maxOutputTokens":77,"topK":5},"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}],"cachedContent":"cachedContents/abc"}')"
	assert_success
	fake_last_request | jq -e '.body | fromjson | .generationConfig.topK == 5 and .generationConfig.maxOutputTokens == 77
		and .safetySettings == [{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]
		and .cachedContent == "cachedContents/abc"' > /dev/null ||
		fail "sent upstream: $(fake_last_request | jq -r .body)"
}

# Regression: translated sampling numbers were rebuilt as doubles and went
# out in json-c's 17 digits (0.4 as 0.40000000000000002).
@test "translation: sampling numbers reach the upstream in their short decimal form, every dialect pair" {
	local body
	body_text() { fake_last_request | jq -r .body; }
	has_text() { [[ "$1" == *"$2"* ]] || fail "wanted $2 in the upstream body: $1"; }
	for m in anthropic/claude-x google/gemini-2.5-flash; do
		run post "$PROXY_URL/v1/chat/completions" -d "{\"model\":\"$m\",\"temperature\":0.4,\"top_p\":0.9,
			\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
		assert_success
		body=$(body_text)
		has_text "$body" '"temperature":0.4'
		has_text "$body" 0.9
		[[ "$body" != *00000000* ]] || fail "long digits in: $body"
	done
	run post "$PROXY_URL/v1/messages" -d '{"model":"openai/gpt-4o","max_tokens":9,"temperature":0.3,"top_p":0.7,
		"messages":[{"role":"user","content":"hi"}]}'
	assert_success
	body=$(body_text)
	has_text "$body" '"temperature":0.3'
	has_text "$body" '"top_p":0.7'
	run post "$(gem_url openai/gpt-4o false)" -d "$(gem_body '{"generationConfig":{"maxOutputTokens":9,"temperature":0.7,"topP":0.1}}')"
	assert_success
	body=$(body_text)
	has_text "$body" '"temperature":0.7'
	has_text "$body" '"top_p":0.1'
}

# 1e400 is valid JSON but no double: translating it would send null or
# Infinity upstream, so it is the client's 400, in its dialect.
@test "translation: a number out of double range is a 400 in the client's dialect, nothing sent" {
	fake_reset
	run post -w '\n%{http_code}' "$PROXY_URL/v1/chat/completions" -d '{"model":"anthropic/claude-x","top_p":1e400,
		"messages":[{"role":"user","content":"hi"}]}'
	[[ ${lines[-1]} == 400 ]] || fail "status: $output"
	jq -e '.error.message | contains("\"top_p\" must be a number")' <<< "${lines[0]}" > /dev/null || fail "body: $output"
	run post -w '\n%{http_code}' "$PROXY_URL/v1/messages" -d '{"model":"openai/gpt-4o","max_tokens":9,"temperature":-1e999,
		"messages":[{"role":"user","content":"hi"}]}'
	[[ ${lines[-1]} == 400 ]] || fail "status: $output"
	jq -e '.type == "error" and (.error.message | contains("\"temperature\" must be a number"))' <<< "${lines[0]}" > /dev/null ||
		fail "body: $output"
	run post -w '\n%{http_code}' "$(gem_url openai/gpt-4o false)" -d '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],
		"generationConfig":{"maxOutputTokens":9,"topP":2e308}}'
	[[ ${lines[-1]} == 400 ]] || fail "status: $output"
	jq -e '.error.status == "INVALID_ARGUMENT" and (.error.message | contains("generationConfig.topP must be a number"))' \
		<<< "${lines[0]}" > /dev/null || fail "body: $output"
	[[ $(fake_request_count) == 0 ]] || fail "sent upstream: $(fake_requests)"
}

# Regression: upstream JSON was read by json-c 0.16, which turns the escaped
# surrogate pairs of U+1D800-1DFFF, U+2D800-2DFFF, ... into U+FFFD. Python
# servers (json.dumps) escape everything past ASCII, so those characters
# (SignWriting, CJK Extension F) came out broken when translated.
@test "translation: \\u-escaped characters past U+FFFF from the upstream reach the client whole, every path" {
	local want=$'H\u00e9 \U0001D800 \U0002D800 \U0001F600' got m
	for m in anthropic/claude-x google/gemini-2.5-flash; do
		fake_next "reply=$want;ascii"
		run post "$PROXY_URL/v1/chat/completions" -d "$(oai_body "$m" false)"
		assert_success
		got=$(jq -r '.choices[0].message.content' <<< "$output")
		assert_equal "$got" "$want"
		fake_next "reply=$want;ascii"
		run post -N "$PROXY_URL/v1/chat/completions" -d "$(oai_body "$m" true)"
		assert_success
		got=$(sse_json | jq -rj '.choices[0]?.delta.content // empty')
		assert_equal "$got" "$want"
	done
	fake_next "reply=$want;ascii"
	run post "$PROXY_URL/v1/messages" -d '{"model":"openai/gpt-4o","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}'
	assert_success
	got=$(jq -r '.content[0].text' <<< "$output")
	assert_equal "$got" "$want"
	# The fake really escaped them: its answer holds no byte past ASCII.
	fake_next "reply=$want;ascii"
	run curl -sS "$FAKE_URL/v1/chat/completions" -H 'Content-Type: application/json' \
		-d '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
	[[ $output == *'\ud836\udc00'* && $output == *'\ud876\udc00'* ]] || fail "fake answered: $output"
	! LC_ALL=C grep -q $'[\x80-\xff]' <<< "$output" || fail "non-ASCII bytes in: $output"
}
