#!/usr/bin/env bats
# The interactive `arouter chat` session, driven through a real terminal
# (tmux): turns, slash commands, multi-line input, Ctrl-C, Ctrl-D, history.

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
	use_fake_for_all
	fake_reset
	export OPENAI_API_KEY=sk-test-SECRET123456789
	SOCK="$BATS_TEST_TMPDIR/tmux.sock"
	# The session runs arouter, then prints its exit status and waits.
	tmux -S "$SOCK" new-session -d -x 150 -y 40 \
		"env HOME='$HOME' XDG_STATE_HOME='$XDG_STATE_HOME' XDG_CONFIG_HOME='$XDG_CONFIG_HOME' \
		 OPENAI_API_KEY='$OPENAI_API_KEY' AROUTER_OPENAI_BASE_URL='$FAKE_URL' TERM=xterm \
		 ASAN_OPTIONS='$ASAN_OPTIONS' '$AROUTER' chat -m openai/gpt-4o $REPL_ARGS; echo EXIT=\$?; sleep 60"
}

teardown() {
	tmux -S "$SOCK" kill-server 2>/dev/null || true
}

screen() { tmux -S "$SOCK" capture-pane -p -S -100; }

# Waits (up to 10 s) until the screen matches a regexp.
wait_for() {
	local i
	for i in $(seq 100); do
		screen | grep -qE -- "$1" && return 0
		sleep 0.1
	done
	echo "timed out waiting for: $1" >&2
	screen >&2
	return 1
}

send() { tmux -S "$SOCK" send-keys "$@"; }

# Waits until the session shows an empty prompt as its last line: keys
# sent before it reach a terminal still in cooked mode, where Ctrl-D is
# the line discipline's, not the line editor's.
wait_prompt() {
	local i
	for i in $(seq 100); do
		screen | sed '/^ *$/d' | tail -1 | grep -qE '^> ?$' && return 0
		sleep 0.1
	done
	echo "timed out waiting for an empty prompt" >&2
	screen >&2
	return 1
}

user_messages() { fake_last_request | jq -c '[.body | fromjson | .messages[] | select(.role == "user") | .content]'; }

@test "two turns keep the conversation; Ctrl-D exits 0" {
	wait_for '^>'
	send "first question" Enter
	wait_for 'Hello from the fake upstream\.'
	send "second question" Enter
	wait_for '(Hello from the fake upstream\.[^H]*){2}' || [ "$(screen | grep -c 'Hello from the fake upstream.')" -ge 2 ]
	run user_messages
	assert_output '["first question","second question"]'
	fake_last_request | jq -e '.body | fromjson | .messages[1] | .role == "assistant" and .content == "Hello from the fake upstream."'
	wait_prompt
	send C-d
	wait_for 'EXIT=0'
}

@test "/model switches the model for the next turn; a bad one is refused" {
	wait_for '^>'
	send "/model anthropc/x" Enter
	wait_for "did you mean 'anthropic'"
	send "/model openai/gpt-4o-mini" Enter
	wait_for 'model: openai/gpt-4o-mini \(via openai\)'
	send "hello" Enter
	wait_for 'Hello from the fake upstream\.'
	run fake_last_request
	assert_equal "$(jq -r '.body | fromjson | .model' <<< "$output")" gpt-4o-mini
}

@test "Ctrl-C stops a slow answer, aborts the upstream, and the next turn works" {
	wait_for '^>'
	send "[[fake:drip=1000]] slow please" Enter
	wait_for 'Hello'
	send C-c
	wait_for 'interrupted; the answer above is partial'
	# The fake saw the client go away: the transfer was aborted, not drained.
	fake_wait_event client_closed 10
	send "after" Enter
	wait_for '> after'
	wait_for 'after.*\n?Hello from the fake upstream\.' || screen | grep -A1 '> after' | grep -q 'Hello from the fake upstream.'
	# The interrupted turn is not part of the conversation.
	run user_messages
	assert_output '["after"]'
	send "/exit" Enter
	wait_for 'EXIT=0'
}

@test "multi-line input: trailing backslash and a triple-quote block" {
	wait_for '^>'
	send 'line one \' Enter
	send 'line two' Enter
	wait_for 'Hello from the fake upstream\.'
	run user_messages
	assert_output '["line one \nline two"]'
	send '"""' Enter 'alpha' Enter 'beta' Enter '"""' Enter
	for _ in $(seq 50); do [ "$(fake_request_count)" -ge 2 ] && break; sleep 0.1; done
	run user_messages
	assert_output '["line one \nline two","alpha\nbeta"]'
}

@test "/system, /clear, /save, /usage and an unknown command" {
	wait_for '^>'
	send "/system be terse" Enter
	wait_for 'system prompt set'
	send "one" Enter
	wait_for 'Hello from the fake upstream\.'
	fake_last_request | jq -e '.body | fromjson | .messages[0] == {"role":"system","content":"be terse"}'
	send "/usage" Enter
	wait_for 'usage: 12 prompt \(2 cached\) \+ 5 completion = 17 tokens'
	send "/save $BATS_TEST_TMPDIR/conv.json" Enter
	wait_for "saved to"
	run jq -c '[.messages[].role]' "$BATS_TEST_TMPDIR/conv.json"
	assert_output '["user","assistant"]'
	send "/clear" Enter
	wait_for 'conversation cleared'
	send "two" Enter
	for _ in $(seq 50); do [ "$(fake_request_count)" -ge 2 ] && break; sleep 0.1; done
	run user_messages
	assert_output '["two"]'
	send "/modle x" Enter
	wait_for "unknown command /modle \(did you mean /model\?\)"
}

@test "history is kept under XDG_STATE_HOME, private" {
	wait_for '^>'
	send "remember me" Enter
	wait_for 'Hello from the fake upstream\.'
	wait_prompt
	send C-d
	wait_for 'EXIT=0'
	run cat "$XDG_STATE_HOME/arouter/history"
	assert_output --partial "remember"
	assert_equal "$(stat -c %a "$XDG_STATE_HOME/arouter/history")" 600
}

@test "the key never appears on the screen, even with -v" {
	teardown
	REPL_ARGS=-v setup
	wait_for '^>'
	send "hi" Enter
	wait_for 'Hello from the fake upstream\.'
	run screen
	refute_output --partial SECRET123456789
}
