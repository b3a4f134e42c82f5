#!/usr/bin/env bash
# stress.bash: run the whole suite COUNT times (default 20) while another
# go test ./... runs beside it, again and again, until the first ends: the
# flakes that only a loaded machine shows. Both runs' output is kept in
# STRESS_DIR (default: a new temporary directory); the exit status is the
# counted run's.
#
#   bash aux/stress.bash [COUNT]     (make stress, STRESS_COUNT=20)
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: aux/stress.bash [COUNT]

Runs the whole suite COUNT times (go test -count=COUNT ./..., COUNT 20 by
default) while another go test ./... runs beside it, again and again,
until the first ends: the flakes that only a loaded machine shows. It
keeps both cores busy for about COUNT minutes. make stress runs it, with
COUNT from STRESS_COUNT.

Environment:
  STRESS_DIR   where both runs' logs go (default: a new directory
               /tmp/mp-stress.XXXXXX)

At the end it removes what the killed load runs left behind
(aux/cleanup.bash), then prints the counted run's results and each load
run's status. Exit status: the counted run's (0 when every package
passed), 2 for a usage error.
EOF
}

die_usage() {
	echo "stress.bash: $*" >&2
	echo "Try 'aux/stress.bash --help'." >&2
	exit 2
}

count=
while (($#)); do
	case $1 in
		-h | --help) usage; exit 0 ;;
		# A negative COUNT is no option: the check below names it.
		-[!0-9]*) die_usage "unknown option '$1'" ;;
		*)
			[[ -z $count ]] || die_usage "unexpected argument '$1' after COUNT $count"
			count=$1
			;;
	esac
	shift
done
count=${count:-20}
[[ $count =~ ^[1-9][0-9]*$ ]] || die_usage "COUNT must be a positive number, got '$count'"

# From here on, paths are the repository root's.
cd "$(dirname "$0")/.."
dir=${STRESS_DIR:-$(mktemp -d /tmp/mp-stress.XXXXXX)}
mkdir -p "$dir"
echo "stress: go test -count=$count -timeout $((count * 2))m ./... with a go test ./... loop beside it; logs in $dir"

# The load: the suite, again and again, until told to stop. It runs in a
# process group of its own, so that stopping it stops its go test and the
# test binaries under it, and nothing else. (The loop's $1 and $n are the
# inner shell's: single quotes on purpose.)
# shellcheck disable=SC2016
setsid bash -c '
	n=0
	while :; do
		n=$((n + 1))
		if go test -count=1 ./... >"$1/load-$n.log" 2>&1; then
			echo "load run $n: ok" >>"$1/load.txt"
		else
			echo "load run $n: FAILED (see load-$n.log)" >>"$1/load.txt"
		fi
	done' load "$dir" &
load=$!
stop_load() {
	kill -TERM -- "-$load" 2>/dev/null || true
	wait "$load" 2>/dev/null || true
}
trap stop_load EXIT

# go test's -timeout (10 min by default) bounds a test binary's whole run,
# all COUNT rounds of it: the root package's round takes about 35 s beside
# the load, so 20 of them overran it (17 done at 600 s). Two minutes a
# round still stops a hung test.
timeout=$((count * 2))m
start=$(date +%s)
status=0
go test -count="$count" -timeout "$timeout" ./... >"$dir/counted.log" 2>&1 || status=$?
end=$(date +%s)
stop_load
trap - EXIT
# The load's test binaries were killed mid-test: what they had made in
# /dev/shm (or started) is left, stale; remove that, and only that.
bash aux/cleanup.bash | sed 's/^/stress: after the load: /'

grep -E '^(ok|FAIL|---)' "$dir/counted.log" || true
echo "stress: go test -count=$count -timeout $timeout ./...: status $status after $((end - start)) s"
cat "$dir/load.txt" 2>/dev/null || echo "(no load run finished)"
exit "$status"
