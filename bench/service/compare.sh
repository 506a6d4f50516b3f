#!/usr/bin/env bash
# The service benchmark: the seed's workload against Herald's service
# (cmd/herald) and the Node server written from the seed
# (bench/service/node), scenario by scenario, the servers alternating, and
# the medians written into docs/benchmarks.md ("Service benchmark").
#   bash bench/service/compare.sh            3 rounds (about 25 minutes on a shared 2-core machine)
#   QUICK=1 bash bench/service/compare.sh    1 round, short windows (a few minutes)
# Environment: REPS (3; QUICK 1), DURATION (chat windows, 5s; QUICK 3s),
# STEP (chatmax step, 3s; QUICK 2s), SETTLE (presence, after all left: 5s;
# QUICK 3s), FILL (history messages, 100000), SCENARIOS (space-separated
# subset), PGHOST/PGPORT/PGUSER (127.0.0.1, 5432, postgres), REDIS_URL
# (redis://127.0.0.1:6379), OUT (.bin/service-results.json).
# Each run gets a fresh SQLite file or PostgreSQL database (dropped after)
# and its own Redis key prefix (deleted after).
set -eu
cd "$(dirname "$0")/../.."
ulimit -n 20000 2>/dev/null || true
REPS=${REPS:-3}; DURATION=${DURATION:-5s}; STEP=${STEP:-3s}; SETTLE=${SETTLE:-5s}
if [ -n "${QUICK:-}" ]; then REPS=1; DURATION=3s; STEP=2s; SETTLE=3s; fi
FILL=${FILL:-100000}
PGHOST=${PGHOST:-127.0.0.1}; PGPORT=${PGPORT:-5432}; PGUSER=${PGUSER:-postgres}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
SCENARIOS_SET=${SCENARIOS:-}
SCENARIOS=${SCENARIOS:-"chat_sqlite chat_pg chat2k_sqlite chat2k_pg chatmax_sqlite chatmax_pg history_sqlite history_pg cluster_pubsub cluster_streams presence2k presence5k"}
export PGHOST PGPORT PGUSER
SECRET=service-bench-secret-$RANDOM$RANDOM$RANDOM$RANDOM
mkdir -p .bin
go build -o .bin/herald ./cmd/herald
go build -o .bin/herald-load ./cmd/herald-load
[ -d bench/service/node/node_modules ] || (cd bench/service/node && npm ci --no-audit --no-fund --loglevel=error)
out=${OUT:-.bin/service-results.json}
: > "$out.tmp"
work=$(mktemp -d)
PIDS=""; DBS=""; PREFIX=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  for p in $PIDS; do wait "$p" 2>/dev/null || true; done
  for d in $DBS; do dropdb --if-exists --force "$d" 2>/dev/null || true; done
  if [ -n "$PREFIX" ]; then
    redis-cli -u "$REDIS_URL" --scan --pattern "$PREFIX*" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null
  fi
  PIDS=""; DBS=""; PREFIX=""
}
trap 'cleanup; rm -rf "$work"' EXIT

run=0
# start SERVER PORT DB [ADAPTER]: starts one node; DB is a SQLite path or a
# postgres:// URL; ADAPTER (pubsub or streams) joins the run's Redis prefix.
start() {
  local server=$1 port=$2 db=$3 adapter=${4:-} log=$work/$server-$2.log
  if [ "$server" = herald ]; then
    local dir=$work/herald-$port; mkdir -p "$dir"
    env HERALD_ADDR=127.0.0.1:$port HERALD_DATA_DIR="$dir" HERALD_DATABASE_URL="$db" HERALD_JWT_SECRET="$SECRET" \
      HERALD_LOG_LEVEL=warn HERALD_RATE_LIMITS=send-message=100000:100000,default=100000:100000 \
      HERALD_USER_MESSAGE_RATE=1000000/1s HERALD_MAX_CONNECTIONS_PER_USER=1000 HERALD_CONN_PER_IP_PER_MINUTE=1000000 \
      ${adapter:+HERALD_REDIS_URL=$REDIS_URL HERALD_REDIS_ADAPTER=$adapter HERALD_REDIS_PREFIX=$PREFIX} \
      .bin/herald >"$log" 2>&1 &
  else
    local sqlite=$db url=""
    case $db in postgres*) url=$db; sqlite="" ;; esac
    env PORT=$port JWT_SECRET="$SECRET" DATABASE_URL="$url" SQLITE_PATH="$sqlite" \
      ${adapter:+REDIS_URL=$REDIS_URL REDIS_ADAPTER=$adapter REDIS_PREFIX=$PREFIX} \
      node bench/service/node/server.mjs >"$log" 2>&1 &
  fi
  local pid=$!
  PIDS="$PIDS $pid"
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  STARTED=$pid
}

# database STORE: a fresh SQLite path or PostgreSQL database for this run.
database() {
  run=$((run + 1))
  if [ "$1" = pg ]; then
    local name=sbench_$$_$run
    createdb "$name"
    DBS="$DBS $name"
    DB="postgres://$PGUSER@$PGHOST:$PGPORT/$name?sslmode=disable"
  else
    DB=$work/run$run.db
  fi
}

for round in $(seq "$REPS"); do
 for scenario in $SCENARIOS; do
  for server in herald node; do
    echo "== round $round: $server $scenario" >&2
    store=sqlite; case $scenario in *_pg|cluster_*) store=pg ;; esac
    database $store
    PREFIX=sbench-$$-$run-
    load=(.bin/herald-load -json -secret "$SECRET")
    case $scenario in
      cluster_*)
        start $server 3501 "$DB" "${scenario#cluster_}"; p1=$STARTED
        start $server 3502 "$DB" "${scenario#cluster_}"; p2=$STARTED
        sleep 1
        load+=(-mode cluster -url http://127.0.0.1:3501,http://127.0.0.1:3502 -pid "$p1,$p2"
          -users 500 -senders 20 -rate 500 -duration "$DURATION") ;;
      *)
        start $server 3501 "$DB"; p1=$STARTED
        sleep 1
        load+=(-url http://127.0.0.1:3501 -pid "$p1")
        case $scenario in
          chat_*) load+=(-mode chat -users 200 -senders 20 -rate 500 -duration "$DURATION") ;;
          chat2k_*) load+=(-mode chat -users 200 -senders 20 -rate 2000 -duration "$DURATION") ;;
          chatmax_*) load+=(-mode chatmax -users 200 -senders 20 -rate 100 -duration "$STEP") ;;
          history_*) load+=(-mode history -fill-db "$DB" -schema $server -fill "$FILL") ;;
          presence2k) load+=(-mode presence -n 2000 -within 10s -settle "$SETTLE") ;;
          presence5k) load+=(-mode presence -n 5000 -within 10s -settle "$SETTLE") ;;
        esac ;;
    esac
    if line=$("${load[@]}"); then
      echo "$line" | sed "s/^{/{\"server\":\"$server\",\"scenario\":\"$scenario\",\"round\":$round,/" >> "$out.tmp"
    else
      echo "herald-load failed: $server $scenario (round $round)" >&2
    fi
    cleanup
    sleep 1
  done
 done
done
mv "$out.tmp" "$out"
# Only a run of every scenario rewrites the committed table and plot; a
# subset prints its rows.
if [ -z "${SCENARIOS_SET:-}" ]; then
  go run ./bench/service/report -doc docs/benchmarks.md -dat .bin/service-ratios.dat "$out"
  if command -v gnuplot >/dev/null; then gnuplot bench/service/plot.gnuplot; fi
else
  go run ./bench/service/report -dat .bin/service-ratios.dat "$out"
fi
