#!/usr/bin/env bats
# Security of the gateway against its clients and for its secrets (the
# threat model is doc/SECURITY.md, which names these tests):
#
#   injection   CR, LF and NUL in model names, header values, queries, client
#               and provider keys never reach an upstream request line or
#               header -- the fake upstream's record is what was sent;
#   hosts       no path, absolute URL, Host header or model string makes the
#               proxy contact a host the config did not name -- an "evil"
#               second fake records anything that reaches it;
#   secrets     no key appears in anything the main commands print or write
#               under $HOME, the config excepted; files holding secrets are
#               0600 in 0700 directories.

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
	unset AROUTER_BASE_URL AROUTER_ADMIN_KEY
	fake_reset
	export OPENAI_API_KEY=sk-test-OPENAI-SECRET-1234 ANTHROPIC_API_KEY=sk-ant-SECRET-5678 GEMINI_API_KEY=AIza-SECRET-9012
	CLIENT=$BATS_TEST_DIRNAME/fault-client.py
	PROXY_PID= EVIL_PID=
}

teardown() {
	if [[ -n ${PROXY_PID:-} ]]; then proxy_stop; fi
	evil_stop
}

ANSWER='Hello from the fake upstream.'

start() {
	local cfg='{}'
	[[ -z ${1:-} ]] || cfg=$1
	write_config <<< "$cfg" > /dev/null
	proxy_start
	PROXY_PORT=${PROXY_URL##*:}
}

# evil_start: a second fake upstream, the host nobody may reach; EVIL_PORT,
# EVIL_RECORD. Its record must stay empty.
evil_start() {
	local dir=$BATS_TEST_TMPDIR/evil i
	mkdir -p "$dir"
	("${FAKE_UPSTREAM:-$BATS_TEST_DIRNAME/fake-upstream}" --port-file "$dir/port" --record "$dir/record.jsonl" \
		2> "$dir/stderr" < /dev/null > /dev/null & echo $! > "$dir/pid") 3>&-
	for ((i = 0; i < 50; i++)); do
		[[ -s $dir/port ]] && break
		sleep 0.1
	done
	[[ -s $dir/port ]] || fail "the evil fake did not start: $(cat "$dir/stderr")"
	EVIL_PID=$(< "$dir/pid") EVIL_PORT=$(< "$dir/port") EVIL_RECORD=$dir/record.jsonl
}
evil_stop() {
	[[ -n ${EVIL_PID:-} ]] || return 0
	kill -TERM "$EVIL_PID" 2> /dev/null || true
	EVIL_PID=
}
assert_evil_untouched() {
	[[ ! -s $EVIL_RECORD ]] || fail "the evil host was contacted: $(head -c 600 "$EVIL_RECORD")"
}

# What reached the fake upstream, checked for any sign of injection: a
# header whose name says "injected", or a CR, LF or NUL in a method, path,
# query, header name or value.
assert_nothing_injected() {
	local bad
	bad=$(fake_requests | jq -c 'select(
		(.headers | keys | any(test("inject"; "i"))) or
		([.method, .path, .query] + (.headers | keys) + (.headers | [.[]]) | any(test("[\r\n\u0000]"))))' 2>&1)
	[[ -z $bad ]] || fail "injected into an upstream request: $bad"
}

raw() { python3 "$CLIENT" raw "$PROXY_PORT" "$(printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n')"; }

# ==== injection ====

@test "CR, LF or NUL in a model name never reach an upstream request line or header, in any dialect or list" {
	start
	local m enc code body
	for m in $'openai/gpt\r\nX-Injected: 1' $'anthropic/claude\r\nX-Injected: 1' $'google/gem\r\nX-Injected: 1' \
		$'google/gem\nX-Injected: 1' $'openai/gpt\rX-Injected: 1' 'google/gem\u0000X-Injected: 1' \
		'openai/gpt\u0000\r\nX-Injected: 1'; do
		body=$(jq -nc --arg m "$m" '{model: $m, messages: [{role: "user", content: "hi"}]}')
		[[ $m == *'\u0000'* ]] && body="{\"model\":\"$m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
		for path in /v1/chat/completions /v1/messages; do
			code=$(curl -sS -o /dev/null -w '%{http_code}' --data-binary "$body" "$PROXY_URL$path")
			[[ $code == 200 || $code == 400 ]] || fail "$path with model ${m@Q}: HTTP $code"
		done
		# As a fallback member too.
		body=$(jq -nc --arg m "$m" '{model: "nosuch/x", models: [$m], messages: [{role: "user", content: "hi"}]}')
		curl -sS -o /dev/null --data-binary "$body" "$PROXY_URL/v1/chat/completions"
	done
	# Gemini's model is in the URL, percent-encoded.
	for enc in 'openai%2Fgpt%0D%0AX-Injected:%201' 'google%2Fgem%0D%0AX-Injected:%201' 'google%2Fgem%0AX-Injected:%201' \
		'google%2Fgem%00X-Injected:%201' 'anthropic%2Fc%0DX-Injected:%201'; do
		code=$(curl -sS -o /dev/null -w '%{http_code}' -d '{"contents":[{"parts":[{"text":"hi"}]}]}' \
			"$PROXY_URL/v1beta/models/$enc:streamGenerateContent?alt=sse")
		[[ $code == 200 || $code == 400 ]] || fail "gemini path $enc: HTTP $code"
	done
	assert_nothing_injected
	# arouter chat refuses them.
	run ! "$AROUTER" chat -m $'openai/gpt\r\nX-Injected: 1' hi < /dev/null
	assert_output --partial 'cannot contain line breaks'
	assert_nothing_injected
}

@test "a model name can add no path segment, query or host to an upstream URL" {
	evil_start
	start
	local m
	for m in 'google/../../../v1/models?x=' 'google/x/../../evil' "google/http://127.0.0.1:$EVIL_PORT/" \
		"google/@127.0.0.1:$EVIL_PORT" 'google/a#frag' 'google/a?key=stolen' "openai/gpt?base_url=http://127.0.0.1:$EVIL_PORT"; do
		curl -sS -o /dev/null -d "$(jq -nc --arg m "$m" '{model: $m, messages: [{role: "user", content: "hi"}]}')" \
			"$PROXY_URL/v1/chat/completions"
	done
	assert_evil_untouched
	# Every Gemini request kept its one model segment: the name escaped.
	run fake_requests
	assert_success
	fake_requests | jq -e -s 'map(select(.path | startswith("/v1beta/"))) | length == 6 and
		all(.[]; .path | test("^/v1beta/models/[^/?#]+:generateContent$"))' > /dev/null ||
		fail "a Gemini path was changed: $(fake_requests | jq -c .path)"
	fake_requests | jq -e -s 'all(.[]; .query == "")' > /dev/null || fail "a query was added: $(fake_requests | jq -c .query)"
}

@test "CR, LF or NUL in header values and queries never reach the upstream, passthrough and Anthropic headers included" {
	start
	local body='{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'
	local len=${#body}
	# A bare CR inside a header value: libevent refuses the request.
	run raw $'POST /anthropic/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Custom: a\rX-Injected-CR: 1\r\nConnection: close\r\nContent-Length: '"$len"$'\r\n\r\n'"$body"
	jq -e '.status == 400' <<< "$output"
	run raw $'POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nanthropic-version: 2023-06-01\rX-Injected-Ver: 1\r\nanthropic-beta: b\rX-Injected-Beta: 1\r\nConnection: close\r\nContent-Length: '"$len"$'\r\n\r\n'"${body/claude-x/anthropic\/claude-x}"
	jq -e '.status == 400' <<< "$output"
	# A NUL ends the value where it stands.
	printf 'POST /anthropic/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Custom: a\0X-Injected-NUL: 1\r\nConnection: close\r\nContent-Length: %s\r\n\r\n%s' "$len" "$body" > "$BATS_TEST_TMPDIR/nul.req"
	run python3 "$CLIENT" raw "$PROXY_PORT" "$(od -An -tx1 -v "$BATS_TEST_TMPDIR/nul.req" | tr -d ' \n')"
	# A bare CR in a passthrough query: refused, nothing sent.
	run raw $'GET /openai/v1/models?a=1\rX-Injected-Q: 1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'
	jq -e '.status >= 400' <<< "$output"
	# Encoded ones stay encoded: the upstream sees %0D%0A, not a line break.
	curl -sS -o /dev/null "$PROXY_URL/openai/v1/models?a=1%0D%0AX-Injected-Enc:%201"
	fake_requests | jq -e -s 'any(.[]; .query == "a=1%0D%0AX-Injected-Enc:%201")' > /dev/null
	assert_nothing_injected
}

@test "a client key with CR, LF or NUL is refused and never forwarded; no client key ever reaches an upstream" {
	start '{"proxy": {"keys": ["ar-client-SECRET-1"]}}'
	local code
	for k in 'ar-client-SECRET-1%0D%0AX-Injected:%201' 'ar-client-SECRET-1%00' '%0D%0Aar-client-SECRET-1'; do
		code=$(curl -sS -o /dev/null -w '%{http_code}' "$PROXY_URL/v1/chat/completions?key=$k" \
			-d '{"model":"openai/gpt-f","messages":[{"role":"user","content":"hi"}]}')
		assert_equal "$code" 401
	done
	run raw $'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ar-client-SECRET-1\rX-Injected: 1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}'
	jq -e '.status == 400 or .status == 401' <<< "$output"
	assert_equal "$(fake_request_count)" 0
	# With the right key, in each style, to the pipeline and the passthrough.
	curl -sS -o /dev/null -H 'Authorization: Bearer ar-client-SECRET-1' "$PROXY_URL/v1/chat/completions" \
		-d '{"model":"openai/gpt-f","messages":[{"role":"user","content":"hi"}]}'
	curl -sS -o /dev/null -H 'x-api-key: ar-client-SECRET-1' "$PROXY_URL/anthropic/v1/messages" \
		-d '{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'
	curl -sS -o /dev/null -H 'x-goog-api-key: ar-client-SECRET-1' "$PROXY_URL/google/v1beta/models/gemini-f:generateContent?key=ar-client-SECRET-1" \
		-d '{"contents":[{"parts":[{"text":"hi"}]}]}'
	assert_equal "$(fake_request_count)" 3
	run grep -c ar-client-SECRET "$FAKE_RECORD"
	assert_output 0
	assert_nothing_injected
}

@test "a key holding CR or LF is refused where it is loaded, never sent as a header line of its own" {
	# From the environment: one line naming the variable, the config exit
	# code, nothing sent; the key itself is not printed.
	local var key
	for var in OPENAI_API_KEY ANTHROPIC_API_KEY AROUTER_API_KEY; do
		for key in $'sk-test-a\r\nX-Injected-Key: 1' $'sk-test-a\nX-Injected-Key: 1' $'sk-test-a\x7f'; do
			env "$var=$key" AROUTER_BASE_URL="$FAKE_URL" timeout 10 "$AROUTER" chat -m openai/gpt-f hi < /dev/null > "$BATS_TEST_TMPDIR/out" 2>&1 && fail "$var accepted"
			run cat "$BATS_TEST_TMPDIR/out"
			assert_equal "${#lines[@]}" 1
			assert_output "arouter: $var holds a control character (a line break?); a key is sent in a header as is"
		done
	done
	run env AROUTER_ADMIN_KEY=$'ar-admin\r\nX-Injected-Key: 1' AROUTER_BASE_URL="$FAKE_URL" timeout 10 "$AROUTER" balance
	assert_failure 3
	assert_output --partial "AROUTER_ADMIN_KEY holds a control character"
	run timeout 10 "$AROUTER" --api-key $'ar\rX: 1' chat -m openai/gpt-f hi < /dev/null
	assert_failure 3
	assert_output --partial "--api-key holds a control character"
	# From the config, for one key or a pool: the proxy does not start, and
	# the error points into the file.
	local cfg
	for cfg in '{"providers": {"deepseek": {"api_key": "sk-ds\r\nX-Injected-Key: 1"}}}' \
		'{"providers": {"deepseek": {"keys": ["sk-ok", "sk-ds\nX-Injected-Key: 1"]}}}' \
		'{"api_key": "ar-gw\r\nX-Injected-Key: 1"}'; do
		write_config <<< "$cfg" > /dev/null
		run timeout 10 "$AROUTER" proxy --listen 127.0.0.1:0
		assert_failure 3
		assert_equal "${#lines[@]}" 1
		assert_output --regexp 'config.json:[0-9]+:[0-9]+: (providers\.deepseek\.(api_key|keys)|api_key) holds a control character'
		refute_output --partial X-Injected
	done
	assert_equal "$(fake_request_count)" 0
	assert_nothing_injected
}

# ==== hosts ====

@test "no passthrough path, encoding or absolute URL reaches a host the config did not name" {
	evil_start
	start
	local e=127.0.0.1:$EVIL_PORT p code
	for p in "/openai/http://$e/v1/models" "/openai/https:/$e/v1/models" "/openai//$e/v1/models" \
		"//$e/v1/models" "///$e/openai/v1/models" "/openai/@$e/v1/models" "/openai/..%2f..%2f$e/x" \
		'/openai/../etc/passwd' '/openai/v1/../../x' '/openai/v1/%2e%2e/%2e%2e/x' '/openai/v1/%2E%2E/x' \
		'/openai/v1/.%2e/x' '/openai/v1/%2e./x' '/openai/./v1/models' '/openai/v1/a%2fb' '/openai/v1/a%2Fb' \
		'/openai/v1/a%5cb' '/openai/v1\..\x' '/openai/v1/a%00b' "/openai/v1/models?x=http://$e/" \
		"/openai%2f%2f$e/v1/models" "/http:%2f%2f$e/v1/models" "/$e/v1/models"; do
		code=$(curl -sS --path-as-is -o /dev/null -w '%{http_code}' --max-time 10 "$PROXY_URL$p")
		[[ $code =~ ^(200|400|403|404)$ ]] || fail "$p: HTTP $code"
	done
	# Absolute-form request targets name a host; only the path counts.
	run raw $'GET http://'"$e"$'/openai/v1/models HTTP/1.1\r\nHost: 127.0.0.1:'"$PROXY_PORT"$'\r\nConnection: close\r\n\r\n'
	run raw $'GET http://'"$e"$'/v1/models HTTP/1.1\r\nHost: '"$e"$'\r\nConnection: close\r\n\r\n'
	jq -e '.status == 403' <<< "$output"
	# Neither Host nor X-Forwarded-Host choose the upstream.
	curl -sS -o /dev/null -H "X-Forwarded-Host: $e" "$PROXY_URL/openai/v1/models"
	assert_evil_untouched
	# Whatever did reach the real upstream went to its own host, and no
	# path climbed out of the base URL.
	fake_requests | jq -e -s --arg h "127.0.0.1:$FAKE_PORT" 'all(.[]; .headers.host == $h)' > /dev/null ||
		fail "a request reached the fake under another Host: $(fake_requests | jq -c .headers.host)"
	fake_requests | jq -e -s 'all(.[]; .path | test("(^|/)\\.\\.?(/|$)") | not)' > /dev/null ||
		fail "a dot segment reached the upstream: $(fake_requests | jq -c .path)"
}

@test "a client cannot choose an upstream: unknown provider slugs, custom base URLs and headers are refused or ignored" {
	evil_start
	start
	local e=http://127.0.0.1:$EVIL_PORT
	run curl -sS -o /dev/null -w '%{http_code}' "$PROXY_URL/evilprovider/v1/models"
	assert_output 404
	for h in "X-Arouter-Base-Url: $e" "X-Base-Url: $e" "Forwarded: host=127.0.0.1:$EVIL_PORT" "X-Arouter-Models: $e/v1"; do
		curl -sS -o /dev/null -H "$h" "$PROXY_URL/v1/chat/completions" \
			-d '{"model":"openai/gpt-f","messages":[{"role":"user","content":"hi"}]}'
	done
	for m in "$e" "custom:$e" "openai:$e/x" "{\"base_url\":\"$e\"}"; do
		curl -sS -o /dev/null -d "$(jq -nc --arg m "$m" --arg e "$e" '{model: $m, base_url: $e, api_base: $e, messages: [{role: "user", content: "hi"}]}')" \
			"$PROXY_URL/v1/chat/completions"
	done
	assert_evil_untouched
}

@test "an upstream's redirect is never followed: no request, no key, reaches the host it names" {
	evil_start
	start '{"routing": {"retries": 0}}'
	local e=http://127.0.0.1:$EVIL_PORT d code
	for st in 301 302 307 308; do
		fake_next "redirect=$e/v1/chat/completions;status=$st"
		code=$(curl -sS -o /dev/null -w '%{http_code}' "$PROXY_URL/v1/chat/completions" \
			-d '{"model":"openai/gpt-f","messages":[{"role":"user","content":"hi"}]}')
		[[ $code != 200 ]] || fail "a $st was followed to an answer"
		fake_next "redirect=$e/v1/messages;status=$st"
		curl -sS -o /dev/null "$PROXY_URL/v1/messages" -d '{"model":"anthropic/claude-f","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
		fake_next "redirect=$e/v1/models;status=$st"
		run curl -sS -o /dev/null -w '%{http_code}' "$PROXY_URL/openai/v1/models"
		# The passthrough hands the redirect to the client, as it came.
		assert_output "$st"
		fake_next "redirect=$e/v1beta/models/g:streamGenerateContent;status=$st"
		timeout 10 "$AROUTER" chat -m google/gemini-f hi < /dev/null > /dev/null 2>&1 || true
	done
	assert_evil_untouched
}

# ==== secrets ====

@test "no secret in anything the main commands print or write under \$HOME, the config excepted; secret files are 0600" {
	local out=$BATS_TEST_TMPDIR/outputs f s
	mkdir -p "$out"
	export AROUTER_ADMIN_KEY=ar-admin-SECRET-55555
	write_config > /dev/null <<- EOF
		{"providers": {"deepseek": {"api_key": "sk-ds-CONFIG-SECRET-4444"},
		               "mistral": {"keys": ["mk-POOL-SECRET-1111", "mk-POOL-SECRET-2222"]}},
		 "proxy": {"keys": [{"key": "ar-config-client-SECRET-333", "name": "cfg"}]}}
	EOF
	unset DEEPSEEK_API_KEY MISTRAL_API_KEY
	run -0 --separate-stderr "$AROUTER" keys create --local --json --name local
	local local_secret
	local_secret=$(jq -r .key <<< "$output")
	local secrets=(sk-test-OPENAI-SECRET-1234 sk-ant-SECRET-5678 AIza-SECRET-9012 sk-ds-CONFIG-SECRET-4444
		mk-POOL-SECRET-1111 mk-POOL-SECRET-2222 ar-config-client-SECRET-333 ar-admin-SECRET-55555 "$local_secret"
		ar-gateway-SECRET-6666)
	# every command, with -v, its stdout and stderr kept
	a() {
		local name=$1
		shift
		timeout 20 "$AROUTER" "$@" < /dev/null > "$out/$name.out" 2> "$out/$name.err" || true
	}
	a config-show config show
	a config-show-json config show --json
	a config-check config check
	a models models
	a models-live -v models --live
	a chat -v chat -m openai/gpt-f hi
	a chat-2 -vv chat -m deepseek/ds,anthropic/claude-f hi
	fake_next 'status=401'
	a chat-401 -v chat -m mistral/m hi
	fake_next 'status=500'
	a chat-500 -v chat -m google/gemini-f --no-stream hi
	a chat-json chat --json -m anthropic/claude-f hi
	AROUTER_API_KEY=ar-gateway-SECRET-6666 AROUTER_BASE_URL=$FAKE_URL a gw-chat -v chat -m openai/gpt-f hi
	AROUTER_API_KEY=ar-gateway-SECRET-6666 AROUTER_BASE_URL=$FAKE_URL a gw-balance -v balance
	AROUTER_API_KEY=ar-gateway-SECRET-6666 AROUTER_BASE_URL=$FAKE_URL a gw-keys -v keys list
	AROUTER_API_KEY=ar-gateway-SECRET-6666 AROUTER_BASE_URL=$FAKE_URL a gw-usage -v usage
	AROUTER_API_KEY=ar-gateway-SECRET-6666 AROUTER_BASE_URL=$FAKE_URL a gw-401 -v keys create --name x
	a keys-list keys list --local --all --json
	a balance balance --local
	a usage usage --local --by key
	proxy_start -vv
	for k in ar-config-client-SECRET-333 "$local_secret" ar-wrong-SECRET-0000; do
		for p in /v1/chat/completions /v1/messages; do
			curl -sS -H "Authorization: Bearer $k" "$PROXY_URL$p" \
				-d '{"model":"mistral/m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}' >> "$out/curl.out" 2>&1
		done
		curl -sS "$PROXY_URL/v1beta/models/deepseek%2Fds:generateContent?key=$k" -d '{"contents":[{"parts":[{"text":"hi"}]}]}' >> "$out/curl.out" 2>&1
		curl -sS -H "x-api-key: $k" "$PROXY_URL/google/v1beta/models/g:generateContent?key=$k" -d '{}' >> "$out/curl.out" 2>&1
		fake_next 'status=401'
		curl -sS -H "Authorization: Bearer $k" "$PROXY_URL/v1/chat/completions" \
			-d '{"model":"openai/gpt-f","messages":[{"role":"user","content":"hi"}]}' >> "$out/curl.out" 2>&1
		curl -sS -H "Authorization: Bearer $k" "$PROXY_URL/health" >> "$out/curl.out" 2>&1
	done
	curl -sS -H "Authorization: Bearer $AROUTER_ADMIN_KEY" "$PROXY_URL/api/v1/keys" >> "$out/curl.out" 2>&1
	curl -sS -H "Authorization: Bearer $AROUTER_ADMIN_KEY" -d '{"name":"made"}' "$PROXY_URL/api/v1/keys" > "$out/made.json" 2>&1
	a status proxy --status --listen "${PROXY_URL#http://}"
	a status-json proxy --status --json --listen "${PROXY_URL#http://}"
	kill -HUP "$PROXY_PID"
	sleep 0.3
	proxy_stop
	# The requests did carry the keys upstream: the test would prove nothing otherwise.
	grep -q sk-ds-CONFIG-SECRET-4444 "$FAKE_RECORD" && grep -q mk-POOL-SECRET "$FAKE_RECORD" ||
		fail "the provider keys never reached the fake"
	# The made key is printed once, to its maker; everything else is checked.
	local made
	made=$(jq -r .key "$out/made.json")
	[[ $made == ar-* ]] || fail "no key made: $(cat "$out/made.json")"
	secrets+=("$made")
	local files=()
	while IFS= read -r -d '' f; do
		[[ $f == "$XDG_CONFIG_HOME/arouter/config.json" || $f == "$out/made.json" ]] && continue
		files+=("$f")
	done < <(find "$HOME" "$out" "$BATS_TEST_TMPDIR/proxy" -type f -print0)
	((${#files[@]} > 20)) || fail "only ${#files[@]} files to scan"
	for s in "${secrets[@]}"; do
		run grep -alF -- "$s" "${files[@]}"
		[[ -z $output ]] || fail "the secret …${s: -6} is in: $output"
	done
	# They did print something about the keys: redacted forms.
	grep -q '…' "$out/config-show.out" || fail "config show printed no redacted key: $(cat "$out/config-show.out")"
	# Files holding secrets or usage are the owner's only.
	for f in "$XDG_DATA_HOME"/arouter/ledger.db* "$XDG_DATA_HOME/arouter/admin-key" "$XDG_STATE_HOME"/arouter/conversations/*; do
		[[ -e $f ]] || continue
		assert_equal "$f $(stat -c %a "$f")" "$f 600"
	done
	assert_equal "$(stat -c %a "$XDG_DATA_HOME/arouter")" 700
	assert_equal "$(stat -c %a "$XDG_STATE_HOME/arouter")" 700
}
