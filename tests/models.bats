#!/usr/bin/env bats
# `arouter models`: the catalog as a table and as JSON, the query and
# provider filters, the config file's additions, --live against the fake
# upstream in each dialect, and the gateway's own list.

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
	fake_reset
}

OPENAI_KEY=sk-test-SECRET111111111
ANTHROPIC_KEY=sk-ant-test-SECRET22222222
GEMINI_KEY=AIza-test-SECRET33333333
GATEWAY_KEY=lr_live_SECRET444444444444

# Every run is bounded (124 means it hung) and never waits on the terminal.
models() { timeout 30 "$AROUTER" models "$@" </dev/null; }

# Providers at the fake, but not the gateway: the list stays local.
providers_at_fake() {
	use_fake_for_all
	unset AROUTER_BASE_URL
}

refute_secrets() {
	refute_output --partial SECRET
	refute_sanitizer_report
}

# ==== the catalog ====

@test "the catalog as a table: id, context, dollars per million in and out" {
	run --separate-stderr models
	assert_success
	assert_line --index 0 --regexp '^MODEL +CONTEXT +\$/M IN +\$/M OUT$'
	assert_line --regexp '^anthropic/claude-sonnet-4-6 +1M +3\.00 +15\.00$'
	assert_line --regexp '^openai/gpt-4o-mini +128K +0\.15 +0\.60$'
	assert_line --regexp '^openai/gpt-4\.1 +1M +2\.00 +8\.00$'
	assert_line --regexp '^google/gemini-2\.5-flash +1M +0\.30 +2\.50$'
	assert_line --regexp '^cohere/command-r7b-12-2024 +128K +0\.0375 +0\.15$'
	assert_line --regexp '^nvidia/meta/llama-3\.1-70b-instruct +131K +- +-$'
	assert_line --regexp '^ollama/llama3\.2 +131K +0\.00 +0\.00$'
	# Not a terminal: no escape codes; nothing asked over the network.
	refute_output --partial $'\e['
	assert_equal "$stderr" ""
	assert_equal "$(fake_request_count)" 0
	# Columns line up: every price column ends at the same place.
	assert_equal "$(awk '{ print length($0) }' <<<"$output" | sort -u | wc -l)" 1
}

@test "--json prints the list as GET /v1/models does, one entry per table row" {
	run --separate-stderr models --json
	assert_success
	jq -e '.object == "list" and (.data | length) > 50' <<<"$output"
	jq -e '.data[] | select(.id == "anthropic/claude-sonnet-4-6")
		| .name == "Anthropic: Claude Sonnet 4.6" and .object == "model" and .owned_by == "anthropic"
		and .context_length == 1000000
		and .pricing == {"prompt":"0.000003","completion":"0.000015","input_cache_read":"0.0000003","input_cache_write":"0.00000375"}
		and .architecture.input_modalities == ["text","image","file"] and .architecture.output_modalities == ["text"]
		and .top_provider == {"context_length":1000000,"max_completion_tokens":64000}
		and (.supported_parameters | index("tools") != null)' <<<"$output"
	local rows
	rows=$(models | tail -n +2 | wc -l)
	assert_equal "$(jq '.data | length' <<<"$output")" "$rows"
	assert_equal "$(jq -r '.data[0].id' <<<"$output")" "openai/gpt-5.1"
}

@test "QUERY matches ids and names in any case" {
	run --separate-stderr models SONNET
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_line --index 1 --regexp '^anthropic/claude-sonnet-4-6 '
	assert_line --index 2 --regexp '^anthropic/claude-sonnet-4-5 '
	run --separate-stderr models --json 'gemini 2.5 flash'
	assert_success
	assert_equal "$(jq -c '[.data[].id]' <<<"$output")" '["google/gemini-2.5-flash","google/gemini-2.5-flash-lite"]'
}

@test "a query that matches nothing prints nothing and says so on stderr" {
	run --separate-stderr models no-such-model-anywhere
	assert_success
	assert_output ""
	assert_equal "$stderr" "arouter: no model matches 'no-such-model-anywhere'"
	run --separate-stderr models --json no-such-model-anywhere
	assert_equal "$(jq -c . <<<"$output")" '{"object":"list","data":[]}'
}

@test "--provider keeps one provider's models, with a query too" {
	run --separate-stderr models --provider deepseek
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_line --index 1 --regexp '^deepseek/deepseek-chat +128K +0\.28 +0\.42$'
	assert_line --index 2 --regexp '^deepseek/deepseek-reasoner +128K +0\.28 +0\.42$'
	run --separate-stderr models -p anthropic haiku
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line --index 1 --regexp '^anthropic/claude-haiku-4-5 +200K +1\.00 +5\.00$'
	run --separate-stderr models --json --provider groq
	jq -e '(.data | length) > 3 and all(.data[]; .owned_by == "groq")' <<<"$output"
}

