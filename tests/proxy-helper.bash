# proxy-helper.bash - start and stop `arouter proxy` for a bats suite.

# proxy_start [ARGS...]: starts the proxy on a free loopback port with the
# current environment; exports PROXY_URL, PROXY_PID, PROXY_LOG, PROXY_ERR.
proxy_start() {
	local dir=${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/proxy
	mkdir -p "$dir"
	rm -f "$dir/port"
	PROXY_LOG=$dir/access.log
	PROXY_ERR=$dir/stderr
	"$AROUTER" proxy --listen 127.0.0.1:0 --port-file "$dir/port" --log "$PROXY_LOG" "$@" 2> "$PROXY_ERR" &
	PROXY_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$dir/port" ] && break
		kill -0 "$PROXY_PID" 2>/dev/null || { cat "$PROXY_ERR" >&2; return 1; }
		sleep 0.05
	done
	[ -s "$dir/port" ] || { echo "proxy did not start" >&2; cat "$PROXY_ERR" >&2; return 1; }
	PROXY_URL="http://127.0.0.1:$(cat "$dir/port")"
	export PROXY_URL PROXY_PID PROXY_LOG PROXY_ERR
}

# proxy_stop: SIGTERM, then the exit status must be 0 (a sanitizer report
# makes it non-zero).
proxy_stop() {
	[ -n "${PROXY_PID:-}" ] || return 0
	kill -TERM "$PROXY_PID" 2>/dev/null || true
	local status=0
	wait "$PROXY_PID" || status=$?
	PROXY_PID=
	if [ "$status" -ne 0 ]; then
		echo "proxy exited with $status" >&2
		cat "$PROXY_ERR" >&2
		return 1
	fi
}
