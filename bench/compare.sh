#!/usr/bin/env bash
# Runs the same load against Herald (bench/server) and the Node reference
# (bench/node), one after the other, and prints both and the ratios.
#   bash bench/compare.sh                 full run (3 rounds, about 20 minutes)
#   QUICK=1 bash bench/compare.sh         short durations
# Environment: CONNS (idle connections, 10000), FANOUT (1000), RATE (60),
# ECHO_CONNS (50), ECHO_RATE (40000: echo at a fixed rate), DURATION (10s;
# QUICK: 5s), REPS (rounds, 3; QUICK: 1), BIG (15000: the health check),
# SCENARIOS (a subset, separated by spaces or commas: conns fanout
# fanout_half echo echo1 echorate big echo-msgpack fanout-msgpack).
# Fan-out also runs at half the rate (for a machine where the reference
# does not keep up with the full rate). Echo runs three ways: at saturation with the requests that are due
# together sent in one write (echo), at saturation with one write per
# request (echo1), and at a fixed rate both servers sustain (echorate).
# echo-msgpack and fanout-msgpack are echo and fanout with both servers and
# the load tool on socket.io-msgpack-parser (PARSER=msgpack, -parser
# msgpack); they are not in the default set. The report gives their CPU
# per ack and per delivery beside JSON's, for each server.
set -eu
cd "$(dirname "$0")/.."
ulimit -n 20000 2>/dev/null || true
DURATION=${DURATION:-10s}; REPS=${REPS:-3}; [ -n "${QUICK:-}" ] && DURATION=5s && REPS=1
CONNS=${CONNS:-10000}; FANOUT=${FANOUT:-1000}; RATE=${RATE:-60}; ECHO_CONNS=${ECHO_CONNS:-50}; BIG=${BIG:-15000}
ECHO_RATE=${ECHO_RATE:-40000}
mkdir -p .bin
go build -o .bin/herald-bench ./cmd/herald-bench
go build -o .bin/bench-server ./bench/server
[ -d bench/node/node_modules ] || (cd bench/node && npm ci --no-audit --no-fund --loglevel=error)
out=${OUT:-bench/results.json}
: > "$out.tmp"

run_server() { # command... → sets PID; the server speaks $parser
  local log; log=$(mktemp)
  PORT=3300 PARSER=$parser "$@" >"$log" 2>&1 &
  for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
  PID=$(grep -o 'pid [0-9]*' "$log" | awk '{print $2}')
  [ -n "$PID" ] || { cat "$log" >&2; rm -f "$log"; exit 1; }
  rm -f "$log"
}

# Rounds alternate the servers scenario by scenario, so that the machine's
# drift (it is shared) falls on both; the report takes medians.
for round in $(seq "$REPS"); do
 for scenario in $(echo "${SCENARIOS:-conns fanout fanout_half echo echo1 echorate big}" | tr , ' '); do
  parser=json
  case $scenario in *-msgpack) parser=msgpack ;; esac
  for server in herald node; do
    case $scenario in
      conns)  args="-mode conns -n $CONNS -procs 2" ;;
      fanout) args="-mode fanout -n $FANOUT -rate $RATE -duration $DURATION" ;;
      fanout_half) args="-mode fanout -n $FANOUT -rate $((RATE / 2)) -duration $DURATION" ;;
      echo)   args="-mode echo -n $ECHO_CONNS -inflight 8 -duration $DURATION" ;;
      echo1)  args="-mode echo -n $ECHO_CONNS -inflight 8 -duration $DURATION -coalesce=false" ;;
      echorate) args="-mode echo -n $ECHO_CONNS -rate $ECHO_RATE -duration $DURATION" ;;
      big)    args="-mode conns -n $BIG -procs 3" ;;
      echo-msgpack) args="-mode echo -n $ECHO_CONNS -inflight 8 -duration $DURATION" ;;
      fanout-msgpack) args="-mode fanout -n $FANOUT -rate $RATE -duration $DURATION" ;;
      *) echo "unknown scenario $scenario" >&2; exit 1 ;;
    esac
    if [ $server = herald ]; then run_server .bin/bench-server; else run_server node bench/node/server.mjs; fi
    sleep 1
    echo "== round $round: $server $scenario" >&2
    .bin/herald-bench -url http://127.0.0.1:3300 -pid "$PID" -parser $parser -json $args |
      sed "s/^{/{\"server\":\"$server\",\"scenario\":\"$scenario\",/" >> "$out.tmp"
    kill "$PID"; wait "$PID" 2>/dev/null || true
    sleep 1
  done
 done
done
mv "$out.tmp" "$out"
rm -f bench/ratios.dat
go run ./bench/report "$out"
# The report writes the ratios only for a run with the picture's scenarios.
if [ -f bench/ratios.dat ] && command -v gnuplot >/dev/null; then gnuplot bench/plot.gnuplot; fi
