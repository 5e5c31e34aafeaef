#!/usr/bin/env bash
# loadtest.sh drives examples/reloadserver with wrk on 127.0.0.1 and
# reports requests/s, p50/p99 latency, non-2xx responses and socket errors
# for the same server without reloads and during a reload storm (a POST
# /reload every 10 ms), side by side, plus a bare, unwrapped server if
# reloadserver offers a flag for one.
#
# Usage: scripts/loadtest.sh [-d DURATION] [-c CONNECTIONS] [-t THREADS]
#   -d  duration of each run, in wrk's syntax (default 30s, or $LOADTEST_DURATION)
#   -c  open connections (default 32, or $LOADTEST_CONNECTIONS)
#   -t  wrk threads (default: number of CPUs, at most 4)
# $LOADTEST_SERVER names a reloadserver binary to use instead of building
# ./examples/reloadserver.
#
# Goals it checks: zero failed requests during the reload storm;
# throughput with the middleware at least 0.95x the bare server; p99
# during reloads at most 1.5x p99 without. Exit status 0 whatever the
# figures (it is a measurement, not a test), non-zero if it could not run.
# Installs wrk with apt-get if it is missing. Not run in CI.
set -euo pipefail

duration=${LOADTEST_DURATION:-30s}
conns=${LOADTEST_CONNECTIONS:-32}
threads=$(nproc 2>/dev/null || echo 2)
((threads > 4)) && threads=4
while getopts "d:c:t:h" opt; do
	case $opt in
	d) duration=$OPTARG ;;
	c) conns=$OPTARG ;;
	t) threads=$OPTARG ;;
	*)
		sed -n '2,20s/^# \{0,1\}//p' "$0"
		exit 2
		;;
	esac
done
((conns < threads)) && threads=$conns

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
server_pid=
storm_pid=

