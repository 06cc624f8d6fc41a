#!/usr/bin/env bats
# The dispatcher: version, help, unknown commands and options, exit codes.

setup() {
	load helper
	isolate_env
}

@test "--version prints the version and exits 0" {
	run "$AROUTER" --version
	assert_success
	assert_output --regexp '^arouter [0-9]+\.[0-9]+\.[0-9]+ \(libcurl [0-9]+\.[0-9]+'
	# A libcurl that cannot be opened is named, and the version still prints.
	run env AROUTER_LIBCURL=/nonexistent/libcurl.so.4 "$AROUTER" --version
	assert_success
	assert_output --regexp '^arouter [0-9.]+ \(cannot load libcurl \(AROUTER_LIBCURL\): /nonexistent/libcurl.so.4: '
}

@test "--version names the allocator a plain build links (mimalloc)" {
	# .ci/run sets AROUTER_EXPECT_MALLOC for its build without sanitizers,
	# which links mimalloc; a sanitizer build has the sanitizers' allocator.
	[[ -n "${AROUTER_EXPECT_MALLOC:-}" ]] || skip "AROUTER_EXPECT_MALLOC is not set (a build with sanitizers)"
	run "$AROUTER" --version
	assert_success
	assert_output --regexp "^arouter [0-9.]+ \(libcurl [0-9.]+, $AROUTER_EXPECT_MALLOC [0-9]+\.[0-9]+\.[0-9]+\)$"
}

@test "no command prints usage to stderr and exits 2" {
	run --separate-stderr "$AROUTER"
	assert_failure 2
	assert_equal "$output" ""
	[[ "$stderr" == *"usage: arouter"* ]]
}

@test "help lists every command" {
	run "$AROUTER" help
	assert_success
	for c in chat models balance keys usage proxy config help; do
		assert_line --regexp "^  $c +"
	done
}

@test "-h and --help print the same help as 'help'" {
	run "$AROUTER" help
	local want=$output
	run "$AROUTER" -h
	assert_success
	assert_equal "$output" "$want"
	run "$AROUTER" --help
	assert_equal "$output" "$want"
}

@test "help COMMAND prints that command's usage" {
	for c in chat models balance keys usage proxy config help; do
		run "$AROUTER" help "$c"
		assert_success
		assert_line --index 0 --regexp "^usage: arouter $c"
	done
}

@test "COMMAND --help equals help COMMAND" {
	run "$AROUTER" help config
	local want=$output
	run "$AROUTER" config --help
	assert_success
	assert_equal "$output" "$want"
}

@test "help of an unknown command suggests the closest one and exits 2" {
	run "$AROUTER" help chta
	assert_failure 2
	assert_output "arouter: 'chta' is not a command (did you mean 'chat'?)"
}

@test "an unknown command suggests the closest one and exits 2" {
	run "$AROUTER" modles
	assert_failure 2
	assert_output "arouter: 'modles' is not a command (did you mean 'models'?)"
	run "$AROUTER" configg path
	assert_failure 2
	assert_output --partial "did you mean 'config'?"
}

@test "a command nothing resembles gets no suggestion" {
	run "$AROUTER" xyzzyplugh
	assert_failure 2
	assert_output "arouter: 'xyzzyplugh' is not a command (see 'arouter help')"
}

@test "an unknown global option suggests the closest and exits 2" {
	run "$AROUTER" --bse-url http://x config path
	assert_failure 2
	assert_output "arouter: unknown option '--bse-url' (did you mean '--base-url'?)"
}

@test "an unknown command option suggests the closest and exits 2" {
	run "$AROUTER" config --confg x path
	assert_failure 2
	assert_output "arouter: config: unknown option '--confg' (did you mean '--config'?)"
}

@test "an unknown short option exits 2" {
	run "$AROUTER" config -Z path
	assert_failure 2
	assert_output --partial "unknown option '-Z'"
}

@test "an option missing its value exits 2" {
	run "$AROUTER" config path --config
	assert_failure 2
	assert_output --partial "option '--config' needs a value"
	run "$AROUTER" --base-url
	assert_failure 2
}

@test "global options work after the command too" {
	run "$AROUTER" config path --config /tmp/elsewhere.json
	assert_success
	assert_output "/tmp/elsewhere.json"
}

@test "-q silences warnings" {
	f=$(write_config <<< '{"api_key": "lr_live_abcdefghijklmnopqrstuvwx"}')
	chmod 644 "$f"
	run "$AROUTER" config show
	assert_success
	assert_output --partial "readable by others"
	run "$AROUTER" -q config show
	assert_success
	refute_output --partial "readable by others"
}

complete_words() {
	# Runs the bash completion for the words given; prints the candidates.
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _arouter; printf "%s\n" "${COMPREPLY[@]}"' _ \
		"${AROUTER_SRCDIR:-$BATS_TEST_DIRNAME/..}/completions/arouter" "$@"
}

@test "bash completion: commands, global options, chat options, config subcommands, models" {
	run complete_words arouter c
	assert_line chat
	assert_line config
	run complete_words arouter --ba
	assert_output --base-url
	run complete_words arouter chat --no-s
	assert_line --no-stream
	assert_line --no-save
	run complete_words arouter config s
	assert_output show
	run complete_words arouter chat -m anth
	assert_line anthropic/
	assert_line anthropic/claude-sonnet-4-6
	run complete_words arouter models --l
	assert_output --live
	run complete_words arouter models --provider dee
	assert_output deepseek
	run complete_words arouter models -p ol
	assert_output ollama
	run complete_words arouter proxy --w
	assert_output --workers
}

@test "bash completion: keys subcommands and options, usage groups, balance options" {
	run complete_words arouter u
	assert_output usage
	run complete_words arouter keys c
	assert_output create
	run complete_words arouter keys create --bu
	assert_output --budget
	run complete_words arouter keys create --m
	assert_output --models
	run complete_words arouter keys list --
	assert_line --all
	refute_line --budget
	run complete_words arouter keys create --
	assert_line --expires
	refute_line --all
	run complete_words arouter usage --by m
	assert_output model
	run complete_words arouter usage --s
	assert_output --since
	run complete_words arouter balance --l
	assert_output --local
}

@test "zsh and fish completion files are syntactically valid where the shells exist" {
	local dir=${AROUTER_SRCDIR:-$BATS_TEST_DIRNAME/..}/completions
	run bash -n "$dir/arouter"
	assert_success
	if command -v zsh >/dev/null; then run zsh -n "$dir/_arouter"; assert_success; fi
	if command -v fish >/dev/null; then run fish -n "$dir/arouter.fish"; assert_success; fi
	grep -q -- '--show-reasoning' "$dir/_arouter"
	grep -q -- 'show-reasoning' "$dir/arouter.fish"
	grep -q -- '--live' "$dir/_arouter"
	grep -q -- '-l live' "$dir/arouter.fish"
	local w
	for w in usage --since --by --budget --rpm --tpm --models --expires --local revoke; do
		grep -q -- "${w#--}" "$dir/_arouter" || fail "_arouter lacks $w"
		grep -q -- "${w#--}" "$dir/arouter.fish" || fail "arouter.fish lacks $w"
	done
}
