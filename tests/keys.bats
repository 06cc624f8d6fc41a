#!/usr/bin/env bats
# `arouter keys` and `arouter balance`: on the local ledger (secrets printed
# once, only hashes stored, budgets and spends), and against a gateway (the
# fake upstream's fixed account API) through the same printing code.

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
	unset AROUTER_ADMIN_KEY
	LEDGER_TOOL=${LEDGER_TOOL:-$BATS_TEST_DIRNAME/ledger-tool}
	LEDGER=$XDG_DATA_HOME/arouter/ledger.db
}

ADMIN=ar-admin-SECRET523456789
GATEWAY_KEY=lr_live_SECRET623456789

# Every run is bounded (124 means it hung) and never waits on a terminal.
ar() { timeout 30 "$AROUTER" "$@" < /dev/null; }
record() { "$LEDGER_TOOL" record "$LEDGER" > /dev/null; }

# stderr is exactly one line starting "arouter: ".
assert_error_line() {
	[[ "$stderr" == "arouter: "* ]] || fail "stderr does not start with 'arouter: ': '$stderr'"
	[[ "$stderr" != *$'\n'* ]] || fail "stderr is more than one line: '$stderr'"
}

refute_secrets() {
	local s
	for s in "$@" SECRET523456789 SECRET623456789; do
		[[ "$output" != *"$s"* ]] || fail "a secret (…${s: -6}) was printed to stdout: $output"
		[[ "${stderr:-}" != *"$s"* ]] || fail "a secret (…${s: -6}) was printed to stderr: $stderr"
	done
}

# create NAME [OPTIONS...]: creates a local key; its secret is in $secret.
create() {
	run --separate-stderr ar keys create --name "$@"
	assert_success
	secret=$output
}

# ==== the local ledger ====

@test "keys create prints the secret once on stdout and a hint on stderr; only its hash is stored" {
	run --separate-stderr ar keys create --name ci --budget 5 --rpm 60
	assert_success
	assert_output --regexp '^ar-local-[0-9A-Za-z]{40}$'
	local s=$output
	[[ "$stderr" == "arouter: created key 'ci' (id "[0-9a-f]*"); its secret is shown only this once: store it now" ]] ||
		fail "stderr: $stderr"
	[[ $(stat -c %a "$LEDGER") == 600 ]] || fail "ledger mode $(stat -c %a "$LEDGER")"
	[[ $(stat -c %a "$(dirname "$LEDGER")") == 700 ]] || fail "ledger dir mode"
	# The secret is nowhere in the database, its WAL or its shared memory.
	! grep -qaF "$s" "$LEDGER"* || fail "the secret is in the ledger files"
	! grep -qaF "${s#ar-local-}" "$LEDGER"* || fail "the secret's random part is in the ledger files"
	# ...and never shown again.
	for args in "keys list" "keys list --all" "keys list --json" "keys show ci" "keys show ci --json" "balance" "balance --json"; do
		run --separate-stderr ar $args
		assert_success
		refute_secrets "$s" "${s#ar-local-}"
		refute_output --partial ar-local-
	done
}

