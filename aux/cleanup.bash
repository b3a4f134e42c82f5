#!/usr/bin/env bash
# cleanup.bash: remove what a crashed mp program left behind, and nothing else.
#
#   aux/cleanup.bash                  stop our orphaned processes, remove our stale segments
#   aux/cleanup.bash --dry-run        only say what would be done
#   aux/cleanup.bash --segments-only  leave processes alone
#   aux/cleanup.bash --all            stop every process of ours, even one whose frontend lives
#   aux/cleanup.bash --match REGEX    only processes whose command line matches REGEX
#                                     (default ^mp:)
#   aux/cleanup.bash --prefix mp-x-   only segments whose name starts with mp-x-
#
# "Ours" is exact, never a guess by program name (no killall):
#   - a process is ours when its argv[0] starts with "mp:" (every backend's
#     does, e.g. "mp:ping/my-process"). It is an orphan when its parent does
#     not run the same executable: a backend is a re-execution of its
#     frontend's binary, so a live frontend is a parent with the same
#     /proc/<pid>/exe. Only orphans are stopped, unless --all;
#   - a shared-memory segment is ours when its name in /dev/shm starts with
#     "mp-"; the creator's PID is the first all-digit part of the name
#     ("mp-<pid>-<name>", or "mp-<tag>-<pid>-<name>" under a test prefix), and
#     a segment is stale when that process no longer exists.
set -euo pipefail

dry=0
procs=1
all=0
match='^mp:'
prefix=mp-
while (($#)); do
	case "$1" in
		--dry-run | -n) dry=1 ;;
		--segments-only) procs=0 ;;
		--all) all=1 ;;
		--match)
			match=${2:-}
			shift
			[[ $match == '^mp:'* ]] || { echo "--match must start with ^mp:" >&2; exit 2; }
			;;
		--prefix)
			prefix=${2:-}
			shift
			[[ $prefix == mp-* && $prefix != */* ]] || { echo "--prefix must start with mp- and hold no /" >&2; exit 2; }
			;;
		*) echo "usage: $0 [--dry-run] [--segments-only] [--all] [--match '^mp:…'] [--prefix mp-…]" >&2; exit 2 ;;
	esac
	shift
done

run() {
	if ((dry)); then echo "would run: $*"; else "$@"; fi
}

# Processes: SIGTERM first (backends stop cleanly on it), then SIGKILL for
# whatever is still there a second later.
# argv0 PID: the process's argv[0] (empty if it is gone).
argv0() {
	local a=
	[[ -r /proc/$1/cmdline ]] && IFS= read -r -d '' a </proc/"$1"/cmdline 2>/dev/null
	printf '%s' "$a"
}
# start_time PID: when the process started (field 22 of /proc/PID/stat), so
# that a PID reused by another process is never taken for the one we saw.
start_time() {
	local stat
	stat=$(cat /proc/"$1"/stat 2>/dev/null) || return 0
	stat=${stat##*) }
	awk '{ print $20 }' <<<"$stat"
}
# exe PID: the executable, without the " (deleted)" a rebuilt binary gets.
exe() {
	local e
	e=$(readlink "/proc/$1/exe" 2>/dev/null) || return 0
	printf '%s' "${e% (deleted)}"
}

pids=()
declare -A started=()
if ((procs)); then
	while read -r pid; do
		[[ -n $pid && $pid != "$$" ]] || continue
		# --match narrows the choice; argv[0] starting with mp: is required
		# whatever the pattern says.
		[[ $(argv0 "$pid") == mp:* ]] || continue
		ppid=$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ') || continue
		own=$(exe "$pid")
		[[ -n $own ]] || continue
		if ((!all)) && [[ $own == "$(exe "$ppid")" ]]; then
			echo "keeping pid $pid ($(ps -o args= -p "$pid")): its frontend, pid $ppid, is alive"
			continue
		fi
		pids+=("$pid")
		started[$pid]=$(start_time "$pid")
	done < <(pgrep -f -- "$match" || true)
fi
if ((${#pids[@]})); then
	echo "our orphaned processes:"
	ps -o pid=,ppid=,args= -p "$(IFS=,; echo "${pids[*]}")" || true
	run kill -TERM "${pids[@]}" 2>/dev/null || true
	if ((!dry)); then
		sleep 1
		still=()
		for pid in "${pids[@]}"; do
			# The same process still: ours, and started when we saw it.
			if [[ $(argv0 "$pid") == mp:* && $(start_time "$pid") == "${started[$pid]}" ]]; then
				still+=("$pid")
			fi
		done
		if ((${#still[@]})); then
			run kill -KILL "${still[@]}" 2>/dev/null || true
		fi
	fi
elif ((procs)); then
	echo "no orphaned processes of ours"
fi

# Segments whose creator is gone.
removed=0
shopt -s nullglob
for path in /dev/shm/"$prefix"*; do
	name=${path#/dev/shm/}
	# The owner is the first all-digit dash-separated field after "mp".
	owner=$(awk -F- '{ for (i = 2; i < NF; i++) if ($i ~ /^[0-9]+$/) { print $i; exit } }' <<<"$name")
	if [[ -z $owner ]]; then
		echo "skipping $name: no owner PID in its name"
		continue
	fi
	if [[ -d /proc/$owner ]]; then
		echo "keeping $name: its owner, pid $owner, is alive"
		continue
	fi
	echo "removing $name (owner pid $owner is gone)"
	run rm -f -- "$path"
	removed=$((removed + 1))
done
echo "stale segments removed: $removed"
