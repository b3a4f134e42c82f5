#!/usr/bin/env bash
# cleanup.bash: remove what a crashed mp program left behind, and nothing else.
# Run it with --help for what it does; the rules are in usage() below and in
# docs/shared-memory.md ("the segment ownership rule").
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: aux/cleanup.bash [options]

Stops the processes and removes the /dev/shm segments that a crashed mp
program left behind, and nothing else.

What it stops: processes whose argv[0] starts with "mp:" (every backend's
does, e.g. "mp:ping/my-process"), whose shared-memory prefix starts with
the prefix (MP_SHM_PREFIX in the process's environment, mp- if unset: what
the names of its segments start with), and whose frontend is gone (the
parent no longer runs the same executable). Each gets SIGTERM, so that it
runs its post-run hook; one still there after the grace period gets
SIGKILL, but only if it is still the same process (same argv[0], same
start time).

What it removes: files in /dev/shm whose name starts with the prefix (mp- by
default) and that are stale: nobody holds a lock on them (a non-blocking
exclusive flock succeeds, so neither their creator nor a backend has them
open, in any PID namespace) and no process maps them (/proc/*/maps). The
lock is held while it checks that the name still is the same file, then it
unlinks.

What it never touches: a process whose argv[0] does not start with "mp:",
whatever its name or command line (no killall, no pkill); a process or a
segment of another user, even when run as root (unless --all-users); a
backend whose frontend still runs (unless --all); a process or a file
without the prefix; a segment in use, whatever PID its name holds (a PID
in a name is a hint for humans, not an identity: PIDs are reused and
differ across PID namespaces).

On a machine shared by many people (a workshop), give each one a prefix of
their own in MP_SHM_PREFIX (mp-alice-, mp-bob-): their programs name
segments with it and their backends inherit it, and this script, which
takes it as its default prefix, then touches only their segments and
processes, even among people who share an account: with mp-alice-, a
process whose MP_SHM_PREFIX is mp-bob- or unset is not hers. Without a
prefix (MP_SHM_PREFIX unset, no --prefix), the prefix is mp-, which every
prefix starts with: all your segments and processes, whatever prefix they
carry, as on a machine of your own.

Options:
  -n, --dry-run         say what would be stopped or removed, change nothing
      --segments-only   leave processes alone
      --processes-only  leave /dev/shm alone
      --all             also stop backends whose frontend still runs
      --match REGEX     only processes whose command line matches REGEX, an
                        extended regular expression that must start with ^mp:
                        (argv[0] must start with mp: whatever REGEX says)
      --prefix PREFIX   only segments whose name starts with PREFIX, and
                        processes whose MP_SHM_PREFIX (mp- if unset) does;
                        PREFIX must be one the library takes: mp- followed
                        by words of letters, digits or _, each ending in -,
                        none all digits, at most 64 bytes (default:
                        $MP_SHM_PREFIX if set, else mp-)
      --all-users       also other users' processes and segments (as root:
                        an administrator's clean-up, never a participant's)
      --grace SECONDS   how long to wait after SIGTERM before SIGKILL
                        (default: 2)
  -h, --help            print this help and exit

It ends with a summary:
  stopped N processes, removed M segments, kept K in use
where K counts the backends kept because their frontend runs and the
segments kept because they are in use. Exit status: 0 when everything of
ours that should go is gone, 1 when something could not be stopped,
checked or removed (each is reported on stderr), 2 for a usage error.
EOF
}

die_usage() {
	echo "cleanup.bash: $*" >&2
	echo "Try 'aux/cleanup.bash --help'." >&2
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

# check_prefix WHAT PREFIX: a usage error unless PREFIX is one the library
# accepts in MP_SHM_PREFIX (mp/shm/name.go, checkPrefix): "mp-" followed by
# words of letters, digits or '_', each ending in '-', none all digits, at
# most 64 bytes. A prefix the library refuses names no segment of ours, and
# a shorter one (mp-x, mp-al) would reach into other people's (mp-alice-).
check_prefix() {
	local LC_ALL=C
	local word='[A-Za-z0-9_]*[A-Za-z_][A-Za-z0-9_]*-'
	if [[ ! $2 =~ ^mp-($word)*$ ]] || ((${#2} > 64)); then
		die_usage "$1 must be \"mp-\" followed by words of letters, digits or '_', each ending in '-', none all digits, at most 64 bytes (\"mp-\" or \"mp-alice-\", say), as the library takes it; got '$2'"
	fi
}

dry=0
procs=1
segs=1
all=0
match='^mp:'
# MP_SHM_PREFIX is checked once the options are read, and only if no
# --prefix replaced it: a bad one does not stand in the way of --help.
prefix=${MP_SHM_PREFIX:-mp-}
prefix_from=MP_SHM_PREFIX
grace=2
all_users=0
me=$(id -u)
while (($#)); do
	case "$1" in
		-h | --help) usage; exit 0 ;;
		-n | --dry-run) dry=1 ;;
		--segments-only) procs=0 ;;
		--processes-only) segs=0 ;;
		--all) all=1 ;;
		--all-users) all_users=1 ;;
		--match | --prefix | --grace)
			(($# >= 2)) || die_usage "$1 needs a value"
			case "$1" in
				--match)
					match=$2
					[[ $match == '^mp:'* ]] || die_usage "--match must start with ^mp:, got '$match'"
					regex_ok "$match" || die_usage "--match: '$match' is not a valid extended regular expression"
					;;
				--prefix)
					prefix=$2
					prefix_from=--prefix
					;;
				--grace)
					grace=$2
					[[ $grace =~ ^[0-9]+(\.[0-9]+)?$ ]] || die_usage "--grace takes seconds, such as 2 or 0.5, got '$grace'"
					;;
			esac
			shift
			;;
		*) die_usage "unknown option '$1'" ;;
	esac
	shift
done
((procs || segs)) || die_usage "--segments-only and --processes-only leave nothing to do"
check_prefix "$prefix_from" "$prefix"

stopped=0 removed=0 kept=0 failed=0

fail() {
	echo "cannot $*" >&2
	failed=$((failed + 1))
}

# --- Processes ------------------------------------------------------------

# argv0, stat_field, exe, shm_prefix: see aux/proc.bash.
# shellcheck source=aux/proc.bash
source "$(dirname "${BASH_SOURCE[0]}")/proc.bash"

# args PID: the command line, arguments joined by spaces.
args() {
	local -a a=()
	{ mapfile -d '' -t a </proc/"$1"/cmdline; } 2>/dev/null || true
	printf '%s' "${a[*]}"
}

# same PID START: whether PID still is the process of ours seen at START.
same() {
	[[ $(argv0 "$1") == mp:* && $(stat_field "$1" 22) == "$2" && $(stat_field "$1" 3) != Z ]]
}

# wait_gone SECONDS PID...: wait until none of the PIDs is the process we
# saw (gone, a zombie, or someone else), or SECONDS pass.
wait_gone() {
	local ticks pid alive
	ticks=$(awk -v s="$1" 'BEGIN { printf "%d", s * 20 + 1 }')
	shift
	while :; do
		alive=0
		for pid; do
			if same "$pid" "${started[$pid]}"; then alive=1; break; fi
		done
		((alive)) || return 0
		((ticks-- > 0)) || return 1
		sleep 0.05
	done
}

declare -A started=()
pids=()
if ((procs)); then
	for dir in /proc/[0-9]*; do
		pid=${dir#/proc/}
		[[ $pid != "$$" ]] || continue
		# Only our own user's, unless told otherwise: on a shared machine
		# root's clean-up must not end a participant's exercise.
		((all_users)) || [[ $(stat -c %u "$dir" 2>/dev/null) == "$me" ]] || continue
		# --match narrows the choice; argv[0] starting with mp: is required
		# whatever the pattern says.
		[[ $(argv0 "$pid") == mp:* ]] || continue
		# Only our prefix's, as for segments: on an account shared by a
		# workshop, another participant's backends carry theirs.
		p=$(shm_prefix "$pid")
		[[ -n $p && $p == "$prefix"* ]] || continue
		cmd=$(args "$pid")
		[[ $cmd =~ $match ]] || continue
		own=$(exe "$pid")
		[[ -n $own ]] || continue
		ppid=$(stat_field "$pid" 4)
		if ((!all)) && [[ $own == "$(exe "$ppid")" ]]; then
			echo "keeping pid $pid ($cmd): its frontend, pid $ppid, is alive"
			kept=$((kept + 1))
			continue
		fi
		start=$(stat_field "$pid" 22)
		[[ -n $start ]] || continue
		pids+=("$pid")
		started[$pid]=$start
		if ((dry)); then
			echo "would stop pid $pid ($cmd), parent pid $ppid"
		else
			echo "stopping pid $pid ($cmd), parent pid $ppid"
		fi
	done
fi
if ((${#pids[@]} && !dry)); then
	# SIGTERM first: a backend stops cleanly on it and runs its post-run hook.
	kill -TERM "${pids[@]}" 2>/dev/null || true
	if ! wait_gone "$grace" "${pids[@]}"; then
		for pid in "${pids[@]}"; do
			# Only the very process we saw: a PID reused since is not ours.
			if same "$pid" "${started[$pid]}"; then
				echo "pid $pid still runs after ${grace}s: SIGKILL"
				kill -KILL "$pid" 2>/dev/null || true
			fi
		done
		wait_gone 1 "${pids[@]}" || true
	fi
	for pid in "${pids[@]}"; do
		if same "$pid" "${started[$pid]}"; then
			fail "stop pid $pid: it survived SIGKILL"
		else
			stopped=$((stopped + 1))
		fi
	done
elif ((dry)); then
	stopped=${#pids[@]}
fi

# --- Segments -------------------------------------------------------------

# mapper NAME: the first process that maps /dev/shm/NAME, if any.
mapper() {
	local maps line
	while IFS= read -r maps; do
		while IFS= read -r line; do
			if [[ $line == *" /dev/shm/$1" ]]; then
				maps=${maps#/proc/}
				printf '%s' "${maps%/maps}"
				return 0
			fi
		done <"$maps" 2>/dev/null || true
	done < <(grep -lF -- "/dev/shm/$1" /proc/[0-9]*/maps 2>/dev/null || true)
}

