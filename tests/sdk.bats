#!/usr/bin/env bats
# The official OpenAI and Anthropic SDKs (tests/sdk, pinned in its
# package-lock.json) driving `arouter proxy` in front of the fake upstream:
# one bats test per node:test case in tests/sdk/*.test.mjs.  They need Node
# and `npm ci --prefix tests/sdk`; without tests/sdk/node_modules every test
# here is skipped, so `make check` still runs everything else.

SDK_DIR=${AROUTER_SRCDIR:-$BATS_TEST_DIRNAME/..}/tests/sdk

setup_file() {
	# skip in setup_file is not reliable in older bats: remember why, and let
	# setup() skip each test.
	SDK_SKIP=
	if ! command -v node >/dev/null; then
		SDK_SKIP="node is not installed: the SDK tests need Node >= 20"
	elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ] 2>/dev/null; then
		SDK_SKIP="node $(node --version) is too old: the SDK tests need Node >= 20"
	elif [ ! -d "$SDK_DIR/node_modules/openai" ] || [ ! -d "$SDK_DIR/node_modules/@anthropic-ai/sdk" ]; then
		SDK_SKIP="the SDKs are not installed: run 'npm ci --prefix $SDK_DIR'"
	fi
	export SDK_SKIP
	[ -z "$SDK_SKIP" ] || return 0
	load helper
	load proxy-helper
	fake_start
	BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR isolate_env
	use_fake_for_all
	unset AROUTER_BASE_URL
	export OPENAI_API_KEY=sk-test-OPENAI-SECRET-1234 ANTHROPIC_API_KEY=sk-ant-SECRET-5678 GEMINI_API_KEY=AIza-SECRET-9012
	proxy_start
}

teardown_file() {
	load helper
	load proxy-helper
	local status=0
	proxy_stop || status=1
	fake_stop || status=1
	return "$status"
}

setup() {
	[ -z "${SDK_SKIP:-}" ] || skip "$SDK_SKIP"
	load helper
	fake_reset
}

