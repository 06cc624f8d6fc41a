#!/usr/bin/env bats
# `arouter config path|show|check`, precedence, the provider registry.

setup() {
	load helper
	isolate_env
}

show() { "$AROUTER" config show "$@"; }

@test "config path: XDG default, then AROUTER_CONFIG, then --config" {
	run "$AROUTER" config path
	assert_success
	assert_output "$XDG_CONFIG_HOME/arouter/config.json"
	AROUTER_CONFIG=/tmp/from-env.json run "$AROUTER" config path
	assert_output /tmp/from-env.json
	AROUTER_CONFIG=/tmp/from-env.json run "$AROUTER" --config /tmp/from-flag.json config path
	assert_output /tmp/from-flag.json
}

@test "config path falls back to ~/.config when XDG_CONFIG_HOME is unset or relative" {
	unset XDG_CONFIG_HOME
	run "$AROUTER" config path
	assert_output "$HOME/.config/arouter/config.json"
	XDG_CONFIG_HOME=relative/dir run "$AROUTER" config path
	assert_output "$HOME/.config/arouter/config.json"
}

@test "config path works even when the file is malformed" {
	write_config <<< '{ broken'
	run "$AROUTER" config path
	assert_success
}

@test "config show lists every built-in provider with base URL, dialect, auth and key variable" {
	run show
	assert_success
	while read -r slug url dialect auth env; do
		got=$(jq -r --arg s "$slug" '.providers[$s] | "\(.base_url_source) \(.dialect) \(.auth) \(.key_env | join(","))"' <<< "$output")
		assert_equal "$got" "AROUTER_$(echo "$slug" | tr 'a-z-' 'A-Z_')_BASE_URL $dialect $auth $env"
	done <<'TABLE'
openai https://api.openai.com openai bearer OPENAI_API_KEY
anthropic https://api.anthropic.com anthropic x-api-key ANTHROPIC_API_KEY
google https://generativelanguage.googleapis.com gemini x-goog-api-key GEMINI_API_KEY,GOOGLE_API_KEY
deepseek https://api.deepseek.com openai bearer DEEPSEEK_API_KEY
xai https://api.x.ai openai bearer XAI_API_KEY
kimi https://api.moonshot.ai openai bearer MOONSHOT_API_KEY,KIMI_API_KEY
minimax https://api.minimax.io openai bearer MINIMAX_API_KEY
mistral https://api.mistral.ai openai bearer MISTRAL_API_KEY
groq https://api.groq.com openai bearer GROQ_API_KEY
cohere https://api.cohere.com openai bearer COHERE_API_KEY,CO_API_KEY
nvidia https://integrate.api.nvidia.com openai bearer NVIDIA_API_KEY
dashscope https://dashscope-intl.aliyuncs.com openai bearer DASHSCOPE_API_KEY
openrouter https://openrouter.ai openai bearer OPENROUTER_API_KEY
ollama http://127.0.0.1:11434 openai bearer OLLAMA_API_KEY
azure - openai api-key AZURE_OPENAI_API_KEY
TABLE
}

@test "built-in base URLs and chat paths are the documented ones" {
	# Without the test harness's loopback overrides.
	for slug in $AROUTER_TEST_SLUGS; do unset "AROUTER_$(echo "$slug" | tr 'a-z-' 'A-Z_')_BASE_URL"; done
	run show
	assert_success
	while read -r slug url path; do
		got=$(jq -r --arg s "$slug" '.providers[$s] | "\(.base_url) \(.chat_path) \(.base_url_source)"' <<< "$output")
		assert_equal "$got" "$url $path built-in"
	done <<'TABLE'
openai https://api.openai.com /v1/chat/completions
anthropic https://api.anthropic.com /v1/messages
google https://generativelanguage.googleapis.com /v1beta/models/{model}:generateContent
deepseek https://api.deepseek.com /chat/completions
xai https://api.x.ai /v1/chat/completions
kimi https://api.moonshot.ai /v1/chat/completions
minimax https://api.minimax.io /v1/chat/completions
mistral https://api.mistral.ai /v1/chat/completions
groq https://api.groq.com /openai/v1/chat/completions
cohere https://api.cohere.com /compatibility/v1/chat/completions
nvidia https://integrate.api.nvidia.com /v1/chat/completions
dashscope https://dashscope-intl.aliyuncs.com /compatible-mode/v1/chat/completions
openrouter https://openrouter.ai /api/v1/chat/completions
ollama http://127.0.0.1:11434 /v1/chat/completions
TABLE
	assert_equal "$(jq -r '.providers.anthropic.headers["anthropic-version"]' <<< "$output")" "2023-06-01"
	assert_equal "$(jq -r '.providers.mock.ready' <<< "$output")" "true"
	assert_equal "$(jq -r '.base_url.value' <<< "$output")" "https://api.arouter.ai"
}

