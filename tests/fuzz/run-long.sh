#!/usr/bin/env bash
# run-long.sh - the long fuzzing run, by hand: each target in turn (never
# two at once) until it has executed RUNS inputs (default 10 million) or
# run for SECONDS (default 900), whichever comes first.
#
#   nice -n 19 tests/fuzz/run-long.sh FUZZBUILDDIR [TARGET...]
#
# Environment: RUNS, SECONDS_PER_TARGET, JOBS (default 1: one process; N
# splits RUNS between N processes at once, on N cores, sharing the target's
# corpus; the runs reached are their sum), WORK (default FUZZBUILDDIR/fuzz-long:
# the growing corpus of each target, kept between runs, and crash inputs).
# The seed corpus in tests/fuzz/corpus/ is read, never written; to keep new
# coverage, merge by hand:
#   fuzz-X -merge=1 tests/fuzz/corpus/fuzz-X WORK/corpus/fuzz-X
# A crashing input is kept in WORK/artifacts/; once the bug is fixed, copy
# it to tests/fuzz/regressions/<target>/ so the CI smoke step replays it.
#
# For speed, ASan keeps no allocation stacks (malloc_context_size=0) and a
# small quarantine: 2 MB, which stays in the CPU's caches (fuzz-decode runs
# twice as fast as with 16 MB; a use after free is still caught while less
# than 2 MB has been freed since). Replay a crash input with the default
# ASAN_OPTIONS for the full report. Prints one line per target: runs
# reached, seconds, and whether it stopped on a failure.
set -uo pipefail

[[ $# -ge 1 ]] || { echo "usage: $0 FUZZBUILDDIR [TARGET...]" >&2; exit 2; }
build=$(cd "$1" && pwd) || exit 2
shift
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-10000000}
secs=${SECONDS_PER_TARGET:-900}
jobs=${JOBS:-1}
[[ $jobs =~ ^[1-9][0-9]?$ ]] || { echo "$0: JOBS must be 1 to 99" >&2; exit 2; }
work=${WORK:-$build/fuzz-long}
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(fuzz-sse fuzz-route fuzz-egress fuzz-ingress fuzz-decode fuzz-response
	fuzz-encode fuzz-config fuzz-account fuzz-listener fuzz-http1 fuzz-httpd fuzz-json)
mkdir -p "$work/artifacts" "$work/logs"
work=$(cd "$work" && pwd) # the jobs run in a directory of their own
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:malloc_context_size=0:quarantine_size_mb=2}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
for t in "${targets[@]}"; do
	bin=$build/tests/fuzz/$t
	[[ -x $bin ]] || { echo "$t: $bin is missing (make fuzz)" >&2; status=1; continue; }
	mkdir -p "$work/corpus/$t"
	log=$work/logs/$t.log
	start=$(date +%s)
	args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -error_exitcode=77 -timeout_exitcode=78
		-dict="$here/arouter.dict" -print_final_stats=1 -print_pcs=0 -artifact_prefix="$work/artifacts/$t-"
		"$work/corpus/$t" "$here/corpus/$t")
	if [[ $jobs -eq 1 ]]; then
		"$bin" -runs="$runs" "${args[@]}" >"$log" 2>&1
		rc=$?
	else
		# libFuzzer writes job N's output to fuzz-N.log in its directory.
		jobdir=$work/logs/$t.jobs
		rm -rf "$jobdir" && mkdir -p "$jobdir"
		(cd "$jobdir" && "$bin" -jobs="$jobs" -workers="$jobs" -runs=$(((runs + jobs - 1) / jobs)) "${args[@]}") >"$log" 2>&1
		rc=$?
		# The parent copies each job's log into its own when the job
		# ends, but does not pass a job's failure on: read the logs.
		if grep -qE '^==[0-9]+== ?ERROR|runtime error|fuzz assertion failed|^SUMMARY: ' "$jobdir"/fuzz-*.log; then
			rc=77
		fi
	fi
	end=$(date +%s)
	done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{n += $1} END {if (NR) print n}')
	cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.*\(cov: [0-9]*\).*/\1/p')
	if [[ $rc -eq 0 ]]; then
		echo "$t: ${done_runs:-?} runs in $((end - start)) s, $cov, corpus $(find "$work/corpus/$t" -type f | wc -l) files"
	else
		status=1
		echo "$t: FAILED (exit $rc) after $((end - start)) s; see $log and $work/artifacts/"
		grep -E -m1 -A12 '^==[0-9]+== ?ERROR|runtime error|fuzz assertion failed' "$log" | sed 's/^/  /'
	fi
done
exit $status