# sdk_test FILE NAME: runs the one test called NAME in tests/sdk/FILE.test.mjs
# and fails, showing node's TAP output, unless exactly that test ran and
# passed.
sdk_test() {
	local pattern
	pattern=$(printf '%s' "$2" | sed 's/[][\\.*^$+?(){}|/]/\\&/g')
	run node --test --test-reporter=tap --test-timeout=60000 \
		--test-name-pattern="^$pattern\$" "$SDK_DIR/$1.test.mjs"
	# Keep node's report short: drop the tests the pattern skipped.
	output=$(awk '/^# Subtest: /{next}
		/^ok [0-9]+ - .* # SKIP test name does not match pattern$/{skip=1; next}
		skip && /^  \.\.\.$/{skip=0; next}
		!skip' <<< "$output")
	mapfile -t lines <<< "$output"
	assert_success
	assert_line '# pass 1'
	assert_line '# fail 0'
}

# The names below must match the test() names in the .mjs files one to one;
# the last test checks that.

@test "openai: chat completion through openai/gpt-4o" { sdk_test openai 'chat completion through openai/gpt-4o'; }
@test "openai: chat completion through anthropic/claude-x (translated)" { sdk_test openai 'chat completion through anthropic/claude-x (translated)'; }
@test "openai: chat completion through google/gemini-2.5-flash (translated)" { sdk_test openai 'chat completion through google/gemini-2.5-flash (translated)'; }
@test "openai: withResponse gives the raw HTTP response" { sdk_test openai 'withResponse gives the raw HTTP response'; }
@test "openai: streaming with include_usage through openai/gpt-4o" { sdk_test openai 'streaming with include_usage through openai/gpt-4o'; }
@test "openai: streaming with include_usage through anthropic/claude-x (translated)" { sdk_test openai 'streaming with include_usage through anthropic/claude-x (translated)'; }
@test "openai: streaming with include_usage through google/gemini-2.5-flash (translated)" { sdk_test openai 'streaming with include_usage through google/gemini-2.5-flash (translated)'; }
@test "openai: streaming without include_usage sends no usage chunk" { sdk_test openai 'streaming without include_usage sends no usage chunk'; }
@test "openai: tool calls through openai/gpt-4o" { sdk_test openai 'tool calls through openai/gpt-4o'; }
@test "openai: tool calls through anthropic/claude-x (translated)" { sdk_test openai 'tool calls through anthropic/claude-x (translated)'; }
@test "openai: streamed tool calls assembled by the SDK through anthropic/claude-x (translated)" { sdk_test openai 'streamed tool calls assembled by the SDK through anthropic/claude-x (translated)'; }
@test "openai: tool calls through google/gemini-2.5-flash (translated)" { sdk_test openai 'tool calls through google/gemini-2.5-flash (translated)'; }
@test "openai: streamed tool calls assembled by the SDK through openai/gpt-4o" { sdk_test openai 'streamed tool calls assembled by the SDK through openai/gpt-4o'; }
@test "openai: streamed tool calls assembled by the SDK through google/gemini-2.5-flash (translated)" { sdk_test openai 'streamed tool calls assembled by the SDK through google/gemini-2.5-flash (translated)'; }
@test "openai: tool calls through google/gemini-2.5-flash (translated) keep the thought signature" { sdk_test openai 'tool calls through google/gemini-2.5-flash (translated) keep the thought signature'; }
@test "openai: streamed tool calls through google/gemini-2.5-flash (translated) keep the thought signature" { sdk_test openai 'streamed tool calls through google/gemini-2.5-flash (translated) keep the thought signature'; }
@test "openai: a tool result sent back is answered" { sdk_test openai 'a tool result sent back is answered'; }
@test "openai: request parameters reach anthropic/claude-x translated" { sdk_test openai 'request parameters reach anthropic/claude-x translated'; }
@test "openai: non-ASCII text and JSON escapes survive openai/gpt-4o" { sdk_test openai 'non-ASCII text and JSON escapes survive openai/gpt-4o'; }
@test "openai: non-ASCII text and JSON escapes survive anthropic/claude-x (translated)" { sdk_test openai 'non-ASCII text and JSON escapes survive anthropic/claude-x (translated)'; }
@test "openai: non-ASCII text and JSON escapes survive google/gemini-2.5-flash (translated)" { sdk_test openai 'non-ASCII text and JSON escapes survive google/gemini-2.5-flash (translated)'; }
@test "openai: an error in the middle of a stream from openai/gpt-4o makes the SDK throw" { sdk_test openai 'an error in the middle of a stream from openai/gpt-4o makes the SDK throw'; }
@test "openai: an error in the middle of a stream from anthropic/claude-x (translated) makes the SDK throw" { sdk_test openai 'an error in the middle of a stream from anthropic/claude-x (translated) makes the SDK throw'; }
@test "openai: an error in the middle of a stream from google/gemini-2.5-flash (translated) makes the SDK throw" { sdk_test openai 'an error in the middle of a stream from google/gemini-2.5-flash (translated) makes the SDK throw'; }
@test "openai: embeddings through openai/text-embedding-3-small, base64 and float" { sdk_test openai 'embeddings through openai/text-embedding-3-small, base64 and float'; }
@test "openai: embeddings through google/gemini-embedding-001 (translated), base64 and float" { sdk_test openai 'embeddings through google/gemini-embedding-001 (translated), base64 and float'; }
@test "openai: embeddings dimensions reach google/gemini-embedding-001 (translated)" { sdk_test openai 'embeddings dimensions reach google/gemini-embedding-001 (translated)'; }
@test "openai: models.list() lists the models of providers with keys" { sdk_test openai 'models.list() lists the models of providers with keys'; }
@test "openai: an upstream 429 through openai/gpt-4o throws RateLimitError" { sdk_test openai 'an upstream 429 through openai/gpt-4o throws RateLimitError'; }
@test "openai: an upstream 429 through anthropic/claude-x (translated) throws RateLimitError" { sdk_test openai 'an upstream 429 through anthropic/claude-x (translated) throws RateLimitError'; }
@test "openai: an unknown provider is a NotFoundError" { sdk_test openai 'an unknown provider is a NotFoundError'; }

@test "anthropic: messages.create to anthropic/claude-x (native)" { sdk_test anthropic 'messages.create to anthropic/claude-x (native)'; }
@test "anthropic: messages.create to openai/gpt-4o (translated)" { sdk_test anthropic 'messages.create to openai/gpt-4o (translated)'; }
@test "anthropic: messages.create to google/gemini-2.5-flash (translated)" { sdk_test anthropic 'messages.create to google/gemini-2.5-flash (translated)'; }
@test "anthropic: messages.stream from anthropic/claude-x (native)" { sdk_test anthropic 'messages.stream from anthropic/claude-x (native)'; }
@test "anthropic: messages.stream from openai/gpt-4o (translated)" { sdk_test anthropic 'messages.stream from openai/gpt-4o (translated)'; }
@test "anthropic: messages.stream from google/gemini-2.5-flash (translated)" { sdk_test anthropic 'messages.stream from google/gemini-2.5-flash (translated)'; }
@test "anthropic: create with stream: true yields the raw events" { sdk_test anthropic 'create with stream: true yields the raw events'; }
@test "anthropic: tool use from anthropic/claude-x (native)" { sdk_test anthropic 'tool use from anthropic/claude-x (native)'; }
@test "anthropic: tool use from openai/gpt-4o (translated)" { sdk_test anthropic 'tool use from openai/gpt-4o (translated)'; }
@test "anthropic: streamed tool use from openai/gpt-4o (translated) assembled by messages.stream" { sdk_test anthropic 'streamed tool use from openai/gpt-4o (translated) assembled by messages.stream'; }
@test "anthropic: streamed tool use from google/gemini-2.5-flash (translated) assembled by messages.stream" { sdk_test anthropic 'streamed tool use from google/gemini-2.5-flash (translated) assembled by messages.stream'; }
@test "anthropic: a tool result sent back to openai/gpt-4o (translated) is answered" { sdk_test anthropic 'a tool result sent back to openai/gpt-4o (translated) is answered'; }
@test "anthropic: native: the request body reaches anthropic/claude-x unchanged but for the model" { sdk_test anthropic 'native: the request body reaches anthropic/claude-x unchanged but for the model'; }
@test "anthropic: native: client.beta.messages sends its anthropic-beta header to anthropic/claude-x" { sdk_test anthropic 'native: client.beta.messages sends its anthropic-beta header to anthropic/claude-x'; }
@test "anthropic: native: thinking blocks from anthropic/claude-x keep their signature" { sdk_test anthropic 'native: thinking blocks from anthropic/claude-x keep their signature'; }
@test "anthropic: native: streamed thinking blocks from anthropic/claude-x keep their signature" { sdk_test anthropic 'native: streamed thinking blocks from anthropic/claude-x keep their signature'; }
@test "anthropic: native: a thinking block sent back reaches anthropic/claude-x with its signature" { sdk_test anthropic 'native: a thinking block sent back reaches anthropic/claude-x with its signature'; }
@test "anthropic: native: message_start from anthropic/claude-x carries the input tokens" { sdk_test anthropic 'native: message_start from anthropic/claude-x carries the input tokens'; }
@test "anthropic: an error in the middle of a stream from openai/gpt-4o (translated) makes messages.stream throw" { sdk_test anthropic 'an error in the middle of a stream from openai/gpt-4o (translated) makes messages.stream throw'; }
@test "anthropic: an error in the middle of a stream from google/gemini-2.5-flash (translated) makes messages.stream throw" { sdk_test anthropic 'an error in the middle of a stream from google/gemini-2.5-flash (translated) makes messages.stream throw'; }
@test "anthropic: native: an overloaded_error in the middle of a stream from anthropic/claude-x keeps its type" { sdk_test anthropic 'native: an overloaded_error in the middle of a stream from anthropic/claude-x keeps its type'; }
@test "anthropic: an upstream 529 from anthropic/claude-x throws OverloadedError" { sdk_test anthropic 'an upstream 529 from anthropic/claude-x throws OverloadedError'; }
@test "anthropic: an upstream 429 from openai/gpt-4o (translated) throws RateLimitError" { sdk_test anthropic 'an upstream 429 from openai/gpt-4o (translated) throws RateLimitError'; }
@test "anthropic: an unknown provider is a NotFoundError in Anthropic shape" { sdk_test anthropic 'an unknown provider is a NotFoundError in Anthropic shape'; }

@test "every test in tests/sdk/*.test.mjs has a bats test here" {
	local f
	for f in openai anthropic; do
		diff -u \
			<(sed -n "s/^test('\([^']*\)'.*/$f \1/p" "$SDK_DIR/$f.test.mjs" | sort) \
			<(sed -n "s/^@test .*{ sdk_test \($f\) '\([^']*\)'.*/\1 \2/p" "$BATS_TEST_FILENAME" | sort) ||
			fail "tests/sdk/$f.test.mjs and tests/sdk.bats disagree (- only in the .mjs, + only here)"
	done
}
