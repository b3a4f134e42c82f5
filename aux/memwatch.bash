#!/usr/bin/env bash
# memwatch.bash: the memory of our processes, live. Run it with --help.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: aux/memwatch.bash [options]

Shows the memory of this project's processes, refreshed every second:
every process of yours whose argv[0] starts with "mp:" (a backend, named
"mp:<program>/<name>"), and its frontend (the parent that runs the same
executable, shown as "(frontend)"). Rows are grouped by program and process
name, with a total per program and a grand total. Ctrl-C ends it.

Yours: run by your user, and with your shared-memory prefix (MP_SHM_PREFIX
in its environment as in yours; unset is mp-). On a machine shared by a
workshop, where each participant has a prefix of their own, that is each
participant's own processes, even on a shared account.

Columns, in KiB:
  RSS    resident memory, every page counted in full, shared or not
  PSS    proportional share: a page shared by N processes counts 1/N
  USS    unique memory: pages only this process has (what its death frees)
  SHMEM  the shared-memory part of PSS (Pss_Shmem: /dev/shm segments,
         memfd arrays), so the segments' cost is counted once in a total

Where the numbers come from: smem when it is installed (RSS, PSS, USS),
/proc/<pid>/smaps_rollup otherwise; SHMEM always comes from smaps_rollup
(smem does not report it). The header says which.

Options:
      --once            print one table and exit
      --json            print one JSON object per line per process, and no
                        table (once, or every interval when live)
      --interval SECS   seconds between refreshes (default: 1)
      --proc            use /proc/<pid>/smaps_rollup even if smem is
                        installed (or set MEMWATCH_SOURCE=proc)
      --match REGEX     only processes whose argv[0] matches REGEX (an
                        extended regular expression, e.g. '^mp:names/');
                        a frontend is shown when one of its backends is
      --frontend PID    only the frontend PID and its backends
      --all-users       every user's processes, not only yours (their
                        memory is readable by root only)
      --any-prefix      processes of every shared-memory prefix
  -h, --help            print this help and exit

JSON fields: pid, program, name, state (R running, S sleeping, D disk,
T stopped, Z zombie), rss_kib, pss_kib, uss_kib, shmem_kib, source
("smem" or "proc").
EOF
}

die_usage() {
	echo "memwatch.bash: $*" >&2
	echo "Try 'aux/memwatch.bash --help'." >&2
	exit 2
}

# regex_ok RE: whether RE is an extended regular expression bash can use;
# =~ fails with status 2 on one it cannot compile, and matches nothing.
regex_ok() {
	local rc=0
	# shellcheck disable=SC2319 # the condition's own status is the point
	[[ '' =~ $1 ]] || rc=$?
	((rc != 2))
}

once=0
json=0
interval=1
source=${MEMWATCH_SOURCE:-auto}
match=
frontend=
all_users=0
any_prefix=0
me=$(id -u)
prefix=${MP_SHM_PREFIX:-mp-}
while (($#)); do
	case "$1" in
		-h | --help) usage; exit 0 ;;
		--once) once=1 ;;
		--json) json=1 ;;
		--proc) source=proc ;;
		--all-users) all_users=1 ;;
		--any-prefix) any_prefix=1 ;;
		--interval | --match | --frontend)
			(($# >= 2)) || die_usage "$1 needs a value"
			case "$1" in
				--interval)
					interval=$2
					[[ $interval =~ ^[0-9]+(\.[0-9]+)?$ && ! $interval =~ ^0+(\.0+)?$ ]] || die_usage "--interval takes seconds, such as 1 or 0.5, got '$interval'"
					;;
				--match)
					match=$2
					regex_ok "$match" || die_usage "--match: '$match' is not a valid extended regular expression"
					;;
				--frontend)
					frontend=$2
					[[ $frontend =~ ^[1-9][0-9]*$ ]] || die_usage "--frontend takes a PID, got '$frontend'"
					;;
			esac
			shift
			;;
		*) die_usage "unknown option '$1'" ;;
	esac
	shift
done
case $source in
	auto) if command -v smem >/dev/null; then source=smem; else source=proc; fi ;;
	proc) ;;
	smem) command -v smem >/dev/null || die_usage "MEMWATCH_SOURCE=smem, but smem is not installed (make tools)" ;;
	*) die_usage "MEMWATCH_SOURCE must be proc or smem, got '$source'" ;;
esac

# argv0, stat_field, exe, shm_prefix: see aux/proc.bash.
# shellcheck source=aux/proc.bash
source "$(dirname "${BASH_SOURCE[0]}")/proc.bash"