@test "base URL precedence: env AROUTER_<SLUG>_BASE_URL over config over built-in" {
	unset AROUTER_OPENAI_BASE_URL AROUTER_DASHSCOPE_BASE_URL
	write_config <<'JSON'
{ "providers": { "openai": { "base_url": "http://127.0.0.1:1234/" },
                 "dashscope": { "base_url": "https://dashscope.aliyuncs.com" } } }
JSON
	run show
	assert_equal "$(jq -r '.providers.openai | "\(.base_url) \(.base_url_source)"' <<< "$output")" "http://127.0.0.1:1234 config"
	AROUTER_OPENAI_BASE_URL=http://127.0.0.1:5678 run show
	assert_equal "$(jq -r '.providers.openai | "\(.base_url) \(.base_url_source)"' <<< "$output")" "http://127.0.0.1:5678 AROUTER_OPENAI_BASE_URL"
	assert_equal "$(jq -r '.providers.dashscope.base_url' <<< "$output")" "https://dashscope.aliyuncs.com"
}

@test "keys: environment over config, always redacted in show" {
	write_config <<'JSON'
{ "providers": { "openai": { "api_key": "sk-fromconfig-0123456789abcd" } } }
JSON
	run show
	assert_success
	refute_output --partial "sk-fromconfig-0123456789abcd"
	assert_equal "$(jq -r '.providers.openai | "\(.keys[0]) \(.key_source)"' <<< "$output")" "sk-…abcd config"
	OPENAI_API_KEY=sk-fromenv-99999999999wxyz run show
	refute_output --partial "sk-fromenv-99999999999wxyz"
	assert_equal "$(jq -r '.providers.openai | "\(.keys[0]) \(.key_source) \(.ready)"' <<< "$output")" "sk-…wxyz OPENAI_API_KEY true"
}

@test "the second key variable is used when the first is unset" {
	GOOGLE_API_KEY=AIzaSyTESTtest1234567890abcd run show
	assert_equal "$(jq -r '.providers.google.key_source' <<< "$output")" "GOOGLE_API_KEY"
	GEMINI_API_KEY=gem-first-key-1234567890 GOOGLE_API_KEY=AIzaSyTESTtest1234567890abcd run show
	assert_equal "$(jq -r '.providers.google.key_source' <<< "$output")" "GEMINI_API_KEY"
}

@test "gateway settings: flag over environment over config over default, key redacted" {
	write_config <<'JSON'
{ "base_url": "https://gw.example/v1/", "api_key": "lr_live_configconfigconfig1111" }
JSON
	run show
	assert_equal "$(jq -r '.base_url | "\(.value) \(.source)"' <<< "$output")" "https://gw.example config"
	assert_equal "$(jq -r '.api_key.value' <<< "$output")" "lr_live_…1111"
	AROUTER_BASE_URL=http://127.0.0.1:8787 AROUTER_API_KEY=lr_live_envenvenvenvenv2222 run show
	assert_equal "$(jq -r '.base_url | "\(.value) \(.source)"' <<< "$output")" "http://127.0.0.1:8787 AROUTER_BASE_URL"
	assert_equal "$(jq -r '.api_key | "\(.value) \(.source)"' <<< "$output")" "lr_live_…2222 AROUTER_API_KEY"
	AROUTER_BASE_URL=http://127.0.0.1:8787 run "$AROUTER" --base-url http://127.0.0.1:9999 --api-key lr_live_flagflagflagflag3333 config show
	assert_equal "$(jq -r '.base_url | "\(.value) \(.source)"' <<< "$output")" "http://127.0.0.1:9999 flag"
	assert_equal "$(jq -r '.providers.arouter.base_url' <<< "$output")" "http://127.0.0.1:9999"
	refute_output --partial "lr_live_flagflagflagflag3333"
}

