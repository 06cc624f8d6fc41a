# helper.bash - shared setup for every bats suite: bats-support/assert, the
# fake upstream helpers, and an isolated environment in which no real key,
# config or provider URL from the machine running the tests can leak in.

bats_load_library bats-support 2>/dev/null || load '/usr/lib/bats/bats-support/load'
bats_load_library bats-assert 2>/dev/null || load '/usr/lib/bats/bats-assert/load'
load fake

AROUTER=${AROUTER:-$BATS_TEST_DIRNAME/../src/arouter}

# Every provider slug the binary knows, for pointing them all somewhere safe.
AROUTER_TEST_SLUGS="openai anthropic google deepseek xai kimi minimax mistral groq cohere nvidia dashscope openrouter ollama azure arouter"

isolate_env() {
	local v
	for v in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*_API_KEY\)=.*/\1/p'); do unset "$v"; done
	unset AROUTER_CONFIG AROUTER_BASE_URL AROUTER_MODEL AROUTER_DEFAULT_BACKEND CO_API_KEY NO_COLOR
	export HOME="$BATS_TEST_TMPDIR/home"
	export XDG_CONFIG_HOME="$HOME/.config" XDG_STATE_HOME="$HOME/.local/state" XDG_DATA_HOME="$HOME/.local/share"
	mkdir -p "$XDG_CONFIG_HOME"
	# Nothing may reach the internet: unless a test points a provider at the
	# fake upstream, it points at a closed port on loopback.
	local slug up
	for slug in $AROUTER_TEST_SLUGS; do
		up=$(echo "$slug" | tr 'a-z-' 'A-Z_')
		export "AROUTER_${up}_BASE_URL=http://127.0.0.1:9"
	done
}

# Points every provider (and the gateway) at the fake upstream.
use_fake_for_all() {
	local slug up
	for slug in $AROUTER_TEST_SLUGS; do
		up=$(echo "$slug" | tr 'a-z-' 'A-Z_')
		export "AROUTER_${up}_BASE_URL=$FAKE_URL"
	done
	export AROUTER_BASE_URL="$FAKE_URL"
}

# Writes stdin to the user's default config file and prints its path.
write_config() {
	mkdir -p "$XDG_CONFIG_HOME/arouter"
	cat > "$XDG_CONFIG_HOME/arouter/config.json"
	chmod 600 "$XDG_CONFIG_HOME/arouter/config.json"
	echo "$XDG_CONFIG_HOME/arouter/config.json"
}

# Sanitizer reports exit with 86/87 (ASAN_OPTIONS/UBSAN_OPTIONS in the
# Makefile); fail loudly if one shows up in captured output.
refute_sanitizer_report() {
	refute_output --partial 'ERROR: AddressSanitizer'
	refute_output --partial 'ERROR: LeakSanitizer'
	refute_output --partial 'runtime error:'
}