# ours: print "pid program name" for each process of ours, frontends too.
ours() {
	local dir pid a prog name ppid
	local -A front=()
	for dir in /proc/[0-9]*; do
		pid=${dir#/proc/}
		a=$(argv0 "$pid")
		[[ $a == mp:*/* ]] || continue
		((all_users)) || [[ $(stat -c %u "$dir" 2>/dev/null) == "$me" ]] || continue
		((any_prefix)) || [[ $(shm_prefix "$pid") == "$prefix" ]] || continue
		[[ -z $match || $a =~ $match ]] || continue
		ppid=$(stat_field "$pid" 4)
		[[ -z $frontend || $ppid == "$frontend" ]] || continue
		a=${a#mp:}
		prog=${a%%/*}
		name=${a#*/}
		echo "$pid $prog $name"
		if [[ -n $ppid && -z ${front[$ppid]:-} && $(exe "$ppid") == "$(exe "$pid")" ]]; then
			front[$ppid]=$prog
		fi
	done
	for pid in "${!front[@]}"; do
		echo "$pid ${front[$pid]} (frontend)"
	done
}

# rollup PID: "rss pss uss shmem" in KiB from /proc/PID/smaps_rollup.
rollup() {
	awk '
		$1 == "Rss:" { rss = $2 }
		$1 == "Pss:" { pss = $2 }
		$1 == "Private_Clean:" || $1 == "Private_Dirty:" { uss += $2 }
		$1 == "Pss_Shmem:" { shmem = $2 }
		END { if (rss != "") printf "%d %d %d %d\n", rss, pss, uss, shmem }
	' /proc/"$1"/smaps_rollup 2>/dev/null || true
}

# json_string S: S as a JSON string (names hold no control characters:
# the library refuses them).
json_string() {
	local s=${1//\\/\\\\}
	printf '"%s"' "${s//\"/\\\"}"
}

# sample: one row per process, "program<TAB>name<TAB>pid<TAB>state<TAB>rss
# <TAB>pss<TAB>uss<TAB>shmem", sorted by program, name, pid.
sample() {
	local -A smem_rss=() smem_pss=() smem_uss=()
	local pid rss pss uss prog name state shmem r
	if [[ $source == smem ]]; then
		while read -r pid rss pss uss; do
			smem_rss[$pid]=$rss smem_pss[$pid]=$pss smem_uss[$pid]=$uss
		done < <(smem -H -c 'pid rss pss uss' 2>/dev/null || true)
	fi
	while read -r pid prog name; do
		r=$(rollup "$pid")
		[[ -n $r ]] || continue # gone meanwhile
		read -r rss pss uss shmem <<<"$r"
		if [[ $source == smem ]]; then
			[[ -n ${smem_pss[$pid]:-} ]] || continue # gone before smem saw it
			rss=${smem_rss[$pid]} pss=${smem_pss[$pid]} uss=${smem_uss[$pid]}
		fi
		state=$(stat_field "$pid" 3)
		[[ -n $state ]] || continue
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$prog" "$name" "$pid" "$state" "$rss" "$pss" "$uss" "$shmem"
	done < <(ours) | sort -t $'\t' -k1,1 -k2,2 -k3,3n
}

print_json() {
	local prog name pid state rss pss uss shmem
	while IFS=$'\t' read -r prog name pid state rss pss uss shmem; do
		printf '{"pid":%d,"program":%s,"name":%s,"state":"%s","rss_kib":%d,"pss_kib":%d,"uss_kib":%d,"shmem_kib":%d,"source":"%s"}\n' \
			"$pid" "$(json_string "$prog")" "$(json_string "$name")" "$state" "$rss" "$pss" "$uss" "$shmem" "$source"
	done
}

print_table() {
	local via
	if [[ $source == smem ]]; then
		via="smem (SHMEM from /proc/<pid>/smaps_rollup)"
	else
		via="/proc/<pid>/smaps_rollup"
	fi
	echo "memwatch: memory of our processes in KiB, from $via"
	awk -F '\t' '
		function row(prog, name, pid, state, rss, pss, uss, shmem) {
			printf "%-12s %-20s %8s %-5s %10s %10s %10s %10s\n", prog, name, pid, state, rss, pss, uss, shmem
		}
		function total(label, n, t) {
			row("", label " (" n ")", "", "", t["rss"], t["pss"], t["uss"], t["shmem"])
		}
		BEGIN { row("PROGRAM", "NAME", "PID", "STATE", "RSS", "PSS", "USS", "SHMEM") }
		NR > 1 && $1 != prog { total("total " prog, n, grp); split("", grp); n = 0 }
		{
			prog = $1; n++; all++
			row($1, $2, $3, $4, $5, $6, $7, $8)
			grp["rss"] += $5; grp["pss"] += $6; grp["uss"] += $7; grp["shmem"] += $8
			tot["rss"] += $5; tot["pss"] += $6; tot["uss"] += $7; tot["shmem"] += $8
		}
		END {
			if (NR == 0) { print "no processes of ours"; exit }
			total("total " prog, n, grp)
			total("all programs", all, tot)
		}
	'
}

show() {
	if ((json)); then sample | print_json; else sample | print_table; fi
}

if ((once)); then
	show
	exit 0
fi
trap 'exit 0' INT TERM
while :; do
	if ((json)); then
		show
	else
		# Build the table first, then clear and print it: no flicker. Into
		# a pipe or a file, no escapes: one table after another.
		table=$(show)
		if [[ -t 1 ]]; then
			printf '\033[H\033[2J%s\n(every %ss; Ctrl-C ends)\n' "$table" "$interval"
		else
			printf '%s\n\n' "$table"
		fi
	fi
	sleep "$interval"
done
