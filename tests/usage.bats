#!/usr/bin/env bats
# `arouter usage` on rows written through ledger_record (tests/ledger-tool):
# sums by day, model, provider and key, the bar chart on a terminal, a
# gateway's answer through the same printing; and the ledger's durability:
# a writer killed with SIGKILL keeps every row it reported committed, and
# the CLI writes while a writer does.

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
	isolate_env
	fake_reset
	LEDGER_TOOL=${LEDGER_TOOL:-$BATS_TEST_DIRNAME/ledger-tool}
	LEDGER=$XDG_DATA_HOME/arouter/ledger.db
	WRITER_PID=
}

teardown() {
	# A writer still running (a failed test) is ours to stop.
	if [[ -n $WRITER_PID ]]; then kill -KILL "$WRITER_PID" 2>/dev/null || true; fi
}

ar() { timeout 30 "$AROUTER" "$@" < /dev/null; }
record() { "$LEDGER_TOOL" record "$LEDGER" > /dev/null; }
rows() { "$LEDGER_TOOL" count "$LEDGER"; }

# Two days of requests from two providers, three models, a key and none.
sample() {
	timeout 30 "$AROUTER" keys create --name team > /dev/null 2>&1
	record <<- 'EOF'
		{"time":"2026-01-01T10:00:00Z","key":"team","provider":"openai","model":"gpt-4o","prompt":100,"completion":10,"cost":0.1}
		{"time":"2026-01-01T11:00:00Z","key":"team","provider":"openai","model":"gpt-4o","prompt":200,"completion":20,"cached":50,"cost":0.2}
		{"time":"2026-01-01T23:59:59Z","provider":"anthropic","model":"claude-sonnet-4-6","prompt":1000,"completion":100,"reasoning":40,"cost":1.25}
		{"time":"2026-01-02T00:00:00Z","provider":"openai","model":"gpt-4o-mini","prompt":7,"completion":3,"cost":0.000001}
		{"time":"2026-01-02T08:00:00Z","key":"team","provider":"anthropic","model":"claude-sonnet-4-6","status":502}
		{"time":"2025-12-31T23:59:59Z","provider":"openai","model":"gpt-4o","prompt":5000,"completion":5000,"cost":50}
	EOF
}

@test "usage by day: requests, tokens and cost per UTC day and in total; no bars off a terminal" {
	sample
	run --separate-stderr ar usage --since 2026-01-01
	assert_success
	assert_output "$(printf '%s\n' \
		'DAY         REQUESTS  PROMPT  COMPLETION       COST' \
		'2026-01-01         3    1300         130      $1.55' \
		'2026-01-02         2       7           3  $0.000001' \
		'total              5    1307         133  $1.550001' \
		'1 request reported no usage; its tokens are not counted' \
		'1 request had no known price; its cost is not counted' \
		'1 request failed')"
	[[ "$output" != *'█'* && "$output" != *'#'* ]] || fail "bars in a pipe: $output"
	assert_equal "$stderr" ""
}

@test "usage by model, provider and key: the costliest first" {
	sample
	run --separate-stderr ar usage --since 2026-01-01 --by model
	assert_success
	assert_line --index 0 --regexp '^MODEL +REQUESTS +PROMPT +COMPLETION +COST$'
	assert_line --index 1 --regexp '^anthropic/claude-sonnet-4-6 +2 +1000 +100 +\$1\.25$'
	assert_line --index 2 --regexp '^openai/gpt-4o +2 +300 +30 +\$0\.30$'
	assert_line --index 3 --regexp '^openai/gpt-4o-mini +1 +7 +3 +\$0\.000001$'
	assert_line --index 4 --regexp '^total +5 +1307 +133 +\$1\.550001$'
	run --separate-stderr ar usage --since 2026-01-01 --by provider
	assert_success
	assert_line --index 1 --regexp '^anthropic +2 +1000 +100 +\$1\.25$'
	assert_line --index 2 --regexp '^openai +3 +307 +33 +\$0\.300001$'
	run --separate-stderr ar usage --since 2026-01-01 --by key
	assert_success
	assert_line --index 0 --regexp '^KEY +REQUESTS'
	assert_line --index 1 --regexp '^\(no key\) +2 +1007 +103 +\$1\.250001$'
	assert_line --index 2 --regexp '^team \([0-9a-f]{8}\) +3 +300 +30 +\$0\.30$'
}