@test "custom OpenAI-compatible provider from config" {
	write_config <<'JSON'
{
  // a local vLLM server
  "providers": {
    "vllm": { "base_url": "http://127.0.0.1:8000/", "models": ["llama-3.1-8b"] },
    "lmstudio": { "name": "LM Studio", "base_url": "http://127.0.0.1:1234", "api_key": "lm-studio-key-123456",
                  "headers": { "X-Team": "a", "X-Secret-Token": "supersecretvalue123" } },
  },
}
JSON
	run show
	assert_success
	assert_equal "$(jq -r '.providers.vllm | "\(.base_url) \(.dialect) \(.chat_path) \(.ready) \(.builtin)"' <<< "$output")" \
		"http://127.0.0.1:8000 openai /v1/chat/completions true false"
	assert_equal "$(jq -r '.providers.lmstudio | "\(.name) \(.headers["X-Team"]) \(.keys[0])"' <<< "$output")" "LM Studio a lm-…3456"
	refute_output --partial supersecretvalue123
}

@test "a custom provider without base_url is a config error with its line" {
	write_config <<'JSON'
{
  "providers": {
    "mine": { "dialect": "openai" }
  }
}
JSON
	run "$AROUTER" config show
	assert_failure 3
	assert_output --regexp "config.json:3:5: providers.mine.base_url is required for a custom provider$"
}

@test "an unknown dialect is named with the valid ones" {
	write_config <<< '{"providers": {"x": {"base_url": "http://h", "dialect": "cohere"}}}'
	run "$AROUTER" config show
	assert_failure 3
	assert_output --partial "providers.x.dialect: unknown dialect 'cohere' (use openai, anthropic or gemini)"
}

@test "config check: ok for a valid file and for no file" {
	run "$AROUTER" config check
	assert_success
	assert_output --partial "no config file; using built-in defaults"
	write_config <<< '{"default_model": "gpt-4o", /* ok */ "default_backend": "auto",}'
	run "$AROUTER" config check
	assert_success
	assert_output --regexp "config.json: ok$"
}

@test "config check: syntax errors with line and column" {
	write_config <<'JSON'
{
  "default_model": "gpt-4o",
  "providers": {
    "openai": { "base_url": tru }
  }
}
JSON
	run "$AROUTER" config check
	assert_failure 3
	assert_output --regexp "config.json:4:29: "
	printf '{\n  "a": [1, 2\n' > "$XDG_CONFIG_HOME/arouter/config.json"
	run "$AROUTER" config check
	assert_failure 3
	assert_output --regexp "config.json:3:1: unexpected end of file"
	printf '{}\n}\n' > "$XDG_CONFIG_HOME/arouter/config.json"
	run "$AROUTER" config check
	assert_failure 3
	assert_output --regexp "config.json:2:1: unexpected text after the end"
	printf '[1]' > "$XDG_CONFIG_HOME/arouter/config.json"
	run "$AROUTER" config check
	assert_failure 3
	assert_output --partial "must be a JSON object"
}

@test "config check: every problem listed, each with its line" {
	write_config <<'JSON'
{
  "default_model": 7,
  "provders": {},
  "providers": {
    "vllm": { "base_url": "http://127.0.0.1:8000", "modles": [] }
  },
  "model_aliases": [
    { "pattern": "^gpt-(.*)", "replacement": "openrouter:openai/gpt-\\1" },
    { "pattern": "^(unclosed", "replacement": "x" }
  ],
  "default_backend": "nowhere"
}
JSON
	run "$AROUTER" config check
	assert_failure 3
	assert_line --regexp "config.json:2:3: default_model must be a string$"
	assert_line --regexp "config.json:3:3: provders: unknown key \(did you mean 'providers'\?\)$"
	assert_line --regexp "config.json:5:52: providers.vllm.modles: unknown key \(did you mean 'models'\?\)$"
	assert_line --regexp "config.json:9:7: model_aliases.1.pattern: invalid regular expression"
	assert_line --regexp "default_backend: 'nowhere' is not auto, direct, gateway or a provider$"
	assert_equal "${#lines[@]}" 5
}