cleanup() {
	[[ -n $storm_pid ]] && kill "$storm_pid" 2>/dev/null || true
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# --- tools -----------------------------------------------------------------
if ! command -v wrk >/dev/null; then
	log "installing wrk with apt-get"
	sudo=""
	((EUID != 0)) && sudo="sudo"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
for tool in curl go; do
	command -v $tool >/dev/null || { log "loadtest: $tool is required"; exit 1; }
done

# --- server ----------------------------------------------------------------
if [[ -n ${LOADTEST_SERVER:-} ]]; then
	cp "$LOADTEST_SERVER" "$work/reloadserver"
else
	log "building examples/reloadserver"
	(cd "$root" && go build -o "$work/reloadserver" ./examples/reloadserver)
fi

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
		return
	fi
	local p
	for p in $(seq 18080 18180); do
		(echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	return 1
}

# bare_flag prints reloadserver's flag for serving without the middleware,
# if it has one.
bare_flag() {
	"$work/reloadserver" -h 2>&1 | grep -oE '^\s+-(bare|unwrapped|plain|no-middleware|nomw)\b' | head -1 | tr -d ' \t' || true
}

# start_server ARGS... starts reloadserver on a free port and sets addr.
start_server() {
	local port
	port=$(free_port)
	addr=127.0.0.1:$port
	"$work/reloadserver" -addr "$addr" "$@" >"$work/server.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 100); do
		if curl -fsS -o /dev/null "http://$addr/"; then
			return
		fi
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	log "loadtest: reloadserver did not come up on $addr:"
	cat "$work/server.log" >&2
	exit 1
}

# stop_server stops the server with SIGTERM and checks it exits 0.
stop_server() {
	local rc=0
	kill -TERM "$server_pid"
	wait "$server_pid" || rc=$?
	server_pid=
	((rc == 0)) || log "loadtest: reloadserver exited with status $rc after SIGTERM; want 0"
}

# --- wrk -------------------------------------------------------------------
cat >"$work/report.lua" <<'EOF'
-- Counts non-2xx responses per thread and prints one RESULT line.
local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	non2xx = 0
end

function response(status, headers, body)
	if status < 200 or status > 299 then
		non2xx = non2xx + 1
	end
end

function done(summary, latency, requests)
	local bad = 0
	for _, t in ipairs(threads) do
		bad = bad + t:get("non2xx")
	end
	local e = summary.errors
	io.write(string.format(
		"RESULT requests=%d rps=%.0f p50=%.3f p99=%.3f max=%.3f non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
		summary.requests, summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
		bad, e.connect, e.read, e.write, e.timeout))
end
EOF

# run_wrk NAME: drives the server for $duration and stores the RESULT line.
declare -A result
run_wrk() {
	local out
	out=$(wrk -t"$threads" -c"$conns" -d"$duration" --timeout 5s -s "$work/report.lua" "http://$addr/")
	result[$1]=$(grep '^RESULT' <<<"$out" | sed 's/^RESULT //')
	[[ -n ${result[$1]} ]] || { log "loadtest: wrk printed no result:"; log "$out"; exit 1; }
}

# field NAME KEY prints one value of a stored result.
field() { grep -oE "(^| )$2=[^ ]+" <<<"${result[$1]}" | cut -d= -f2; }

# --- runs ------------------------------------------------------------------
log "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, $(go version | cut -d' ' -f3); wrk -t$threads -c$conns -d$duration"

bare=$(bare_flag)
if [[ -n $bare ]]; then
	log "run 1/3: bare server ($bare)"
	start_server "$bare"
	run_wrk bare
	stop_server
fi

log "run: reloadserver, no reloads"
start_server
gen_before=$(curl -fsS "http://$addr/" | head -c 200)
run_wrk steady

log "run: reloadserver, POST /reload every 10 ms"
secs=$(awk -v d="$duration" 'BEGIN { n = d + 0; if (d ~ /m$/) n *= 60; if (d ~ /h$/) n *= 3600; print (n > 0 ? int(n) : 30) }')
# One curl process posts $secs*100 reloads at 100/s (a fork per reload
# would cost more CPU than the reloads themselves); it ends with wrk.
n=$((secs * 100))
curl -sS --rate 100/s -w '\nCODE %{http_code}\n' --data '' "http://$addr/reload?[1-$n]" >"$work/reloads" 2>"$work/reloads.err" &
storm_pid=$!
run_wrk storm
for _ in $(seq 100); do kill -0 "$storm_pid" 2>/dev/null || break; sleep 0.1; done
kill "$storm_pid" 2>/dev/null || true
wait "$storm_pid" 2>/dev/null || true
storm_pid=
reloads_ok=$(grep -c '^CODE 2' "$work/reloads" || true)
reloads_bad=$(($(grep -c '^CODE' "$work/reloads" || true) - reloads_ok))
gen_after=$(curl -fsS "http://$addr/" | head -c 200)
stop_server

# --- report ----------------------------------------------------------------
printf '\n%-28s %10s %10s %10s %10s %8s %s\n' run "req/s" "p50 ms" "p99 ms" "max ms" non-2xx "socket errors (connect/read/write/timeout)"
for run in bare steady storm; do
	[[ -n ${result[$run]:-} ]] || continue
	case $run in
	bare) name="bare ($bare)" ;;
	steady) name="reloadserver, no reloads" ;;
	storm) name="reloadserver, reload storm" ;;
	esac
	printf '%-28s %10s %10s %10s %10s %8s %s/%s/%s/%s\n' "$name" \
		"$(field $run rps)" "$(field $run p50)" "$(field $run p99)" "$(field $run max)" "$(field $run non2xx)" \
		"$(field $run connect)" "$(field $run read)" "$(field $run write)" "$(field $run timeout)"
done
printf '\nreloads during the storm: %d succeeded, %d failed (first answer: %s; last: %s)\n' \
	"$reloads_ok" "$reloads_bad" "$(tr -d '\n' <<<"$gen_before")" "$(tr -d '\n' <<<"$gen_after")"

# calc EXPR evaluates an arithmetic expression with awk.
calc() { awk "BEGIN { print ($1) }"; }

# goal NAME OK DETAIL
goal() { printf '%-52s %-4s %s\n' "$1" "$([[ $2 == 1 ]] && echo ok || echo MISS)" "$3"; }
failed=$(($(field storm non2xx) + $(field storm connect) + $(field storm read) + $(field storm write) + $(field storm timeout)))
printf '\ngoals:\n'
goal "zero failed requests during the reload storm" "$((failed == 0))" "$failed failed"
if [[ -n ${result[bare]:-} ]]; then
	ratio=$(calc "$(field steady rps) / $(field bare rps)")
	goal "throughput with middleware >= 0.95x bare" "$(calc "$ratio >= 0.95")" "$(printf '%.3fx' "$ratio")"
else
	ratio=$(calc "$(field storm rps) / $(field steady rps)")
	goal "throughput with middleware >= 0.95x bare" 0 "n/a: reloadserver has no unwrapped mode; storm/no-reloads = $(printf '%.3fx' "$ratio")"
fi
p99=$(calc "$(field storm p99) / $(field steady p99)")
goal "p99 during reloads <= 1.5x p99 without" "$(calc "$p99 <= 1.5")" "$(printf '%.3fx' "$p99")"