@test "usage: a group with no reported usage or price shows dashes, not zeros" {
	record <<< '{"time":"2026-01-05T10:00:00Z","provider":"google","model":"gemini-2.5-flash","status":200}'
	run --separate-stderr ar usage --since 2026-01-05 --by provider
	assert_success
	assert_line --index 1 --regexp '^google +1 +- +- +-$'
}

@test "usage --json: exact sums, the grouping and the window" {
	sample
	run --separate-stderr ar usage --since 2026-01-01 --by day --json
	assert_success
	jq -e '.by == "day" and .since == "2026-01-01T00:00:00Z" and (.data | length == 2)
		and .data[0].group == "2026-01-01" and .data[0].requests == 3 and .data[0].prompt_tokens == 1300
		and .data[0].cached_tokens == 50 and .data[0].reasoning_tokens == 40 and .data[0].total_tokens == 1430
		and .totals.requests == 5 and .totals.failed == 1 and .totals.requests_without_usage == 1
		and .totals.requests_without_cost == 1 and .totals.completion_tokens == 133' <<< "$output"
	# 0.1 + 0.2 + 1.25 is 1.55 exactly, not 1.5500000000000003.
	[[ "$output" == *'"cost":1.55,'* ]] || fail "not exact: $output"
	[[ "$output" == *'"cost":1.550001,'* ]] || fail "total not exact: $output"
}

@test "usage --since takes durations back from now; the default is 30 days" {
	record <<- 'EOF'
		{"time":"2h","prompt":1,"completion":1,"cost":0.01}
		{"time":"3d","prompt":2,"completion":2,"cost":0.02}
		{"time":"40d","prompt":4,"completion":4,"cost":0.04}
	EOF
	run --separate-stderr ar usage --since 1d --by provider
	assert_line --index 1 --regexp '^openai +1 +1 +1 +\$0\.01$'
	run --separate-stderr ar usage --since 1w --by provider
	assert_line --index 1 --regexp '^openai +2 +3 +3 +\$0\.03$'
	run --separate-stderr ar usage --by provider
	assert_line --index 1 --regexp '^openai +2 +3 +3 +\$0\.03$'
	run --separate-stderr ar usage --since 2000-01-01T00:00:00+01:00 --by provider
	assert_line --index 1 --regexp '^openai +3 +7 +7 +\$0\.07$'
}

@test "usage with nothing recorded says so" {
	run --separate-stderr ar usage --since 2026-01-01
	assert_success
	assert_output "no requests since 2026-01-01T00:00:00Z"
}

@test "usage: bad options exit 2 with one line" {
	run --separate-stderr ar usage --by modle
	assert_failure 2
	assert_equal "$stderr" "arouter: usage: --by takes day, model, provider or key, not 'modle' (did you mean 'model'?) (see 'arouter help usage')"
	run --separate-stderr ar usage --since last-week
	assert_failure 2
	assert_equal "$stderr" "arouter: usage: --since takes YYYY-MM-DD, an ISO 8601 time or a duration like 7d, not 'last-week' (see 'arouter help usage')"
	run --separate-stderr ar usage --since 2026-02-30
	assert_failure 2
	run --separate-stderr ar usage extra
	assert_failure 2
}

# on_tty COMMAND: runs COMMAND with a pseudo-terminal as its stdout.
on_tty() { timeout 30 script -qec "$1" /dev/null < /dev/null | tr -d '\r'; }

@test "usage on a terminal ends each row with a bar in proportion to its cost" {
	sample
	command -v script > /dev/null || skip "script(1) is not installed"
	run on_tty "LANG=C.UTF-8 '$AROUTER' usage --since 2026-01-01 --by provider"
	assert_success
	assert_line --index 1 --regexp '^anthropic +2 +1000 +100 +\$1\.25  ████████████████████$'
	# 0.300001 of 1.25 is 4.8 cells: four full blocks and six eighths.
	assert_line --index 2 --regexp '^openai +3 +307 +33 +\$0\.300001  ████▊$'
	assert_line --index 3 --regexp '^total +5 +1307 +133 +\$1\.550001$'
	run on_tty "LANG=C '$AROUTER' usage --since 2026-01-01 --by provider"
	assert_line --index 1 --regexp '\$1\.25  #{20}$'
	assert_line --index 2 --regexp '\$0\.300001  #{5}$'
}