@test "an unknown provider is a one-line usage error with a suggestion" {
	run --separate-stderr models --provider antropic
	assert_failure 2
	assert_output ""
	assert_equal "$stderr" "arouter: models: unknown provider 'antropic' (did you mean 'anthropic'?)"
	run --separate-stderr models --provider zzzzzzzz --live
	assert_failure 2
	assert_equal "$stderr" "arouter: models: unknown provider 'zzzzzzzz' (see 'arouter config show' for providers)"
	assert_equal "$(fake_request_count)" 0
}

@test "more than one query word is a usage error" {
	run --separate-stderr models claude sonnet
	assert_failure 2
	[[ $stderr == *"give one QUERY"* ]] || fail "stderr: $stderr"
}

# ==== the config file ====

@test "models from the config file: additions, overrides and a provider's own list" {
	write_config <<'JSON'
{
  "providers": {
    "acme": { "base_url": "http://127.0.0.1:9" },
    "vllm": { "base_url": "http://127.0.0.1:9", "models": ["llama-3.1-8b"] },
  },
  "models": [
    // cheaper than the list price, by contract
    { "id": "openai/gpt-4o-mini", "pricing": { "prompt": "0.000001" } },
    { "id": "acme/rocket-1", "name": "Acme Rocket", "context_length": 32000,
      "pricing": { "prompt": "0.000002", "completion": 0.000008 } },
  ],
}
JSON
	run --separate-stderr models
	assert_success
	assert_line --regexp '^openai/gpt-4o-mini +128K +1\.00 +0\.60$'
	assert_line --regexp '^acme/rocket-1 +32K +2\.00 +8\.00$'
	assert_line --regexp '^vllm/llama-3\.1-8b +- +- +-$'
	run --separate-stderr models --json rocket
	jq -e '.data == [.data[0]] and .data[0].name == "Acme Rocket" and .data[0].pricing == {"prompt":"0.000002","completion":"0.000008"}' <<<"$output"
	run --separate-stderr models --provider acme
	assert_equal "${#lines[@]}" 2
	run "$AROUTER" config check
	assert_success
}

@test "a malformed model entry is a config error naming its line; config check lists every problem" {
	write_config <<'JSON'
{
  "models": [
    { "id": "openai/x", "pricing": { "prompt": "cheap" } }
  ]
}
JSON
	run --separate-stderr models
	assert_failure 3
	assert_output ""
	[[ $stderr =~ config\.json:3:38:\ models\.0\.pricing\.prompt\ must\ be\ a\ price\ in\ USD\ per\ token ]] || fail "stderr: $stderr"
	write_config <<'JSON'
{
  "models": [
    { "id": "opneai/x", "contxt_length": 5 }
  ]
}
JSON
	run --separate-stderr models
	assert_success
	run --separate-stderr "$AROUTER" config check
	assert_failure 3
	[[ $stderr == *"config.json:3:7: models.0.id: unknown provider 'opneai' (did you mean 'openai'?)"* ]] || fail "stderr: $stderr"
	[[ $stderr == *"config.json:3:25: models.0.contxt_length: unknown key (did you mean 'context_length'?)"* ]] || fail "stderr: $stderr"
}

# ==== --live ====

@test "--live asks each provider with a key in its own dialect and keeps the catalog's data for models it knows" {
	providers_at_fake
	export OPENAI_API_KEY=$OPENAI_KEY ANTHROPIC_API_KEY=$ANTHROPIC_KEY GEMINI_API_KEY=$GEMINI_KEY
	write_config <<'JSON'
{ "models": [ { "id": "openai/fake-model", "context_length": 64000, "pricing": { "prompt": "0.000005", "completion": "0.00002" } } ] }
JSON
	run --separate-stderr models --live
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 9
	assert_line --index 1 --regexp '^openai/fake-model +64K +5\.00 +20\.00$'
	assert_line --index 2 --regexp '^openai/fake-model-mini +- +- +-$'
	assert_line --index 3 --regexp '^openai/fake-embedding +- +- +-$'
	assert_line --index 4 --regexp '^anthropic/claude-fake +- +- +-$'
	assert_line --index 5 --regexp '^anthropic/claude-sonnet-4-5-20250929 +200K +3\.00 +15\.00$'
	assert_line --index 6 --regexp '^google/gemini-fake +1M +- +-$'
	assert_line --index 7 --regexp '^google/gemini-fake-lite +1M +- +-$'
	assert_line --index 8 --regexp '^google/gemini-fake-embedding +2K +- +-$'
	refute_secrets
	assert_equal "$(fake_request_count)" 3
	run fake_requests
	assert_line --index 0 --regexp '"method":"GET","path":"/v1/models"'
	jq -s -e '.[0].path == "/v1/models" and .[0].headers.authorization == "Bearer sk-test-SECRET111111111"' <<<"$output"
	jq -s -e '.[1].path == "/v1/models" and .[1].query == "limit=1000"
		and .[1].headers["x-api-key"] == "sk-ant-test-SECRET22222222" and .[1].headers["anthropic-version"] == "2023-06-01"
		and (.[1].headers | has("authorization") | not)' <<<"$output"
	jq -s -e '.[2].path == "/v1beta/models" and .[2].query == "pageSize=1000"
		and .[2].headers["x-goog-api-key"] == "AIza-test-SECRET33333333"' <<<"$output"
}

