#!/usr/bin/env bash
# run-smoke.sh - a short run of every fuzz target, for CI.
#
#   tests/fuzz/run-smoke.sh FUZZBUILDDIR [SECONDS]
#
# FUZZBUILDDIR is a build configured with --enable-fuzzing CC=clang in which
# `make fuzz` has run. For each target: every saved crash input in
# tests/fuzz/regressions/<target>/ is replayed, then the target fuzzes for
# SECONDS (default 20) from its seed corpus under ASan+UBSan (leaks
# included). New corpus entries go to a scratch directory, never into the
# source tree; a crashing input is kept in FUZZBUILDDIR/fuzz-artifacts/.
# Prints TAP ("ok N - fuzz-sse: ...") and exits non-zero if any failed.
set -uo pipefail

[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 FUZZBUILDDIR [SECONDS]" >&2; exit 2; }
build=$(cd "$1" && pwd) || exit 2
secs=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
targets=(fuzz-sse fuzz-route fuzz-egress fuzz-ingress fuzz-decode fuzz-response fuzz-encode fuzz-config
	fuzz-account fuzz-listener fuzz-http1 fuzz-httpd fuzz-json)
artifacts=$build/fuzz-artifacts
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
rm -rf "$artifacts"
mkdir -p "$artifacts"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "1..${#targets[@]}"
n=0 failed=0
for t in "${targets[@]}"; do
	n=$((n + 1))
	bin=$build/tests/fuzz/$t
	log=$scratch/$t.log
	if [[ ! -x $bin ]]; then
		echo "not ok $n - $t: $bin is missing (make fuzz)"
		failed=$((failed + 1))
		continue
	fi
	why=
	# Saved crash inputs first: each must now run cleanly.
	regs=()
	if [[ -d $here/regressions/$t ]]; then
		while IFS= read -r -d '' f; do regs+=("$f"); done < <(find "$here/regressions/$t" -type f -print0)
	fi
	if [[ ${#regs[@]} -gt 0 ]] && ! "$bin" -runs=1 -timeout=10 "${regs[@]}" >"$log" 2>&1; then
		why="a regression input fails again"
	fi
	if [[ -z $why ]]; then
		mkdir -p "$scratch/corpus/$t"
		if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -error_exitcode=77 \
			-timeout_exitcode=78 -dict="$here/arouter.dict" -print_final_stats=1 \
			-artifact_prefix="$artifacts/$t-" "$scratch/corpus/$t" "$here/corpus/$t" >"$log" 2>&1; then
			why="the fuzzer found a failure"
		fi
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [[ -z $why ]]; then
		echo "ok $n - $t: ${runs:-0} runs in ${secs}s, ${#regs[@]} regression inputs"
	else
		failed=$((failed + 1))
		echo "not ok $n - $t: $why"
		# The report: the sanitizer's or libFuzzer's summary and the input.
		grep -E -A40 '^==[0-9]+==ERROR|runtime error|fuzz assertion failed|^==[0-9]+== ERROR' "$log" |
			head -n 60 | sed 's/^/# /'
		tail -n 5 "$log" | sed 's/^/# /'
		for a in "$artifacts/$t"-*; do
			[[ -e $a ]] && echo "# input kept: $a ($(wc -c < "$a") bytes)"
		done
	fi
done
echo "# fuzz: $((n - failed)) passed, $failed failed"
[[ $failed -eq 0 ]]