# inode PATH: device and inode of PATH, following symbolic links.
inode() { stat -L -c '%d:%i' -- "$1" 2>/dev/null || true; }

if ((segs)); then
	shopt -s nullglob
	for path in /dev/shm/"$prefix"*; do
		name=${path#/dev/shm/}
		if [[ -L $path || ! -f $path ]]; then
			echo "skipping $name: not a regular file, so not a segment of ours"
			continue
		fi
		if ((!all_users)) && [[ $(stat -c %u -- "$path" 2>/dev/null) != "$me" ]]; then
			echo "skipping $name: it belongs to $(stat -c %U -- "$path" 2>/dev/null || echo another user), not to you"
			continue
		fi
		# Open for reading only (never create), then ask the kernel whether
		# anybody holds a lock: the creator and every backend hold a shared
		# one while they use the segment.
		if ! { exec {fd}<"$path"; } 2>/dev/null; then
			[[ -e $path ]] || continue # removed meanwhile by its owner
			fail "check $name: cannot open it (owner: $(stat -c %U -- "$path" 2>/dev/null || echo unknown); you are $(id -un))"
			continue
		fi
		if ! flock -n -x "$fd"; then
			echo "keeping $name: in use (its creator or a backend holds a lock on it)"
			kept=$((kept + 1))
			exec {fd}<&-
			continue
		fi
		# Nobody holds a lock; a process may still map it without one.
		user=$(mapper "$name")
		if [[ -n $user ]]; then
			echo "keeping $name: in use (pid $user maps it)"
			kept=$((kept + 1))
			exec {fd}<&-
			continue
		fi
		# Still under our exclusive lock: the name must still be the file we
		# locked, or we would unlink someone else's new segment.
		if [[ $(inode "/proc/$$/fd/$fd") != "$(inode "$path")" ]]; then
			echo "keeping $name: it was replaced while we looked"
			kept=$((kept + 1))
		elif ((dry)); then
			echo "would remove $name: stale (no lock, nobody maps it)"
			removed=$((removed + 1))
		elif err=$(rm -f -- "$path" 2>&1) && [[ ! -e $path ]]; then
			echo "removed $name: stale (no lock, nobody maps it)"
			removed=$((removed + 1))
		else
			fail "remove $name: ${err#rm: }"
		fi
		exec {fd}<&-
	done
fi

# count N ONE MANY: "1 segment", "2 segments".
count() { if (($1 == 1)); then printf '%d %s' "$1" "$2"; else printf '%d %s' "$1" "$3"; fi; }
if ((dry)); then
	summary="dry run: would stop $(count "$stopped" process processes), would remove $(count "$removed" segment segments), kept $kept in use"
else
	summary="stopped $(count "$stopped" process processes), removed $(count "$removed" segment segments), kept $kept in use"
fi
if ((failed)); then
	echo "$summary; $failed of ours could not be stopped or removed (see above)"
	exit 1
fi
echo "$summary"
