# shellcheck shell=bash
# Reading /proc for aux/cleanup.bash and aux/memwatch.bash, which source
# this file. Each function prints nothing when the process is gone.

# argv0 PID: the process's argv[0] (empty if it is gone or a zombie).
argv0() {
	local a=
	{ IFS= read -r -d '' a </proc/"$1"/cmdline; } 2>/dev/null || true
	printf '%s' "$a"
}

# stat_field PID N: field N of /proc/PID/stat (3 is the state, 4 the parent,
# 22 the start time), read after the command name, which may hold spaces.
stat_field() {
	local stat
	stat=$(cat /proc/"$1"/stat 2>/dev/null) || return 0
	stat=${stat##*) }
	local -a f
	read -r -a f <<<"$stat"
	printf '%s' "${f[$2 - 3]:-}"
}

# exe PID: the executable, without the " (deleted)" a rebuilt binary gets.
exe() {
	local e
	e=$(readlink "/proc/$1/exe" 2>/dev/null) || return 0
	printf '%s' "${e% (deleted)}"
}

# shm_prefix PID: the process's shared-memory prefix, MP_SHM_PREFIX in its
# environment (mp- if unset, as for the library; empty if the environment
# cannot be read, which then matches no prefix).
shm_prefix() {
	local -a env=()
	local kv p=mp-
	{ mapfile -d '' -t env </proc/"$1"/environ; } 2>/dev/null || return 0
	for kv in "${env[@]}"; do
		[[ $kv == MP_SHM_PREFIX=?* ]] && p=${kv#MP_SHM_PREFIX=}
	done
	printf '%s' "$p"
}
