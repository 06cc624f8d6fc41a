#!/usr/bin/env bats
# `arouter proxy` and the usage ledger: a row per request that reached a
# provider (exact tokens and catalog cost for every ingress and upstream
# dialect, streamed or not; usage unknown when a stream is cut), local keys
# (budgets, revocation, expiry, model globs, rpm) as a running proxy sees
# them, the account API behind the admin key, rows from the proxy and from
# `arouter chat` at once, what a SIGKILL loses, what the ledger and logs never
# hold (prompt text, secrets), and a proxy with the ledger off.
#
# Rows are read back with tests/ledger-tool (`rows` prints each as stored,
# `count` counts after an integrity check), so that no sqlite3 program is
# needed.

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
	unset AROUTER_BASE_URL AROUTER_ADMIN_KEY
	fake_reset
	export OPENAI_API_KEY=sk-test-OPENAI-SECRET-1234 ANTHROPIC_API_KEY=sk-ant-SECRET-5678 GEMINI_API_KEY=AIza-SECRET-9012
	LEDGER_TOOL=${LEDGER_TOOL:-$BATS_TEST_DIRNAME/ledger-tool}
	LEDGER=$XDG_DATA_HOME/arouter/ledger.db
	BODY=$BATS_TEST_TMPDIR/body
	HEADERS=$BATS_TEST_TMPDIR/headers
	PROXY_PID=
}

teardown() {
	# A proxy a test killed itself is gone already; anything else stops
	# cleanly (a sanitizer report fails the test here).
	if [[ -n ${PROXY_PID:-} ]]; then proxy_stop; fi
}

ADMIN=ar-admin-SECRET723456789
# What the fake upstream reports for every answer (tests/fake-upstream.c).
PROMPT_TOKENS=12 CACHED_TOKENS=2 COMPLETION_TOKENS=5

# ---- helpers ----

# Every run is bounded (124 means it hung) and never waits on a terminal.
ar() { timeout 30 "$AROUTER" "$@" < /dev/null; }
rows() { "$LEDGER_TOOL" rows "$LEDGER"; }
count_rows() { "$LEDGER_TOOL" count "$LEDGER"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# send DIALECT MODEL STREAM [PROMPT]: one model request to the proxy in
# DIALECT's own shape (openai, anthropic, gemini), streamed if STREAM is
# "true". $SYSTEM, if set, is the system prompt; $KEY, if set, the client
# key in the dialect's usual header. The body goes to $BODY, the response
# headers to $HEADERS; prints the HTTP status.
send() {
	local dialect=$1 model=$2 stream=$3 prompt=${4:-hi} url body auth=()
	case $dialect in
	openai)
		url=$PROXY_URL/v1/chat/completions
		body=$(jq -nc --arg m "$model" --arg p "$prompt" --arg s "${SYSTEM:-}" --argjson st "$stream" \
			'{model: $m, stream: $st, messages: ((if $s != "" then [{role: "system", content: $s}] else [] end) + [{role: "user", content: $p}])}')
		[[ -n ${KEY:-} ]] && auth=(-H "Authorization: Bearer $KEY")
		;;
	anthropic)
		url=$PROXY_URL/v1/messages
		body=$(jq -nc --arg m "$model" --arg p "$prompt" --arg s "${SYSTEM:-}" --argjson st "$stream" \
			'{model: $m, max_tokens: 64, stream: $st, messages: [{role: "user", content: $p}]} + (if $s != "" then {system: $s} else {} end)')
		[[ -n ${KEY:-} ]] && auth=(-H "x-api-key: $KEY")
		;;
	gemini)
		if [[ $stream == true ]]; then
			url="$PROXY_URL/v1beta/models/$model:streamGenerateContent?alt=sse"
		else
			url="$PROXY_URL/v1beta/models/$model:generateContent"
		fi
		body=$(jq -nc --arg p "$prompt" --arg s "${SYSTEM:-}" \
			'{contents: [{role: "user", parts: [{text: $p}]}]} + (if $s != "" then {systemInstruction: {parts: [{text: $s}]}} else {} end)')
		[[ -n ${KEY:-} ]] && auth=(-H "x-goog-api-key: $KEY")
		;;
	*)
		echo "send: unknown dialect $dialect" >&2
		return 1
		;;
	esac
	curl -sS --max-time 20 -o "$BODY" -D "$HEADERS" -w '%{http_code}' -H 'Content-Type: application/json' \
		"${auth[@]}" --data-binary "$body" "$url"
}

# send_ok ARGS...: send, and fail unless the answer is a 200.
send_ok() {
	local code
	code=$(send "$@") || fail "send $*: curl failed"
	[[ $code == 200 ]] || fail "send $*: HTTP $code: $(cat "$BODY")"
}