@test "--live: a model the provider lists under a dated name gets the catalog's data" {
	providers_at_fake
	export ANTHROPIC_API_KEY=$ANTHROPIC_KEY
	run --separate-stderr models --live --json
	assert_success
	jq -e '[.data[].id] == ["anthropic/claude-fake", "anthropic/claude-sonnet-4-5-20250929"]' <<<"$output"
	jq -e '.data[0].name == "Claude Fake" and .data[0].pricing == {} and .data[0].context_length == null' <<<"$output"
	jq -e '.data[1].name == "Anthropic: Claude Sonnet 4.5" and .data[1].context_length == 200000
		and .data[1].pricing == {"prompt":"0.000003","completion":"0.000015","input_cache_read":"0.0000003","input_cache_write":"0.00000375"}' <<<"$output"
	run --separate-stderr models --live sonnet
	assert_line --index 1 --regexp '^anthropic/claude-sonnet-4-5-20250929 +200K +3\.00 +15\.00$'
}

@test "--live: a provider that fails is one warning line, the others still show" {
	providers_at_fake
	export OPENAI_API_KEY=$OPENAI_KEY ANTHROPIC_API_KEY=$ANTHROPIC_KEY GEMINI_API_KEY=$GEMINI_KEY
	export DEEPSEEK_API_KEY=sk-ds-SECRET555555555 AROUTER_DEEPSEEK_BASE_URL=http://127.0.0.1:9
	fake_next 'status=401'
	run --separate-stderr models --live
	assert_success
	assert_equal "$(wc -l <<<"$stderr")" 2
	[[ $stderr == *"arouter: warning: openai: 401 "*"(check OPENAI_API_KEY); its models are not listed"* ]] || fail "stderr: $stderr"
	[[ $stderr == *"arouter: warning: deepseek: "*"127.0.0.1:9; its models are not listed"* ]] || fail "stderr: $stderr"
	refute_line --partial openai/
	refute_line --partial deepseek/
	assert_line --regexp '^anthropic/claude-fake '
	assert_line --regexp '^google/gemini-fake '
	refute_secrets
	[[ $stderr != *SECRET* ]] || fail "a key on stderr: $stderr"
}

@test "--live: when every provider fails, the exit code says how" {
	providers_at_fake
	export OPENAI_API_KEY=$OPENAI_KEY
	fake_next 'status=500'
	run --separate-stderr models --live
	assert_failure 6
	assert_output ""
	[[ $stderr == "arouter: warning: openai: 500 "* ]] || fail "stderr: $stderr"
	export AROUTER_OPENAI_BASE_URL=http://127.0.0.1:9
	run --separate-stderr models --live
	assert_failure 7
	fake_next garbage
	export AROUTER_OPENAI_BASE_URL=$FAKE_URL
	run --separate-stderr models --live
	assert_failure 6
	[[ $stderr == *"openai: the models list from $FAKE_URL/v1/models is not a JSON object"* ]] || fail "stderr: $stderr"
}

@test "--live --provider asks only that provider, even a local one without a key" {
	providers_at_fake
	export OPENAI_API_KEY=$OPENAI_KEY ANTHROPIC_API_KEY=$ANTHROPIC_KEY
	run --separate-stderr models --live --provider anthropic
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_line --index 1 --regexp '^anthropic/claude-fake '
	assert_equal "$(fake_request_count)" 1
	run --separate-stderr models --live -p ollama
	assert_success
	assert_line --index 1 --regexp '^ollama/fake-model '
	assert_equal "$(fake_last_request | jq -r '.path + " " + (.headers | has("authorization") | tostring)')" "/v1/models false"
}

