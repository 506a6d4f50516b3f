#!/usr/bin/env bash
# Starts the local Redis and PostgreSQL the tests use, if they are not
# running already. Idempotent; needs the Debian packages redis-server and
# postgresql (installed when missing and apt is available).
set -u

have() { command -v "$1" >/dev/null 2>&1; }

if ! (have redis-cli && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1); then
  if ! have redis-server && have apt-get; then
    apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null
  fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

pg_up() { have pg_isready && pg_isready -h 127.0.0.1 -p 5432 -q; }
if ! pg_up; then
  if ! have pg_ctlcluster && have apt-get; then
    apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null
  fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 100); do pg_up && break; sleep 0.1; done
  psql -h 127.0.0.1 -U postgres -tc "select 1 from pg_database where datname='test'" | grep -q 1 ||
    psql -h 127.0.0.1 -U postgres -c "create database test" >/dev/null
fi

redis-cli -h 127.0.0.1 ping >/dev/null && pg_up && echo "services: redis and postgres ready"