# admin METHOD PATH [BODY]: the account API with the admin key ($ADMIN_AS
# overrides the key sent; empty sends none). Body to $BODY; prints the status.
admin() {
	local key=${ADMIN_AS-$ADMIN} args=()
	[[ -n $key ]] && args+=(-H "Authorization: Bearer $key")
	[[ -n ${3:-} ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	curl -sS --max-time 20 -o "$BODY" -w '%{http_code}' -X "$1" "${args[@]}" "$PROXY_URL$2"
}

# A decimal dollar string ("0.0000025") as integer picodollars.
pusd() {
	local s=$1 int frac
	[[ $s =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "pusd: not a plain decimal: '$s'" >&2; return 1; }
	int=${s%%.*}
	frac=
	[[ $s == *.* ]] && frac=${s#*.}
	frac=${frac}000000000000
	frac=${frac:0:12}
	echo $((10#$int * 1000000000000 + 10#$frac))
}

# Picodollars as the exact decimal the API prints ("0.0000775").
usd() {
	local p=$1 frac
	frac=$(printf '%012d' $((p % 1000000000000)))
	frac=$(sed 's/0*$//' <<< "$frac")
	echo "$((p / 1000000000000)).${frac:-0}"
}

# The catalog's price of MODEL's FIELD in picodollars per token, from
# `arouter models --json` (read once per file).
price() {
	local cat=$BATS_FILE_TMPDIR/models.json v
	if [[ ! -s $cat ]]; then
		ar models --json > "$cat.tmp" 2> /dev/null || { echo "price: arouter models --json failed" >&2; return 1; }
		mv "$cat.tmp" "$cat"
	fi
	v=$(jq -r --arg id "$1" --arg f "$2" '.data[] | select(.id == $id) | .pricing[$f] // empty' "$cat")
	[[ -n $v ]] || return 1
	pusd "$v"
}

# What one answer of the fake upstream costs on MODEL (provider/model), in
# picodollars: uncached prompt, cached prompt (at the cache-read price when
# the catalog has one) and completion tokens.
fake_cost() {
	local p c r
	p=$(price "$1" prompt) || { echo "fake_cost: no prompt price for $1" >&2; return 1; }
	c=$(price "$1" completion) || { echo "fake_cost: no completion price for $1" >&2; return 1; }
	r=$(price "$1" input_cache_read) || r=$p
	echo $(((PROMPT_TOKENS - CACHED_TOKENS) * p + CACHED_TOKENS * r + COMPLETION_TOKENS * c))
}

# assert_row N [JQ-ARGS...] EXPR: row N (1 is the oldest) satisfies EXPR.
assert_row() {
	local n=$1 expr=${!#} row
	set -- "${@:2:$#-2}"
	row=$(rows | sed -n "${n}p")
	[[ -n $row ]] || fail "no row $n in the ledger; rows: $(rows)"
	jq -e "$@" "$expr" <<< "$row" > /dev/null || fail "row $n: $row does not satisfy: $expr"
}

# create NAME [OPTIONS...]: a local key made with the CLI; its secret is in
# $secret and its id in $key_id.
create() {
	run --separate-stderr ar keys create --local --json --name "$@"
	assert_success
	secret=$(jq -r .key <<< "$output")
	key_id=$(jq -r .data.id <<< "$output")
	[[ $secret == ar-local-* && -n $key_id ]] || fail "keys create printed $output"
}

# wait_for_status CODE SECONDS ARGS...: repeats `send ARGS` every 0.1 s
# until it answers CODE; prints the milliseconds it took, fails past SECONDS.
wait_for_status() {
	local want=$1 secs=$2 t0 code i
	shift 2
	t0=$(now_ms)
	for ((i = 0; i < secs * 10; i++)); do
		code=$(send "$@")
		[[ $code == "$want" ]] && { echo $(($(now_ms) - t0)); return 0; }
		sleep 0.1
	done
	echo "wait_for_status: still HTTP $code after $secs s, not $want: $(cat "$BODY")" >&2
	return 1
}

# ==== one row per request ====

@test "a row per request for each ingress dialect to each upstream dialect, streamed or not: tokens, catalog cost, names, flags" {
	proxy_start
	local t0 t1 i=0 d m s expected=()
	t0=$(now_ms)
	for d in openai anthropic gemini; do
		for m in openai/gpt-4o anthropic/claude-sonnet-4-6 google/gemini-2.5-flash; do
			for s in false true; do
				send_ok "$d" "$m" "$s"
				expected+=("$d $m $s")
			done
		done
	done
	t1=$(now_ms)
	assert_equal "$(fake_request_count)" 18
	# SIGTERM flushes the writer: every row is on disk when the proxy exits.
	proxy_stop
	assert_equal "$(count_rows)" 18
	for ((i = 0; i < 18; i++)); do
		read -r d m s <<< "${expected[i]}"
		cost=$(fake_cost "$m")
		[[ $cost -gt 0 ]] || fail "no catalog price for $m"
		assert_row $((i + 1)) --arg p "${m%%/*}" --arg m "${m#*/}" --arg d "$d" --argjson s "$([[ $s == true ]] && echo 1 || echo 0)" \
			--argjson cost "$cost" --argjson t0 "$t0" --argjson t1 "$t1" \
			'.provider == $p and .model == $m and .dialect == $d and .streamed == $s
			 and .usage_known == 1 and .prompt_tokens == 12 and .completion_tokens == 5
			 and .cached_tokens == 2 and .reasoning_tokens == 0 and .cost_pusd == $cost
			 and .status == 200 and .attempts == 1 and .key_id == null
			 and .time_ms >= $t0 and .time_ms <= $t1 and .latency_ms >= 0 and .latency_ms <= ($t1 - $t0)
			 and (if $s == 1 then .first_token_ms != null and .first_token_ms <= .latency_ms else true end)'
	done
	# The three dialects cost the same for the same model: the catalog, not
	# the wire format, prices a request.
	run jq -s 'group_by(.model) | map(map(.cost_pusd) | unique | length) | max' <<< "$(rows)"
	assert_output 1
}

@test "the row names the provider that answered after a failover and counts every attempt; an upstream error is a row with its status" {
	write_config > /dev/null <<< '{"routing": {"retries": 1}}'
	proxy_start
	# Both openai attempts (one retry) fail; the second model of the list answers.
	fake_next 'status=500'
	fake_next 'status=503'
	code=$(curl -sS --max-time 20 -o "$BODY" -w '%{http_code}' -H 'Content-Type: application/json' \
		-d '{"model":"openai/gpt-4o","models":["openai/gpt-4o","anthropic/claude-sonnet-4-6"],"messages":[{"role":"user","content":"hi"}]}' \
		"$PROXY_URL/v1/chat/completions")
	assert_equal "$code" 200
	attempts=$(fake_request_count)
	assert_equal "$attempts" 3
	fake_reset
	fake_next 'status=400'
	assert_equal "$(send openai openai/gpt-4o false)" 400
	proxy_stop
	assert_equal "$(count_rows)" 2
	assert_row 1 --argjson n "$attempts" --argjson cost "$(fake_cost anthropic/claude-sonnet-4-6)" \
		'.provider == "anthropic" and .model == "claude-sonnet-4-6" and .attempts == $n and .status == 200 and .cost_pusd == $cost and .prompt_tokens == 12'
	assert_row 2 '.provider == "openai" and .status == 400 and .attempts == 1 and .usage_known == 0 and .prompt_tokens == null and .cost_pusd == null'
}

@test "a stream cut before its usage, and an answer without usage: rows say usage unknown, not zeros" {
	proxy_start
	local d m
	for d in openai anthropic gemini; do
		for m in openai/gpt-4o anthropic/claude-sonnet-4-6 google/gemini-2.5-flash; do
			fake_next 'cut=2'
			send "$d" "$m" true > /dev/null || true
		done
	done
	fake_next 'nousage'
	send_ok openai openai/gpt-4o false
	fake_next 'nousage'
	send_ok anthropic anthropic/claude-sonnet-4-6 true
	# A complete answer after them still has its numbers.
	send_ok openai openai/gpt-4o true
	proxy_stop
	assert_equal "$(count_rows)" 12
	for ((i = 1; i <= 11; i++)); do
		assert_row $i '.usage_known == 0 and .prompt_tokens == null and .completion_tokens == null
			and .cached_tokens == null and .reasoning_tokens == null and .cost_pusd == null'
	done
	for ((i = 1; i <= 9; i++)); do assert_row $i '.streamed == 1'; done
	assert_row 12 '.usage_known == 1 and .prompt_tokens == 12 and .completion_tokens == 5'
	# Unknown is unknown in the sums too: not counted as zero tokens.
	run --separate-stderr ar usage --local --json
	assert_success
	jq -e '.totals.requests == 12 and .totals.requests_without_usage == 11 and .totals.prompt_tokens == 12 and .totals.completion_tokens == 5' <<< "$output" ||
		fail "usage --json: $output"
}

# ==== local keys ====

@test "budget: exactly N requests fit at the fake's cost; the next is 402 in the client's dialect, never reaches the upstream, and stays 402 after a restart" {
	local n=3 c budget
	c=$(fake_cost openai/gpt-4o)
	budget=$((n * c))
	create b --budget "$(usd $budget)"
	run ar keys show b --local --json
	jq -e --argjson b "$(usd $budget)" '.data.budget == $b and .data.spend == 0' <<< "$output" || fail "$output"
	proxy_start
	export KEY=$secret
	# N answers, one per dialect, streamed and not: every dialect spends.
	send_ok openai openai/gpt-4o false
	send_ok anthropic openai/gpt-4o true
	send_ok gemini openai/gpt-4o false
	assert_equal "$(fake_request_count)" $n
	assert_equal "$(send openai openai/gpt-4o false)" 402
	jq -e '.error.type == "insufficient_quota" and .error.code == "insufficient_quota" and (.error.message | test("budget"))' "$BODY" ||
		fail "OpenAI 402: $(cat "$BODY")"
	assert_equal "$(send openai openai/gpt-4o true)" 402
	grep -q '^data:' "$BODY" && fail "a refused stream sent SSE: $(cat "$BODY")"
	assert_equal "$(send anthropic openai/gpt-4o false)" 402
	jq -e '.type == "error" and (.error.type | type == "string") and (.error.message | test("budget"))' "$BODY" ||
		fail "Anthropic 402: $(cat "$BODY")"
	assert_equal "$(send gemini openai/gpt-4o true)" 402
	jq -e '.error.code == 402 and (.error.status | type == "string") and (.error.message | test("budget"))' "$BODY" ||
		fail "Gemini 402: $(cat "$BODY")"
	assert_equal "$(fake_request_count)" $n
	proxy_stop
	# Refused requests never reached a provider: no rows for them.
	assert_equal "$(count_rows)" $n
	run jq -s --arg id "$key_id" --argjson c "$c" 'all(.key_id == $id and .cost_pusd == $c)' <<< "$(rows)"
	assert_output true
	run ar keys show b --local --json
	jq -e --argjson b "$(usd $budget)" '.data.spend == $b and .data.remaining == 0' <<< "$output" || fail "$output"
	# The spend is in the ledger, not only in the proxy's memory.
	proxy_start
	assert_equal "$(send openai openai/gpt-4o false)" 402
	assert_equal "$(fake_request_count)" $n
	# Raising the budget by one request's cost lets exactly one more through.
	run ar keys update b --local --budget "$(usd $((budget + c)))"
	assert_success
	wait_for_status 200 3 openai openai/gpt-4o false > /dev/null
	assert_equal "$(send openai openai/gpt-4o false)" 402
}

@test "budget: Anthropic clients get a 402 of type billing_error" {
	create b --budget 0.000001
	proxy_start
	KEY=$secret send_ok anthropic openai/gpt-4o false
	assert_equal "$(KEY=$secret send anthropic openai/gpt-4o false)" 402
	jq -e '.type == "error" and .error.type == "billing_error"' "$BODY" || fail "Anthropic 402: $(cat "$BODY")"
}

@test "revoked, expired, unknown and missing keys are 401 in each dialect; a key made while the proxy runs works within about a second" {
	# A key that stays valid, so that the proxy wants keys throughout.
	create ok
	create gone
	ar keys revoke gone --local > /dev/null
	gone=$secret
	create soon --expires 4s
	soon=$secret
	proxy_start
	KEY=$soon send_ok openai openai/gpt-4o false
	run send openai openai/gpt-4o false
	assert_output 401
	KEY=$gone run send openai openai/gpt-4o false
	assert_output 401
	jq -e '.error.type == "authentication_error" and (.error.message | test("revoked"))' "$BODY" || fail "$(cat "$BODY")"
	KEY=ar-local-NOSUCHKEY0000000000000000000000000000000 run send anthropic openai/gpt-4o false
	assert_output 401
	jq -e '.type == "error" and .error.type == "authentication_error"' "$BODY" || fail "$(cat "$BODY")"
	KEY=$gone run send gemini openai/gpt-4o false
	assert_output 401
	jq -e '.error.code == 401 and .error.status == "UNAUTHENTICATED"' "$BODY" || fail "$(cat "$BODY")"

	# Made while the proxy runs, with the CLI (another connection).
	create later
	later=$secret
	ms=$(KEY=$later wait_for_status 200 3 openai openai/gpt-4o false)
	echo "# a new key worked after $ms ms" >&3
	[[ $ms -le 2000 ]] || fail "a new key took $ms ms to work"
	# Expired while it runs: no reload needed, expiry is checked per request.
	ms=$(KEY=$soon wait_for_status 401 6 openai openai/gpt-4o false)
	jq -e '.error.message | test("expired")' "$BODY" || fail "$(cat "$BODY")"
	proxy_stop
	# Only the answered requests are rows, each with its key's id: the
	# first with soon's, the second with later's, then soon's until it expired.
	soon_id=$(ar keys show soon --local --json | jq -r .data.id)
	later_id=$(ar keys show later --local --json | jq -r .data.id)
	run jq -sc --arg s "$soon_id" --arg l "$later_id" 'map(.key_id) | .[0] == $s and .[1] == $l and (.[2:] | all(. == $s))' <<< "$(rows)"
	assert_output true
}

@test "the first key made while the proxy runs closes it to clients without one" {
	proxy_start
	send_ok openai openai/gpt-4o false
	create first
	ms=$(wait_for_status 401 3 openai openai/gpt-4o false)
	[[ $ms -le 2000 ]] || fail "anonymous requests still worked $ms ms after the first key"
	KEY=$secret send_ok openai openai/gpt-4o false
}

@test "revoking the last key, or its expiry, does not open the proxy: that key and clients without one get 401" {
	export AROUTER_ADMIN_KEY=$ADMIN
	create only
	only=$secret
	proxy_start
	KEY=$only send_ok openai openai/gpt-4o false
	assert_equal "$(send openai openai/gpt-4o false)" 401
	run admin DELETE /api/v1/keys/only
	assert_output 200
	assert_equal "$(KEY=$only send openai openai/gpt-4o false)" 401
	assert_equal "$(send gemini openai/gpt-4o false)" 401
	# A new last key that nobody revokes: it expires.
	run admin POST /api/v1/keys '{"name":"brief","expires":"3s"}'
	assert_output 201
	brief=$(jq -r .key "$BODY")
	KEY=$brief send_ok openai openai/gpt-4o false
	sleep 3.2
	assert_equal "$(KEY=$brief send openai openai/gpt-4o false)" 401
	assert_equal "$(send anthropic openai/gpt-4o false)" 401
}

@test "--models 'openai/*': 403 for another provider's model in each dialect, 200 for OpenAI's; a fallback list skips the forbidden model" {
	create narrow --models 'openai/*'
	export KEY=$secret
	proxy_start
	assert_equal "$(send openai anthropic/claude-sonnet-4-6 false)" 403
	jq -e '.error.type == "permission_error" and (.error.message | test("not allowed"))' "$BODY" || fail "$(cat "$BODY")"
	assert_equal "$(send anthropic anthropic/claude-sonnet-4-6 true)" 403
	jq -e '.type == "error" and .error.type == "permission_error"' "$BODY" || fail "$(cat "$BODY")"
	assert_equal "$(send gemini google/gemini-2.5-flash false)" 403
	jq -e '.error.code == 403 and .error.status == "PERMISSION_DENIED"' "$BODY" || fail "$(cat "$BODY")"
	assert_equal "$(fake_request_count)" 0
	send_ok openai openai/gpt-4o false
	send_ok anthropic openai/gpt-4o-mini true
	send_ok gemini openai/gpt-4o false
	# A bare name that resolves to OpenAI is an OpenAI model.
	send_ok openai gpt-4o false
	code=$(curl -sS --max-time 20 -o "$BODY" -w '%{http_code}' -H 'Content-Type: application/json' -H "Authorization: Bearer $KEY" \
		-d '{"model":"anthropic/claude-sonnet-4-6","models":["anthropic/claude-sonnet-4-6","openai/gpt-4o"],"messages":[{"role":"user","content":"hi"}]}' \
		"$PROXY_URL/v1/chat/completions")
	assert_equal "$code" 200
	run fake_requests
	refute_output --partial '"/v1/messages"'
	proxy_stop
	assert_equal "$(count_rows)" 5
	run jq -s 'all(.provider == "openai")' <<< "$(rows)"
	assert_output true
}

@test "a ledger key's rpm: X-RateLimit headers on every answer, 429 past the limit, no row for the refused request" {
	create slow --rpm 2
	export KEY=$secret
	proxy_start
	send_ok openai openai/gpt-4o false
	grep -qi '^X-RateLimit-Limit: 2' "$HEADERS" || fail "headers: $(cat "$HEADERS")"
	grep -qi '^X-RateLimit-Remaining: 1' "$HEADERS" || fail "headers: $(cat "$HEADERS")"
	send_ok anthropic openai/gpt-4o false
	assert_equal "$(send anthropic openai/gpt-4o false)" 429
	jq -e '.type == "error" and .error.type == "rate_limit_error"' "$BODY" || fail "$(cat "$BODY")"
	grep -qi '^Retry-After: [0-9]' "$HEADERS" || fail "headers: $(cat "$HEADERS")"
	grep -qi '^X-RateLimit-Remaining: 0' "$HEADERS" || fail "headers: $(cat "$HEADERS")"
	assert_equal "$(fake_request_count)" 2
	proxy_stop
	assert_equal "$(count_rows)" 2
}

# ==== the account API ====

@test "account API: 401 without the admin key (none, a wrong one, a client key); with it keys are listed, made, changed and revoked, at once" {
	export AROUTER_ADMIN_KEY=$ADMIN
	create client
	client=$secret
	proxy_start
	local p
	for p in /api/v1/keys /api/v1/balance /api/v1/transactions /api/v1/usage /api/v1/keys/client; do
		ADMIN_AS= run admin GET $p
		assert_output 401
		jq -e '.error.code == "invalid_admin_key"' "$BODY" || fail "$p: $(cat "$BODY")"
		ADMIN_AS=ar-admin-WRONG run admin GET $p
		assert_output 401
		ADMIN_AS=$client run admin GET $p
		assert_output 401
	done
	ADMIN_AS=$client run admin POST /api/v1/keys '{"name":"sneaky"}'
	assert_output 401
	ADMIN_AS=$client run admin DELETE /api/v1/keys/client
	assert_output 401
	# The admin key is not a client key either.
	KEY=$ADMIN run send openai openai/gpt-4o false
	assert_output 401
	# Nothing above changed anything.
	run ar keys list --local --json
	jq -e '.data | length == 1 and .[0].name == "client" and .[0].revoked == false' <<< "$output" || fail "$output"

	run admin GET /api/v1/keys
	assert_output 200
	jq -e '.data | length == 1 and .[0].name == "client"' "$BODY" || fail "$(cat "$BODY")"
	run admin POST /api/v1/keys '{"name":"api","budget":1.5,"rpm":60,"models":["openai/*"]}'
	assert_output 201
	api=$(jq -r .key "$BODY")
	api_id=$(jq -r .data.id "$BODY")
	[[ $api == ar-local-* ]] || fail "$(cat "$BODY")"
	jq -e '.data.name == "api" and .data.budget == 1.5 and .data.spend == 0 and .data.rpm == 60 and .data.models == ["openai/*"]' "$BODY" ||
		fail "$(cat "$BODY")"
	# Usable at once: the proxy reloads its keys after a change through it.
	KEY=$api send_ok openai openai/gpt-4o false
	run admin GET "/api/v1/keys/$api_id"
	assert_output 200
	jq -e --argjson c "$(usd "$(fake_cost openai/gpt-4o)")" '.data.spend == $c' "$BODY" || fail "$(cat "$BODY")"
	run admin PATCH "/api/v1/keys/$api_id" '{"models":["anthropic/*"]}'
	assert_output 200
	jq -e '.data.models == ["anthropic/*"]' "$BODY" || fail "$(cat "$BODY")"
	assert_equal "$(KEY=$api send openai openai/gpt-4o false)" 403
	KEY=$api send_ok openai anthropic/claude-sonnet-4-6 false
	run admin PATCH /api/v1/keys/api '{"bogus":1}'
	assert_output 400
	run admin DELETE "/api/v1/keys/$api_id"
	assert_output 200
	jq -e '.data.revoked == true and (.data.revoked_at | type == "string")' "$BODY" || fail "$(cat "$BODY")"
	assert_equal "$(KEY=$api send openai anthropic/claude-sonnet-4-6 false)" 401
	run admin GET /api/v1/keys/nosuchkey
	assert_output 404
	run admin PUT /api/v1/keys
	assert_output 405
	run admin GET '/api/v1/keys?include_revoked=true'
	jq -e '.data | map(.name) == ["client","api"]' "$BODY" || fail "$(cat "$BODY")"
	# What the API did is in the ledger the CLI reads (at once: see the
	# test of other processes beside the proxy).
	proxy_stop
	run ar keys show api --local --json
	jq -e '.data.revoked == true and .data.models == ["anthropic/*"]' <<< "$output" || fail "$output"
	refute_output --partial "$api"
}

@test "account API: balance and transactions over the proxy's own rows, paged with the cursor" {
	export AROUTER_ADMIN_KEY=$ADMIN
	create paged --budget 1
	proxy_start
	local i c
	c=$(fake_cost openai/gpt-4o)
	for ((i = 0; i < 3; i++)); do KEY=$secret send_ok openai openai/gpt-4o false; done
	for ((i = 0; i < 2; i++)); do KEY=$secret send_ok gemini anthropic/claude-sonnet-4-6 true; done
	# Rows reach the ledger within milliseconds; the API reads the ledger.
	sleep 0.3
	run admin GET /api/v1/balance
	assert_output 200
	total=$((3 * c + 2 * $(fake_cost anthropic/claude-sonnet-4-6)))
	jq -e --argjson t "$(usd $total)" --argjson r "$(usd $((1000000000000 - total)))" \
		'.data.total_usage == $t and .data.total_credits == 1 and .data.balance == $r and .data.keys[0].name == "paged" and .data.keys[0].spend == $t and .data.keys[0].remaining == $r' \
		"$BODY" || fail "$(cat "$BODY")"
	run admin GET '/api/v1/transactions?limit=2'
	assert_output 200
	cp "$BODY" "$BATS_TEST_TMPDIR/p1"
	jq -e '(.data | length) == 2 and .has_more == true and (.next_cursor | type == "string")' "$BODY" || fail "$(cat "$BODY")"
	# Newest first: the last two were the Gemini-in, Anthropic-served streams.
	jq -e --arg k "$key_id" 'all(.data[]; .dialect == "gemini" and .provider == "anthropic" and .streamed == true and .key_id == $k and .prompt_tokens == 12 and .cached_tokens == 2 and .total_tokens == 17)' "$BODY" ||
		fail "$(cat "$BODY")"
	run admin GET "/api/v1/transactions?limit=2&cursor=$(jq -r .next_cursor "$BODY")"
	cp "$BODY" "$BATS_TEST_TMPDIR/p2"
	jq -e '(.data | length) == 2 and .has_more == true' "$BODY" || fail "$(cat "$BODY")"
	run admin GET "/api/v1/transactions?limit=2&cursor=$(jq -r .next_cursor "$BODY")"
	cp "$BODY" "$BATS_TEST_TMPDIR/p3"
	jq -e --argjson c "$(usd "$c")" '(.data | length) == 1 and .has_more == false and .next_cursor == null and .data[0].cost == $c and .data[0].dialect == "openai" and .data[0].streamed == false' "$BODY" ||
		fail "$(cat "$BODY")"
	# Five distinct rows, ids strictly decreasing across the pages.
	run jq -sc '[.[].data[].id]' "$BATS_TEST_TMPDIR/p1" "$BATS_TEST_TMPDIR/p2" "$BATS_TEST_TMPDIR/p3"
	ids=$output
	jq -e 'length == 5 and . == (unique | reverse)' <<< "$ids" || fail "ids across pages: $ids"
	# The pages are what the ledger holds.
	run jq -sc '[.[].id] | reverse' <<< "$(rows)"
	assert_equal "$output" "$ids"
	run admin GET '/api/v1/transactions?limit=0'
	assert_output 400
	run admin GET '/api/v1/transactions?cursor=abc'
	assert_output 400
	run admin POST /api/v1/balance '{}'
	assert_output 405
}

@test "account API: without AROUTER_ADMIN_KEY the proxy uses the admin-key file, made 0600" {
	proxy_start
	file=$XDG_DATA_HOME/arouter/admin-key
	[[ -s $file ]] || fail "no admin-key file"
	assert_equal "$(stat -c %a "$file")" 600
	key=$(head -n 1 "$file")
	[[ $key == ar-admin-* ]] || fail "the admin key file holds '$key'"
	ADMIN_AS=$key run admin GET /api/v1/balance
	assert_output 200
	ADMIN_AS=$ADMIN run admin GET /api/v1/balance
	assert_output 401
	# The same file on the next start.
	proxy_stop
	proxy_start
	ADMIN_AS=$key run admin GET /api/v1/keys
	assert_output 200
	grep -rqF "$key" "$PROXY_LOG" "$PROXY_ERR" && fail "the admin key was logged"
	true
}

@test "keys list, balance and usage with --base-url the running proxy and AROUTER_ADMIN_KEY print what --local prints" {
	export AROUTER_ADMIN_KEY=$ADMIN
	create team --budget 2 --rpm 10 --models 'openai/*'
	team=$secret
	create other
	ar keys revoke other --local > /dev/null
	proxy_start
	KEY=$team send_ok openai openai/gpt-4o false
	KEY=$team send_ok anthropic openai/gpt-4o-mini true
	sleep 0.3
	# An absolute --since: the default window ends now, to the second.
	local cmd since
	since=$(date -u -d '1 day ago' +%Y-%m-%d)
	for cmd in "keys list" "keys list --all" "keys show team" "balance" "usage --since $since" \
		"usage --by key --since $since" "usage --by model --json --since $since"; do
		run --separate-stderr ar $cmd --local
		assert_success
		local_out=$output
		[[ -n $local_out ]] || fail "$cmd --local printed nothing"
		fake_reset
		run --separate-stderr ar $cmd --base-url "$PROXY_URL"
		assert_success
		assert_equal "$output" "$local_out"
		# It asked the proxy, not the fake.
		assert_equal "$(fake_request_count)" 0
	done
	run --separate-stderr ar usage --by key --base-url "$PROXY_URL"
	assert_output --partial team
	refute_output --partial "$team"
	refute_output --partial "$ADMIN"
	# Without the admin key the proxy refuses, and the CLI says so.
	unset AROUTER_ADMIN_KEY
	AROUTER_API_KEY=$team run --separate-stderr ar keys list --base-url "$PROXY_URL"
	assert_failure 4
	[[ $stderr != *"$team"* ]] || fail "the key was printed: $stderr"
}

# ==== writers at once, crashes ====

# jobs_wait PID...: waits for these background jobs only (a bare `wait`
# would wait for the proxy too).
jobs_wait() {
	local p
	for p in "$@"; do wait "$p" || true; done
}

@test "the proxy answering N requests while M direct chats run at once: exactly N+M rows" {
	local n=24 m=8 i dir=$BATS_TEST_TMPDIR/out chats=() batch=() d=(openai anthropic gemini) s=(false true)
	mkdir -p "$dir"
	proxy_start
	# Every answer takes 100 ms upstream, so that the chats' rows and the
	# proxy's are written during the same second or so.
	for ((i = 0; i < m; i++)); do
		(
			ar chat -m anthropic/claude-sonnet-4-6 "hi $i [[fake:stall=100]]" > "$dir/chat.$i" 2>&1
			echo "exit $?" >> "$dir/chat.$i"
		) 3>&- &
		chats+=($!)
	done
	for ((i = 0; i < n; i++)); do
		(BODY=/dev/null HEADERS=/dev/null send "${d[i % 3]}" openai/gpt-4o "${s[i % 2]}" "hi [[fake:stall=100]]" > "$dir/proxy.$i" 2>&1) 3>&- &
		batch+=($!)
		if ((${#batch[@]} == 4)); then
			jobs_wait "${batch[@]}"
			batch=()
		fi
	done
	jobs_wait "${batch[@]}" "${chats[@]}"
	for ((i = 0; i < n; i++)); do
		[[ $(cat "$dir/proxy.$i") == 200 ]] || fail "proxy request $i: $(cat "$dir/proxy.$i")"
	done
	for ((i = 0; i < m; i++)); do
		[[ $(tail -n 1 "$dir/chat.$i") == "exit 0" ]] || fail "chat $i failed: $(cat "$dir/chat.$i")"
		grep -q 'ledger' "$dir/chat.$i" && fail "chat $i could not write its row: $(cat "$dir/chat.$i")"
	done
	proxy_stop
	assert_equal "$(count_rows)" $((n + m))
	run jq -s 'map(select(.dialect == "cli" and .provider == "anthropic" and .prompt_tokens == 12 and .status == 200)) | length' <<< "$(rows)"
	assert_output $m
	run jq -s 'map(select(.dialect != "cli" and .provider == "openai" and .prompt_tokens == 12 and .status == 200)) | length' <<< "$(rows)"
	assert_output $n
}

@test "SIGKILL: every request answered 0.3 s before the kill has its row; the file stays intact" {
	local k=30 i ok dir=$BATS_TEST_TMPDIR/out batch=() d=(openai anthropic gemini) s=(false true)
	mkdir -p "$dir"
	proxy_start
	for ((i = 0; i < k; i++)); do
		(BODY=/dev/null HEADERS=/dev/null send "${d[i % 3]}" anthropic/claude-sonnet-4-6 "${s[i % 2]}" > "$dir/$i" 2>&1) 3>&- &
		batch+=($!)
		if ((${#batch[@]} == 3)); then
			jobs_wait "${batch[@]}"
			batch=()
		fi
	done
	jobs_wait "${batch[@]}"
	ok=$(cat "$dir"/* | grep -o '200' | wc -l)
	[[ $ok -eq $k ]] || fail "only $ok of $k requests were answered: $(cat "$dir"/*)"
	# The writer commits a row within one commit of its submission (~50 ms
	# at worst, ledger.h): a row still queued at the kill is lost by design,
	# so the kill comes 0.3 s after the last answer.
	sleep 0.3
	kill -KILL "$PROXY_PID"
	wait "$PROXY_PID" || true
	PROXY_PID=
	assert_equal "$(count_rows)" "$ok"
	# A new proxy on the same file appends after them.
	proxy_start
	send_ok openai openai/gpt-4o false
	proxy_stop
	assert_equal "$(count_rows)" $((ok + 1))
}

# ==== other processes beside a running proxy ====
# The proxy holds two connections to the ledger (the event loop's and the
# writer thread's). ledger_open() opens and close()s the database file
# itself before sqlite3_open_v2(), and a close() of any descriptor of a file
# drops every POSIX lock the process holds on it: the proxy's second
# ledger_open() releases the first connection's lock. The next process that
# closes the ledger (arouter keys, chat, usage...) then believes it is the
# last user, checkpoints and deletes ledger.db-wal and -shm while the proxy
# still writes to them.

@test "another process using the ledger beside the proxy: the proxy's rows stay visible, none of anyone's rows is lost, SIGKILL keeps them" {
	proxy_start
	send_ok openai openai/gpt-4o false
	ar keys list --local > /dev/null 2>&1
	send_ok openai openai/gpt-4o false
	ar chat -m anthropic/claude-sonnet-4-6 hi > /dev/null
	send_ok anthropic openai/gpt-4o true
	ar chat -m anthropic/claude-sonnet-4-6 hi > /dev/null
	send_ok gemini openai/gpt-4o false
	sleep 0.3
	[[ -e $LEDGER-wal ]] || fail "ledger.db-wal was deleted under the running proxy"
	# Committed rows are visible to every other connection.
	assert_equal "$(count_rows)" 6
	proxy_stop
	assert_equal "$(count_rows)" 6
	run jq -s 'map(.dialect) | sort' <<< "$(rows)"
	assert_equal "$(jq -c . <<< "$output")" '["anthropic","cli","cli","gemini","openai","openai"]'
	# And a SIGKILL after other processes came and went loses nothing.
	proxy_start
	ar usage --local > /dev/null 2>&1
	send_ok openai openai/gpt-4o false
	send_ok openai openai/gpt-4o true
	sleep 0.3
	kill -KILL "$PROXY_PID"
	wait "$PROXY_PID" || true
	PROXY_PID=
	assert_equal "$(count_rows)" 8
}

@test "a key revoked with the CLI while the proxy runs is refused within about a second" {
	create stays
	proxy_start
	# Made while the proxy runs, used, then revoked.
	create later
	KEY=$secret wait_for_status 200 3 openai openai/gpt-4o false > /dev/null
	ar keys revoke later --local > /dev/null
	ms=$(KEY=$secret wait_for_status 401 3 openai openai/gpt-4o false)
	[[ $ms -le 2000 ]] || fail "a revoked key still worked for $ms ms"
	jq -e '.error.message | test("revoked")' "$BODY" || fail "$(cat "$BODY")"
}

@test "a key made through the proxy's account API is in the ledger the CLI reads, at once" {
	export AROUTER_ADMIN_KEY=$ADMIN
	create first
	proxy_start
	ar keys list --local > /dev/null
	run admin POST /api/v1/keys '{"name":"api"}'
	assert_output 201
	run --separate-stderr ar keys show api --local --json
	assert_success
	jq -e '.data.name == "api"' <<< "$output" || fail "$output"
}

# ==== privacy ====

@test "privacy: no prompt text in the ledger or the logs; no client or provider secret in any output or file but the config" {
	local marker=PRIVATE-MARKER-7f3a9c sysmarker=SYSTEM-MARKER-1d5e88
	write_config > /dev/null <<- EOF
		{"providers": {"anthropic": {"api_key": "sk-ant-CONFIG-SECRET-4321"}},
		 "proxy": {"keys": [{"key": "ar-config-client-SECRET-999", "name": "cfg"}]}}
	EOF
	unset ANTHROPIC_API_KEY
	create local
	local_secret=$secret
	proxy_start -v
	local d m s
	for d in openai anthropic gemini; do
		for m in openai/gpt-4o anthropic/claude-sonnet-4-6 google/gemini-2.5-flash; do
			for s in false true; do
				KEY=$local_secret SYSTEM="be $sysmarker" send_ok "$d" "$m" "$s" "say $marker"
			done
		done
		KEY=ar-config-client-SECRET-999 SYSTEM="be $sysmarker" send_ok "$d" anthropic/claude-sonnet-4-6 true "say $marker"
		# Failures too: an upstream error and a refused key.
		fake_next 'status=500;retry_after=0'
		KEY=$local_secret send "$d" openai/gpt-4o false "say $marker" > /dev/null
		KEY=ar-local-WRONG-SECRET-000 send "$d" openai/gpt-4o false "say $marker" > /dev/null
	done
	# The marker did reach the upstream: the test would prove nothing otherwise.
	grep -q "$marker" "$FAKE_RECORD" || fail "the marker never reached the fake"
	grep -q "$sysmarker" "$FAKE_RECORD" || fail "the system marker never reached the fake"
	ar chat -m anthropic/claude-sonnet-4-6 -s "be $sysmarker" "say $marker" > "$BATS_TEST_TMPDIR/chat.out" 2> "$BATS_TEST_TMPDIR/chat.err"
	ar chat -v -u -m openai/gpt-4o --no-stream "say $marker" >> "$BATS_TEST_TMPDIR/chat.out" 2>> "$BATS_TEST_TMPDIR/chat.err"
	# While the proxy runs (WAL and shm present) and after it stopped.
	local f secrets=(sk-ant-CONFIG-SECRET-4321 "$OPENAI_API_KEY" "$GEMINI_API_KEY" ar-config-client-SECRET-999 "$local_secret")
	check_files() {
		local f s
		while IFS= read -r -d '' f; do
			case $f in
			"$XDG_CONFIG_HOME/arouter/config.json") continue ;;
			esac
			for s in "${secrets[@]}"; do
				grep -aqF -- "$s" "$f" && fail "a secret (…${s: -6}) is in $f"
			done
			case $f in
			# Chat keeps the conversation (its own text) for --continue.
			"$XDG_STATE_HOME/arouter/conversations/"* | "$XDG_STATE_HOME/arouter/history"*) continue ;;
			esac
			grep -aqF -e "$marker" -e "$sysmarker" -- "$f" && fail "prompt text is in $f"
		done < <(find "$HOME" "$BATS_TEST_TMPDIR/proxy" -type f -print0)
		true
	}
	check_files
	proxy_stop
	check_files
	[[ $(count_rows) -ge 20 ]] || fail "only $(count_rows) rows"
	# The ledger holds the config key by name and the local key by id.
	run jq -s '[.[].key_id] | unique' <<< "$(rows)"
	assert_output --partial '"cfg"'
	assert_output --partial "\"$key_id\""
	# Nor any output: the chats' stdout and stderr.
	for s in "${secrets[@]}"; do
		grep -aqF -- "$s" "$BATS_TEST_TMPDIR/chat.out" "$BATS_TEST_TMPDIR/chat.err" && fail "a secret (…${s: -6}) was printed by chat"
	done
	# The CLI's reports hold no text either.
	run --separate-stderr ar usage --local --by model --json
	refute_output --partial "$marker"
	run --separate-stderr ar keys list --local --all --json
	refute_output --partial "$local_secret"
}

# ==== the ledger off ====

@test "\"proxy\": {\"ledger\": false}: no database, no admin key file; requests still answered; the account API says why not" {
	write_config > /dev/null <<< '{"proxy": {"ledger": false}}'
	export AROUTER_ADMIN_KEY=$ADMIN
	proxy_start
	send_ok openai openai/gpt-4o false
	send_ok anthropic anthropic/claude-sonnet-4-6 true
	send_ok gemini google/gemini-2.5-flash true
	run admin GET /api/v1/balance
	assert_output 503
	jq -e '.error.code == "ledger_unavailable"' "$BODY" || fail "$(cat "$BODY")"
	proxy_stop
	[[ ! -e $XDG_DATA_HOME/arouter ]] || fail "the proxy wrote $(ls -A "$XDG_DATA_HOME/arouter")"
	run grep -c 'served=' "$PROXY_LOG"
	assert_output 3
}

@test "the provider passthrough records a row with the usage read from the answer, streamed or not" {
	proxy_start
	curl -sS -o /dev/null "$PROXY_URL/openai/v1/chat/completions" -H 'Content-Type: application/json' \
		-d '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
	curl -sS -o /dev/null "$PROXY_URL/anthropic/v1/messages" -H 'Content-Type: application/json' \
		-d '{"model":"claude-x","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
	curl -sS -o /dev/null "$PROXY_URL/google/v1beta/models/gemini-x:generateContent" \
		-d '{"contents":[{"parts":[{"text":"hi"}]}]}'
	curl -sS -o /dev/null "$PROXY_URL/openai/v1/models"
	proxy_stop
	PROXY_PID=
	run rows
	assert_equal "${#lines[@]}" 4
	jq -se 'map(select(.dialect == "passthrough")) | length == 4' <<< "$output"
	jq -se '.[0] | .provider == "openai" and .model == "gpt-4o" and .prompt_tokens == 12 and .completion_tokens == 5 and .status == 200' <<< "$output"
	jq -se '.[1] | .provider == "anthropic" and .model == "claude-x" and .prompt_tokens == 12 and .completion_tokens == 5' <<< "$output"
	jq -se '.[2] | .provider == "google" and .model == "gemini-x" and .prompt_tokens == 12' <<< "$output"
	# A models list carries no usage: the row says so rather than zeros.
	jq -se '.[3] | .usage_known == 0 and .prompt_tokens == null and .model == "-"' <<< "$output"
}

@test "embeddings are recorded with their usage; a key's model patterns and budget bind the passthrough, embeddings and token counts" {
	proxy_start
	curl -sS -o /dev/null "$PROXY_URL/v1/embeddings" -d '{"model":"openai/text-embedding-3-small","input":"hi"}'
	run "$AROUTER" keys create --name narrow --models 'anthropic/*' --local
	assert_success
	local key=${lines[0]}
	sleep 1.2
	for path in /openai/v1/chat/completions /v1/embeddings; do
		run curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "$PROXY_URL$path" \
			-d '{"model":"openai/text-embedding-3-small","input":"hi","messages":[]}'
		assert_output 403
	done
	run curl -sS -o /dev/null -w '%{http_code}' -H "x-api-key: $key" "$PROXY_URL/v1/messages/count_tokens" \
		-d '{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}]}'
	assert_output 403
	run curl -sS -o /dev/null -w '%{http_code}' -H "x-api-key: $key" "$PROXY_URL/anthropic/v1/messages" \
		-d '{"model":"claude-x","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'
	assert_output 200
	proxy_stop
	PROXY_PID=
	run rows
	jq -se '.[0] | .model == "text-embedding-3-small" and .usage_known == 1 and .prompt_tokens != null' <<< "$output"
	# The refused requests left no rows; the allowed passthrough did.
	jq -se 'length == 2 and .[1].provider == "anthropic" and (.[1].key_id | length) > 0' <<< "$output"
}
