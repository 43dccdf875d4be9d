#!/usr/bin/env bash
# Load test from a second process against a real server on PostgreSQL.
# Starts the server (multi-tenant, TENANT_CONN_BUDGET=40), registers
# TENANTS tenants through the API, then runs cmd/loadgen in four modes
# side by side: single-tenant mode on its own server, one hot tenant, 20
# tenants round-robin (as many as the budget keeps open: 40 / pool size 2),
# and all TENANTS round-robin (every request to a tenant whose client was
# evicted). Samples pg_stat_activity during each run.
#
#   TENANTS=1000 DURATION=20s CONCURRENCY=32 scripts/loadtest.sh
#
# Everything it creates (databases load_*) is dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

TENANTS="${TENANTS:-1000}"
DURATION="${DURATION:-20s}"
CONCURRENCY="${CONCURRENCY:-32}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
DB="load_$(date +%s)"
PORT_MT="${PORT_MT:-18080}"
PORT_ST="${PORT_ST:-18081}"

go build -o bin/server ./cmd/server
go build -o bin/loadgen ./cmd/loadgen

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for d in $(psql "$PG/postgres?sslmode=disable" -Atc "SELECT datname FROM pg_database WHERE datname LIKE '${DB}%' OR datname = '${DB/load_/single_}'"); do
		psql "$PG/postgres?sslmode=disable" -qc "DROP DATABASE IF EXISTS \"$d\" WITH (FORCE)" >/dev/null
	done
}
trap cleanup EXIT

wait_up() { for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "server on :$1 did not start"; exit 1; }

# The single-tenant server's database must not share the multi-tenant
# prefix, or its connections would count in the multi-tenant samples.
MULTI_TENANT_ENABLED=true DATABASE_URL="$PG/$DB?sslmode=disable" PORT=$PORT_MT LOG_LEVEL=warn \
	TENANT_CONN_BUDGET=40 TENANT_POOL_SIZE=2 DB_MAX_OPEN_CONNS=10 bin/server 2>"/tmp/$DB-mt.log" &
pids+=($!)
DATABASE_URL="$PG/${DB/load_/single_}?sslmode=disable" PORT=$PORT_ST LOG_LEVEL=warn DB_MAX_OPEN_CONNS=10 bin/server 2>"/tmp/$DB-st.log" &
pids+=($!)
wait_up $PORT_MT
wait_up $PORT_ST

echo "== registering $TENANTS tenants"
bin/loadgen -url "http://127.0.0.1:$PORT_MT" -tenants "$TENANTS" -create -d 1ms -c 1 | grep registered
psql "$PG/postgres?sslmode=disable" -Atc "SELECT 'tenant databases: ' || count(*) FROM pg_database WHERE datname LIKE '${DB}_tenant_%'"

for mode in single hot fits roundrobin; do
	case $mode in
		single)     args=(-url "http://127.0.0.1:$PORT_ST" -tenants 0 -pg-db-prefix "${DB/load_/single_}") ;;
		hot)        args=(-url "http://127.0.0.1:$PORT_MT" -tenants 1 -pg-db-prefix "$DB") ;;
		fits)       args=(-url "http://127.0.0.1:$PORT_MT" -tenants 20 -pg-db-prefix "$DB") ;;
		roundrobin) args=(-url "http://127.0.0.1:$PORT_MT" -tenants "$TENANTS" -pg-db-prefix "$DB") ;;
	esac
	printf '%-11s ' "$mode"
	bin/loadgen "${args[@]}" -c "$CONCURRENCY" -d "$DURATION" -pg "$PG/postgres?sslmode=disable"
done
echo "== tenant client metrics after the runs"
curl -s "http://127.0.0.1:$PORT_MT/metrics" | grep -E '^tenant_' || true