@test "config check: the proxy, routing, chat and routes sections, key by key" {
	write_config <<'JSON'
{
  "proxy": { "listen": "127.0.0.1:0", "client_timout": 5, "idle_timeout": "30", "ledger": "no", "timeout": -1, "http_client": "curl" },
  "routing": { "retries": 2, "breaker": { "failures": 3, "cooldwn": 10 }, "dedline": 5 },
  "chat": { "ledger": false, "colour": true },
  "routes": {
    "good": ["openai/gpt-4o", "anthropic/claude-sonnet-4.6"],
    "fine": { "models": ["openai/gpt-4o"], "strategy": "lowest-cost" },
    "typo": { "models": ["openai/gpt-4o"], "strategy": "lowest-costs", "model": [] },
    "empty": [],
    "bad": [7]
  }
}
JSON
	run "$AROUTER" config check
	assert_failure 3
	assert_line --regexp "config.json:2:39: proxy.client_timout: unknown key \(did you mean 'client_timeout'\?\)$"
	assert_line --regexp "config.json:2:59: proxy.idle_timeout must be a number$"
	assert_line --regexp "config.json:2:[0-9]+: proxy.ledger must be true or false$"
	assert_line --regexp "config.json:2:[0-9]+: proxy.timeout must not be negative$"
	assert_line --regexp "config.json:2:[0-9]+: proxy.http_client must be builtin or libcurl$"
	assert_line --regexp "config.json:3:[0-9]+: routing.breaker.cooldwn: unknown key \(did you mean 'cooldown'\?\)$"
	assert_line --regexp "config.json:3:[0-9]+: routing.dedline: unknown key \(did you mean 'deadline'\?\)$"
	assert_line --regexp "config.json:4:[0-9]+: chat.colour: unknown key$"
	assert_line --regexp "routes.typo.strategy: 'lowest-costs' is not a strategy \(did you mean 'lowest-cost'\?\)$"
	assert_line --regexp "routes.typo.model: unknown key \(did you mean 'models'\?\)$"
	assert_line --regexp "routes.empty must be a list of models, or an object with one$"
	assert_line --regexp "routes.bad: item 0 must be a model string$"
	assert_equal "${#lines[@]}" 12
	# The proxy names them as warnings when it starts, and still starts.
	run timeout 2 "$AROUTER" proxy --listen 127.0.0.1:0
	assert_line --regexp "^arouter: warning: .*config.json:2:39: proxy.client_timout: unknown key"
	assert_line --partial "proxy listening on"
}

@test "config check and the proxy read a config with single-quoted strings (json-c takes them) without hanging" {
	# A single-quoted string holding quotes and brackets once sent the
	# locator of unknown keys round a loop forever: config check, and the
	# proxy when it starts, hung (fuzz-config found it).
	write_config <<'JSON'
{
  "chat": { "colour": ' "x": [ } ' },
  "providerz": {}
}
JSON
	run timeout 10 "$AROUTER" config check
	assert_failure 3
	assert_line --regexp "config.json:2:13: chat.colour: unknown key$"
	assert_line --regexp "config.json:3:3: providerz: unknown key \(did you mean 'providers'\?\)$"
	run timeout 3 "$AROUTER" proxy --listen 127.0.0.1:0
	assert_line --partial "proxy listening on"
}

@test "a type error stops other commands with exit 3 and one line" {
	write_config <<< '{"providers": {"openai": {"base_url": 42}}}'
	run "$AROUTER" config show
	assert_failure 3
	assert_output --regexp "^arouter: .*config.json:1:27: providers.openai.base_url must be a string$"
	assert_equal "${#lines[@]}" 1
}

@test "an explicitly named config file that is missing is an error" {
	run "$AROUTER" --config "$BATS_TEST_TMPDIR/nope.json" config show
	assert_failure 3
	assert_output --partial "nope.json: cannot read the config file: No such file or directory"
}

@test "a config file holding keys and readable by others gets a warning" {
	f=$(write_config <<< '{"providers": {"openai": {"api_key": "sk-aaaaaaaaaaaaaaaaaaaa"}}}')
	run --separate-stderr "$AROUTER" config show
	assert_success
	[[ "$stderr" != *"readable by others"* ]]
	chmod 644 "$f"
	run --separate-stderr "$AROUTER" config show
	[[ "$stderr" == *"holds keys and is readable by others; run: chmod 600"* ]]
	# Once, also from the proxy (which reads the file for its options and
	# again for the server).
	run timeout 2 "$AROUTER" proxy --listen 127.0.0.1:0
	assert_equal "$(grep -c 'readable by others' <<< "$output")" 1
}