@test "gateway: usage asks /api/v1/usage with an absolute window and prints the answer the same way" {
	export AROUTER_BASE_URL=$FAKE_URL AROUTER_ADMIN_KEY=ar-admin-SECRET723456789
	run --separate-stderr ar usage --since 2026-01-01T12:00:00+02:00 --by day
	assert_success
	assert_output "$(printf '%s\n' \
		'DAY         REQUESTS  PROMPT  COMPLETION   COST' \
		'2026-01-01         3      30          15  $0.75' \
		'total              3      30          15  $0.75')"
	fake_last_request | jq -e '.method == "GET" and .path == "/api/v1/usage"
		and .query == "by=day&since=2026-01-01T10%3A00%3A00Z"
		and .headers.authorization == "Bearer ar-admin-SECRET723456789"'
	[[ "$output$stderr" != *SECRET723456789* ]] || fail "the admin key was printed"
	run --separate-stderr ar usage --by key --json
	assert_success
	jq -e '.totals.cost == 0.75' <<< "$output"
	fake_last_request | jq -e '.query | startswith("by=key&since=")'
}

# ==== durability ====

# start_writer ARGS...: ledger-tool writer in the background, its stdout in $WOUT.
start_writer() {
	WOUT=$BATS_TEST_TMPDIR/writer.out
	mkdir -p "$(dirname "$LEDGER")"
	"$LEDGER_TOOL" writer "$LEDGER" "$@" > "$WOUT" 2> "$BATS_TEST_TMPDIR/writer.err" 3>&- &
	WRITER_PID=$!
}

# wait_line REGEXP: waits (up to 30 s) until the writer printed a matching line.
wait_line() {
	local i
	for ((i = 0; i < 300; i++)); do
		grep -qE "$1" "$WOUT" && return 0
		kill -0 "$WRITER_PID" 2>/dev/null || { cat "$BATS_TEST_TMPDIR/writer.err" >&2; fail "the writer died"; }
		sleep 0.1
	done
	fail "the writer never printed '$1': $(cat "$WOUT")"
}

kill_writer() {
	kill -KILL "$WRITER_PID"
	wait "$WRITER_PID" 2>/dev/null || true
	WRITER_PID=
}

@test "SIGKILL after a flush and after rows committed without one loses nothing" {
	start_writer 25 4 7
	wait_line '^flushed 100$'
	wait_line '^committed 107$'
	wait_line '^waiting$'
	kill_writer
	run rows
	assert_success
	assert_output 107
}

@test "SIGKILL in the middle of writing keeps every row reported flushed, and the file intact" {
	start_writer 10 0
	wait_line '^flushed 300$'
	kill_writer
	local last
	last=$(grep '^flushed ' "$WOUT" | tail -n 1 | cut -d' ' -f2)
	run rows
	assert_success
	# The writer may have committed a batch it had no time to report.
	((output >= last)) || fail "only $output rows after $last were reported flushed"
	((output <= last + 10)) || fail "$output rows, more than submitted (at most $((last + 10)))"
	# The ledger is still usable after the kill.
	run --separate-stderr ar usage --since 1h --json
	assert_success
	jq -e --argjson n "$last" '.totals.requests >= $n' <<< "$output"
}

@test "the CLI writes to the ledger while a writer thread does" {
	start_writer 20 0
	wait_line '^flushed 100$'
	local name
	# (not $i: bats' run would change it under us)
	for name in k1 k2 k3 k4 k5; do
		run --separate-stderr ar keys create --name "$name" --budget 1
		assert_success
		record <<< "{\"key\":\"$name\",\"prompt\":1,\"completion\":1,\"cost\":0.5,\"provider\":\"cli\"}"
	done
	kill_writer
	run --separate-stderr ar usage --since 1h --by key --json
	assert_success
	jq -e '[.data[] | select(.name != null)] | length == 5 and all(.requests == 1)' <<< "$output"
	run --separate-stderr ar balance --json
	jq -e '.data.keys | length == 5 and all(.spend == 0.5 and .remaining == 0.5)' <<< "$output"
	run rows
	assert_success
}