@test "keys list: ids, names, limits, models, expiry and status; --all adds revoked keys" {
	create ci --budget 5 --rpm 60 --tpm 1000 --models 'openai/*,anthropic/*' --expires 2099-12-31
	create dev
	create old
	ar keys revoke old > /dev/null
	run --separate-stderr ar keys list
	assert_success
	assert_line --index 0 --regexp '^ID +NAME +BUDGET +SPEND +RPM +TPM +MODELS +EXPIRES +STATUS$'
	assert_line --index 1 --regexp '^[0-9a-f]{8}  ci +\$5\.00 +\$0\.00 +60 +1000  openai/\*, anthropic/\*  2099-12-31T00:00:00Z  active$'
	assert_line --index 2 --regexp '^[0-9a-f]{8}  dev +- +\$0\.00 +- +-  all +- +active$'
	[[ ${#lines[@]} == 3 ]] || fail "revoked key listed: $output"
	run --separate-stderr ar keys list --all
	assert_success
	assert_line --index 3 --regexp '^[0-9a-f]{8}  old .* revoked$'
	run --separate-stderr ar keys list --json
	assert_success
	jq -e '.data | length == 2 and .[0].name == "ci" and .[0].budget == 5 and .[0].rpm == 60 and .[0].tpm == 1000
		and .[0].models == ["openai/*", "anthropic/*"] and .[0].expires_at == "2099-12-31T00:00:00Z"
		and .[1].budget == null and .[1].models == [] and (.[0].id | test("^[0-9a-f]{8}$"))' <<< "$output"
}

@test "keys with no subcommand lists; an empty ledger says how to create one" {
	run --separate-stderr ar keys
	assert_success
	assert_output "no active keys (create one with 'arouter keys create --name NAME')"
}

@test "keys show finds a key by id or by name; an unknown key fails with one line and exit 1" {
	create ci --budget 2.5 --models 'google/*' --models 'openai/gpt-4o*'
	run --separate-stderr ar keys list --json
	local id
	id=$(jq -r '.data[0].id' <<< "$output")
	run --separate-stderr ar keys show "$id"
	assert_success
	local by_id=$output
	run --separate-stderr ar keys show ci
	assert_success
	assert_equal "$output" "$by_id"
	assert_line --index 0 "id         $id"
	assert_line --index 1 "name       ci"
	assert_line --index 2 "status     active"
	assert_line --index 3 'budget     $2.50'
	assert_line --index 4 'spend      $0.00'
	assert_line --index 5 'remaining  $2.50'
	assert_line --index 6 'rpm        -'
	assert_line --index 8 'models     google/*, openai/gpt-4o*'
	assert_line --index 9 'expires    -'
	run --separate-stderr ar keys show nope
	assert_failure 1
	assert_equal "$stderr" "arouter: keys: no key 'nope'"
	assert_output ""
}

@test "keys update changes limits; none, never and all remove them; names stay unique" {
	create ci --budget 5 --rpm 60 --models 'openai/*' --expires 30d
	create dev
	run --separate-stderr ar keys update ci --name bot --budget none --tpm 500 --models all --expires never
	assert_success
	assert_line 'name       bot'
	assert_line 'budget     -'
	assert_line 'rpm        60'
	assert_line 'tpm        500'
	assert_line 'models     all'
	assert_line 'expires    -'
	run --separate-stderr ar keys update bot --budget 0.000015
	assert_success
	assert_line 'budget     $0.000015'
	run --separate-stderr ar keys update bot --name dev
	assert_failure 1
	assert_equal "$stderr" "arouter: keys: an active key is already named 'dev'"
	run --separate-stderr ar keys update ghost --rpm 1
	assert_failure 1
	assert_error_line
}

@test "keys revoke; a revoked key cannot change; revoking again succeeds" {
	create ci
	run --separate-stderr ar keys revoke ci
	assert_success
	assert_output --regexp "^revoked key 'ci' \(id [0-9a-f]{8}\)$"
	run --separate-stderr ar keys show ci
	assert_line 'status     revoked'
	assert_line --regexp '^revoked    [0-9T:-]+Z$'
	run --separate-stderr ar keys update ci --rpm 5
	assert_failure 1
	assert_equal "$stderr" "arouter: keys: key 'ci' is revoked; create a new one"
	run --separate-stderr ar keys revoke ci
	assert_success
	create ci
	run --separate-stderr ar keys list
	assert_line --index 1 --regexp ' ci .*active$'
}

@test "keys create with a name in use fails with exit 1; --json prints the API answer with the secret" {
	create ci
	run --separate-stderr ar keys create --name ci
	assert_failure 1
	assert_equal "$stderr" "arouter: keys: an active key is already named 'ci'"
	run --separate-stderr ar keys create --name ci2 --budget 1.5 --json
	assert_success
	jq -e '(.key | test("^ar-local-[0-9A-Za-z]{40}$")) and .data.name == "ci2" and .data.budget == 1.5
		and .data.spend == 0 and .data.remaining == 1.5 and .data.revoked == false' <<< "$output"
	[[ "$stderr" == *"shown only this once"* ]]
}

@test "keys: bad options and arguments exit 2 with one line" {
	local cases=(
		"keys creat --name x|no subcommand 'creat' (did you mean 'create'?)"
		"keys create|create needs --name NAME"
		"keys create --name x --budget -1|--budget takes US dollars"
		"keys create --name x --budget lots|--budget takes US dollars"
		"keys create --name x --rpm 1.5|--rpm takes a whole number"
		"keys create --name x --expires someday|--expires takes YYYY-MM-DD"
		"keys create --name x --expires 2001-01-01|--expires '2001-01-01' is in the past"
		"keys create --name x --models ,|--models takes glob patterns"
		"keys list --budget 5|--budget is for create and update, not list"
		"keys show --all ci|--all is for list, not show"
		"keys show|show needs a KEY"
		"keys update ci|update needs something to change"
		"keys show a b|unexpected argument 'b'"
		"keys list --bugdet 5|unknown option '--bugdet' (did you mean '--budget'?)"
	)
	local c
	for c in "${cases[@]}"; do
		run --separate-stderr ar ${c%%|*}
		[[ $status == 2 ]] || fail "'${c%%|*}' exited $status: $stderr"
		[[ "$stderr" == *"${c#*|}"* ]] || fail "'${c%%|*}': stderr '$stderr' lacks '${c#*|}'"
		assert_error_line
	done
	[[ ! -e $LEDGER ]] || fail "a refused command touched the ledger"
}

@test "balance: each key's budget, spend and remainder, and the totals, from the local ledger" {
	create ci --budget 1
	create dev
	create gone --budget 100
	ar keys revoke gone > /dev/null
	record <<- 'EOF'
		{"time":"2026-01-01T10:00:00Z","key":"ci","prompt":10,"completion":5,"cost":0.1}
		{"time":"2026-01-01T11:00:00Z","key":"ci","prompt":10,"completion":5,"cost":0.2}
		{"time":"2026-01-02T10:00:00Z","key":"dev","prompt":10,"completion":5,"cost":0.7}
		{"time":"2026-01-02T11:00:00Z","prompt":10,"completion":5,"cost":2}
		{"time":"2026-01-02T12:00:00Z","key":"ci"}
	EOF
	run --separate-stderr ar balance
	assert_success
	assert_line --index 0 'credits  $1.00'
	assert_line --index 1 'usage    $3.00'
	assert_line --index 2 'balance  $0.70'
	assert_line --index 3 --regexp '^KEY +NAME +BUDGET +SPEND +REMAINING$'
	assert_line --index 4 --regexp '^[0-9a-f]{8}  ci     \$1\.00  \$0\.30      \$0\.70$'
	assert_line --index 5 --regexp '^[0-9a-f]{8}  dev        -  \$0\.70          -$'
	assert_line --index 6 'total            $1.00  $1.00      $0.70'
	[[ ${#lines[@]} == 7 ]] || fail "the revoked key is shown: $output"
	run --separate-stderr ar balance --json
	assert_success
	jq -e '.data.total_credits == 1 and .data.total_usage == 3 and .data.balance == 0.7
		and (.data.keys | length == 2) and .data.keys[0].spend == 0.3 and .data.keys[1].remaining == null' <<< "$output"
	# Exact decimals, not binary fractions: 0.1 + 0.2 is 0.3.
	[[ "$output" == *'"spend":0.3,'* ]] || fail "spend is not exactly 0.3: $output"
}

@test "balance with no keys prints the totals only; a ledger without budgets has no credits" {
	run --separate-stderr ar balance
	assert_success
	assert_output $'credits  -\nusage    $0.00\nbalance  -'
	run --separate-stderr ar balance extra
	assert_failure 2
	assert_error_line
}

@test "a key made with the CLI is in the ledger a running proxy reads (no cache to go stale)" {
	create ci --budget 3
	record <<< '{"key":"ci","prompt":1,"completion":1,"cost":1.25}'
	run --separate-stderr ar keys show ci
	assert_line 'spend      $1.25'
	assert_line 'remaining  $1.75'
}

# ==== against a gateway: the fake upstream's fixed account API ====

gateway() { export AROUTER_BASE_URL=$FAKE_URL AROUTER_ADMIN_KEY=$ADMIN; }
last() { fake_last_request; }

@test "gateway: balance is asked with the admin key and printed by the same code" {
	gateway
	run --separate-stderr ar balance
	assert_success
	assert_output "$(printf '%s\n' 'credits  $25.00' 'usage    $3.50' 'balance  $21.50' '' \
		'KEY       NAME    BUDGET  SPEND  REMAINING' \
		'gw000001  hosted  $10.00  $3.50      $6.50' \
		'total             $10.00  $3.50      $6.50')"
	refute_secrets
	last | jq -e --arg a "Bearer $ADMIN" '.method == "GET" and .path == "/api/v1/balance" and .headers.authorization == $a'
	run --separate-stderr ar balance --json
	assert_success
	jq -e '.data.total_credits == 25 and .data.keys[0].id == "gw000001"' <<< "$output"
	[[ -e $LEDGER ]] && fail "gateway mode opened the local ledger"
	true
}

@test "gateway: keys list, show, create, update and revoke send the right requests" {
	gateway
	run --separate-stderr ar keys list
	assert_success
	assert_line --index 1 --regexp '^gw000001  hosted  \$10\.00  \$3\.50    -    -  all     -        active$'
	last | jq -e '.method == "GET" and .path == "/api/v1/keys" and .query == ""'
	run --separate-stderr ar keys list --all
	last | jq -e '.query == "include_revoked=true"'
	run --separate-stderr ar keys show 'my key'
	assert_success
	assert_line 'name       hosted'
	last | jq -e '.method == "GET" and .path == "/api/v1/keys/my%20key"'
	run --separate-stderr ar keys create --name ci --budget 2 --rpm 10 --models 'openai/*' --expires 2099-01-01
	assert_success
	assert_output ar-fake-0123456789abcdefghijklmnop
	[[ "$stderr" == "arouter: created key 'ci' (id gw000001); its secret is shown only this once: store it now" ]]
	last | jq -e '.method == "POST" and .path == "/api/v1/keys" and (.headers["content-type"] == "application/json")'
	last | jq -e '.body | fromjson | . == {"name":"ci","budget":2,"rpm":10,"models":["openai/*"],"expires":"2099-01-01T00:00:00Z"}'
	run --separate-stderr ar keys update gw000001 --budget none --models all --tpm 0
	assert_success
	last | jq -e '.method == "PATCH" and .path == "/api/v1/keys/gw000001"'
	last | jq -e '.body | fromjson | . == {"budget":null,"models":null,"tpm":0}'
	run --separate-stderr ar keys revoke gw000001
	assert_success
	assert_output "revoked key 'hosted' (id gw000001)"
	last | jq -e --arg a "Bearer $ADMIN" '.method == "DELETE" and .path == "/api/v1/keys/gw000001" and .headers.authorization == $a'
	refute_secrets
}

@test "gateway: AROUTER_API_KEY is the key when there is no admin key; none at all exits 3" {
	export AROUTER_BASE_URL=$FAKE_URL
	run --separate-stderr ar balance
	assert_failure 3
	assert_equal "$stderr" "arouter: balance: no key for the gateway $FAKE_URL (set AROUTER_ADMIN_KEY or AROUTER_API_KEY, or use --local)"
	assert_equal "$(fake_request_count)" 0
	export AROUTER_API_KEY=$GATEWAY_KEY
	run --separate-stderr ar keys list
	assert_success
	last | jq -e --arg a "Bearer $GATEWAY_KEY" '.headers.authorization == $a'
	refute_secrets
}

@test "gateway: selected by AROUTER_API_KEY alone (hosted default); --local uses the ledger" {
	export AROUTER_API_KEY=$GATEWAY_KEY
	# The default base URL is the hosted API; point the config at the fake.
	write_config <<< "{\"base_url\": \"$FAKE_URL/v1\"}" > /dev/null
	run --separate-stderr ar balance
	assert_success
	assert_line --index 0 'credits  $25.00'
	assert_equal "$(fake_request_count)" 1
	run --separate-stderr ar balance --local
	assert_success
	assert_line --index 0 'credits  -'
	run --separate-stderr ar keys create --local --name here
	assert_success
	assert_output --regexp '^ar-local-'
	assert_equal "$(fake_request_count)" 1
}

@test "gateway: 401 exits 4, 404 and garbage exit 6, no connection exits 7; one line, no secret" {
	gateway
	fake_next 'status=401'
	run --separate-stderr ar keys list
	assert_failure 4
	assert_equal "$stderr" "arouter: keys: $FAKE_URL: 401 fake error 401 (check AROUTER_ADMIN_KEY or AROUTER_API_KEY)"
	fake_next 'status=403'
	run --separate-stderr ar balance
	assert_failure 4
	assert_error_line
	fake_next 'status=429'
	run --separate-stderr ar balance
	assert_failure 5
	fake_next 'status=500'
	run --separate-stderr ar balance
	assert_failure 6
	assert_error_line
	fake_next 'garbage'
	run --separate-stderr ar balance
	assert_failure 6
	assert_equal "$stderr" "arouter: balance: $FAKE_URL: the answer to GET /api/v1/balance is not a JSON object"
	fake_next 'html;status=502'
	run --separate-stderr ar keys show x
	assert_failure 6
	assert_error_line
	refute_secrets
	export AROUTER_BASE_URL=http://127.0.0.1:9
	run --separate-stderr ar keys list
	assert_failure 7
	assert_error_line
	refute_secrets
}
