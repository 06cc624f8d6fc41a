# tests/fake.bash - bats helpers around the fake upstream (tests/fake-upstream.c).
#
# Owns starting and stopping one fake per test file, scripting it (the
# /_fake/next queue, reset) and reading its record.  Load it with `load fake`
# and use it like this:
#
#	setup_file()    { fake_start; }
#	teardown_file() { fake_stop; }
#	setup()         { fake_reset; }
#
# fake_start exports FAKE_PORT, FAKE_URL, FAKE_RECORD, FAKE_PID and FAKE_DIR
# (its scratch directory, holding the fake's stderr in FAKE_DIR/stderr).
# Directives are "key=value;key2=value2;flag"; see tests/fake-upstream.c.

# bats-support and bats-assert, unless the test file loaded them already.
if ! declare -F assert_success >/dev/null; then
	load '/usr/lib/bats/bats-support/load'
	load '/usr/lib/bats/bats-assert/load'
fi

# fake_start: runs the fake in the background and waits (up to 5 s) until it
# listens.  Fails, showing the fake's stderr, if it does not come up.
fake_start() {
	local bin=${FAKE_UPSTREAM:-$BATS_TEST_DIRNAME/fake-upstream}
	local base=${BATS_FILE_TMPDIR:-${BATS_SUITE_TMPDIR:-}}
	local dir i

	if [[ -n ${FAKE_PID:-} ]] && kill -0 "$FAKE_PID" 2>/dev/null; then
		echo "fake_start: a fake is already running (pid $FAKE_PID); fake_stop it first" >&2
		return 1
	fi
	if [[ ! -x $bin ]]; then
		echo "fake_start: $bin is not an executable (build it with 'make check' or set FAKE_UPSTREAM)" >&2
		return 1
	fi
	if [[ -z $base ]]; then
		echo "fake_start: neither BATS_FILE_TMPDIR nor BATS_SUITE_TMPDIR is set" >&2
		return 1
	fi
	dir=$(mktemp -d "$base/fake.XXXXXX") || return 1
	# The subshell outlives the fake to keep its exit status in a file, so
	# that fake_stop can check it from any process, not only this shell's
	# children.  fd 3 is bats' own: a background job holding it open would
	# hang bats at the end of the file.  set +e: bats runs us under set -e,
	# which would end the subshell at a failing wait, before it reports.
	(
		set +e
		"$bin" --port-file "$dir/port" --record "$dir/record.jsonl" 2>"$dir/stderr" </dev/null &
		echo $! >"$dir/pid"
		wait $!
		echo $? >"$dir/status.tmp" && mv "$dir/status.tmp" "$dir/status"
	) 3>&- >/dev/null &
	for ((i = 0; i < 50; i++)); do
		[[ -s $dir/port ]] && break
		[[ -e $dir/status ]] && break
		sleep 0.1
	done
	if [[ ! -s $dir/port ]]; then
		echo "fake_start: $bin did not start listening within 5 s" >&2
		[[ -e $dir/status ]] && echo "fake_start: it exited with status $(<"$dir/status")" >&2
		cat "$dir/stderr" >&2 2>/dev/null
		[[ -s $dir/pid ]] && kill -KILL "$(<"$dir/pid")" 2>/dev/null
		return 1
	fi
	FAKE_DIR=$dir
	FAKE_PID=$(<"$dir/pid")
	FAKE_PORT=$(<"$dir/port")
	FAKE_URL=http://127.0.0.1:$FAKE_PORT
	FAKE_RECORD=$dir/record.jsonl
	export FAKE_DIR FAKE_PID FAKE_PORT FAKE_URL FAKE_RECORD
}

# fake_stop: SIGTERM, then waits (up to 10 s) for the fake to exit.  Fails
# on a non-zero status: that is how a leak or UB report (ASan/UBSan exit
# codes) fails the test file.
fake_stop() {
	local i status

	[[ -n ${FAKE_PID:-} && -n ${FAKE_DIR:-} ]] || return 0
	kill -TERM "$FAKE_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		[[ -e $FAKE_DIR/status ]] && break
		sleep 0.1
	done
	if [[ ! -e $FAKE_DIR/status ]]; then
		echo "fake_stop: the fake (pid $FAKE_PID) did not exit within 10 s of SIGTERM" >&2
		kill -KILL "$FAKE_PID" 2>/dev/null
		return 1
	fi
	status=$(<"$FAKE_DIR/status")
	unset FAKE_PID
	if [[ $status != 0 ]]; then
		echo "fake_stop: the fake exited with status $status; its stderr:" >&2
		cat "$FAKE_DIR/stderr" >&2
		return 1
	fi
}

# fake_next DIRECTIVE: queues a directive for the next request (FIFO).
fake_next() {
	curl -fsS -X POST --data-binary "$1" "$FAKE_URL/_fake/next" >/dev/null
}

# fake_reset: empties the queue and the record, and restarts seq at 1.
fake_reset() {
	curl -fsS -X POST "$FAKE_URL/_fake/reset" >/dev/null
}

# fake_requests: the recorded requests, one JSON object a line (no events).
fake_requests() {
	jq -c 'select(has("event") | not)' "$FAKE_RECORD"
}

# fake_events: the recorded events (client_closed), one a line.
fake_events() {
	jq -c 'select(has("event"))' "$FAKE_RECORD"
}

# fake_last_request: the last recorded request (events excluded).
fake_last_request() {
	fake_requests | tail -n 1
}

# fake_request_count: how many requests were recorded since the last reset.
fake_request_count() {
	local n

	n=$(fake_requests | wc -l) || return 1
	echo $((n))
}

# fake_wait_event NAME [SECONDS]: waits (default 5 s) until an event NAME is
# recorded; events are written when the fake notices them, not when the
# client acts.
fake_wait_event() {
	local name=$1 i

	for ((i = 0; i < ${2:-5} * 10; i++)); do
		if jq -e --arg e "$name" 'select(.event == $e)' "$FAKE_RECORD" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "fake_wait_event: no '$name' event recorded in ${2:-5} s" >&2
	return 1
}