@test "--live without any key lists the catalog and says why" {
	providers_at_fake
	run --separate-stderr models --live --provider deepseek
	assert_success
	assert_line --index 1 --regexp '^deepseek/deepseek-chat '
	assert_equal "$stderr" "arouter: warning: deepseek: no API key (set DEEPSEEK_API_KEY); listing the catalog's models"
	run --separate-stderr models --live
	assert_success
	assert_line --regexp '^openai/gpt-4o-mini '
	[[ $stderr == "arouter: warning: --live: no provider has a key"* ]] || fail "stderr: $stderr"
	assert_equal "$(fake_request_count)" 0
}

# ==== against a gateway ====

@test "AROUTER_BASE_URL lists the gateway's models with the gateway's prices" {
	export AROUTER_BASE_URL=$FAKE_URL
	fake_next catalog
	run --separate-stderr models
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 4
	assert_line --index 1 --regexp '^openai/gpt-4o-mini +128K +0\.20 +0\.80$'
	assert_line --index 2 --regexp '^anthropic/claude-gateway-only +- +- +-$'
	assert_line --index 3 --regexp '^auto +- +- +-$'
	assert_equal "$(fake_last_request | jq -r '.method + " " + .path + " " + (.headers | has("authorization") | tostring)')" \
		"GET /v1/models false"
	fake_next catalog
	run --separate-stderr models --json --provider openai
	assert_success
	jq -e '.data == [.data[0]] and .data[0].id == "openai/gpt-4o-mini" and .data[0].name == "OpenAI: GPT-4o-mini (gateway)"
		and .data[0].pricing == {"prompt":"0.0000002","completion":"0.0000008","input_cache_read":"0.0000001"}
		and .data[0].top_provider.max_completion_tokens == 16384
		and .data[0].architecture.input_modalities == ["text","image"]' <<<"$output"
	fake_next catalog
	run --separate-stderr models AUTO
	assert_equal "${#lines[@]}" 2
}

@test "the gateway is asked with its key, which is never printed; --base-url works too" {
	export AROUTER_API_KEY=$GATEWAY_KEY
	fake_next catalog
	run --separate-stderr "$AROUTER" --base-url "$FAKE_URL/v1" models --live
	assert_success
	assert_line --index 1 --regexp '^openai/gpt-4o-mini '
	assert_equal "$(fake_request_count)" 1
	assert_equal "$(fake_last_request | jq -r '.path + " " + .headers.authorization')" "/v1/models Bearer $GATEWAY_KEY"
	refute_secrets
	[[ $stderr != *SECRET* ]] || fail "a key on stderr: $stderr"
}

@test "default_backend direct keeps the local catalog even with a gateway URL" {
	export AROUTER_BASE_URL=$FAKE_URL AROUTER_DEFAULT_BACKEND=direct
	run --separate-stderr models --provider deepseek
	assert_success
	assert_line --index 1 --regexp '^deepseek/deepseek-chat '
	assert_equal "$(fake_request_count)" 0
}

@test "gateway errors: one line each, exit codes for auth, upstream and network" {
	export AROUTER_BASE_URL=$FAKE_URL AROUTER_API_KEY=$GATEWAY_KEY
	fake_next 'status=401'
	run --separate-stderr models
	assert_failure 4
	assert_output ""
	[[ $stderr =~ ^arouter:\ gateway:\ 401\ .*\(check\ AROUTER_API_KEY\)$ ]] || fail "stderr: $stderr"
	[[ $stderr != *SECRET* ]] || fail "a key on stderr: $stderr"
	fake_next 'status=429'
	run --separate-stderr models
	assert_failure 5
	fake_next 'status=500'
	run --separate-stderr models --json
	assert_failure 6
	assert_output ""
	[[ $stderr == "arouter: gateway: 500 "* ]] || fail "stderr: $stderr"
	fake_next html
	run --separate-stderr models
	assert_failure 6
	assert_equal "$(wc -l <<<"$stderr")" 1
	export AROUTER_BASE_URL=http://127.0.0.1:9
	run --separate-stderr models
	assert_failure 7
	assert_equal "$stderr" "arouter: gateway: cannot connect to http://127.0.0.1:9"
}

@test "help describes every option" {
	run "$AROUTER" help models
	assert_success
	assert_line --index 0 "usage: arouter models [QUERY] [--provider P] [--json] [--live]"
	assert_output --partial "--live"
	assert_output --partial "--provider P"
	assert_output --partial "--json"
}
