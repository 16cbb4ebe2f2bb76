#!/usr/bin/env bash
# CPU share of the real bpftop TUI (sampling, deriving and rendering) in tmux at 80x24.
#
#   sudo benchmarks/tui_cpu.sh [-n SECONDS] [-p PROCS] [-- BPFTOP_ARGS...]
#
# -n: measured seconds (default 20), after 3 s of start-up.
# -p: background processes, each sleeping 10 ms in a loop (~100 syscalls/s).
# Prints the % of one core used by the bpftop process over the measured window.
set -euo pipefail

seconds=20
procs=0
while getopts "n:p:" opt; do
	case "$opt" in
	n) seconds=$OPTARG ;;
	p) procs=$OPTARG ;;
	*) echo "usage: $0 [-n SECONDS] [-p PROCS] [-- BPFTOP_ARGS...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-/work/venv/bin/python}
[[ -x $python ]] || python=$(command -v python3)
session="bpftop-cpu-$$"
work=$(mktemp -d)
sleepers=()

cleanup() {
	tmux kill-session -t "$session" 2>/dev/null || true
	if ((${#sleepers[@]})); then
		kill "${sleepers[@]}" 2>/dev/null || true
		wait "${sleepers[@]}" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

if ((procs > 0)); then
	cat >"$work/sleeper.c" <<'EOF'
#include <time.h>
int main(void)
{
	struct timespec ten_ms = { 0, 10 * 1000 * 1000 };
	for (;;)
		nanosleep(&ten_ms, NULL);
}
EOF
	gcc -O2 -o "$work/sleeper" "$work/sleeper.c"
	for ((i = 0; i < procs; i++)); do
		"$work/sleeper" &
		sleepers+=($!)
	done
fi

# exec: the pane's pid is bpftop itself, not a shell waiting for it.
tmux new-session -d -s "$session" -x 80 -y 24 \
	"cd '$repo' && exec env TERM=xterm-256color '$python' -m bpftop $*"
pid=$(tmux list-panes -t "$session" -F '#{pane_pid}')

cpu_ticks() {
	# utime + stime (fields 14 and 15); the command name may hold spaces, so cut after ')'.
	local stat
	stat=$(<"/proc/$pid/stat")
	stat=${stat##*) }
	read -r -a fields <<<"$stat"
	echo $((fields[11] + fields[12]))
}

sleep 3
t0=$(date +%s.%N)
c0=$(cpu_ticks)
sleep "$seconds"
t1=$(date +%s.%N)
c1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$hz" -v procs="$procs" -v args="$*" \
	'BEGIN { printf "bpftop %s (%d background procs): %.2f%% of one core over %.1f s\n",
		args, procs, 100 * (c1 - c0) / hz / (t1 - t0), t1 - t0 }'
