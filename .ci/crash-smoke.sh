#!/usr/bin/env bash
# Crash safety with real processes. The gateway (its build output, run as `dotnet KlingGateway.dll`) and the simulator
# (its own process) run on loopback; 200 creates are sent at once, and the gateway is killed with SIGKILL while most of
# them wait for the upstream. It is started again on the same ledger, and then: no row is left queued without an upstream
# answer once the create timeout has passed, no quota is held, what was billed agrees with the simulator's usage log,
# and the Idempotency-Keys the killed creates held answer at once. Short timeouts (settings) keep it well under a minute.
# With KLING_TEST_POSTGRES set (and psql), the same runs on a PostgreSQL ledger shared by two replicas: the one left
# alive settles what the killed one stranded, the killed one restarts, and no row is settled or refunded twice.
# Prints one "crash-smoke: PASS|FAIL what" line per check (.ci/run counts them) and exits non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=.ci/lib.sh
. .ci/lib.sh
smoke_begin crash-smoke
build_app

key=$(random_key crash)
printf '%s\n' "$key" >"$work/aimlapi_key.txt"
client_key=$(random_key client)
# No rate or in-flight limit: 200 creates at once must all reach the ledger; /v1/usage shows what is held.
printf '{"Auth":{"Clients":{"crash":{"KeyHashes":["%s"],"RequestsPerMinute":0,"MaxInFlight":0}}}}' \
  "$(key_hash "$client_key")" >"$work/clients.json"

sim_port=$(free_port)
sim="http://127.0.0.1:$sim_port"
(cd "$app" && Simulator__ApiKeyFile="$work/aimlapi_key.txt" Simulator__QueuedSeconds=0 Simulator__GeneratingSeconds=0 \
  exec dotnet KlingGateway.Simulator.dll --urls "$sim") >"$work/simulator.log" 2>&1 &
pids+=($!)

# One gateway process, in Production as the image runs it, with short settlement timings: a create takes at most 8 s,
# one unanswered after 10 s is interrupted, the usage log may lag 12 s. Later settings (the ledger's, a run's own) win.
start_gateway() { # name port settings...
  local name=$1 port=$2; shift 2
  (cd "$app" && exec env -u DOTNET_ENVIRONMENT ASPNETCORE_ENVIRONMENT=Production \
    AimlApi__ApiKeyFile="$work/aimlapi_key.txt" AimlApi__BaseUrl="$sim" Auth__ClientsFile="$work/clients.json" \
    AimlApi__CreateTimeout=00:00:08 Generations__InterruptedAfter=00:00:10 Generations__BillingGracePeriod=00:00:12 \
    Generations__SettlementInterval=00:00:01 AimlApi__UsageLogRequestsPerMinute=200 \
    Generations__StatusRefreshInterval=00:00:00.200 "$@" \
    dotnet KlingGateway.dll --urls "http://127.0.0.1:$port") >"$work/$name.out" 2>"$work/$name.err" &
  last_pid=$!
  pids+=("$last_pid")
  wait_ready "http://127.0.0.1:$port" "$last_pid"
}

# How many log lines across the files carry this event id (the JSON log writes it as "EventId":{"Id":N,...}).
count_events() { local id=$1; shift; cat "$@" 2>/dev/null | grep -cE "\"EventId\":(\{\"Id\":)?$id[,}]"; }

# Fires the creates at a gateway, waits until the upstream holds all of them, and kills that gateway with SIGKILL.
fire_and_kill() { # gateway-url gateway-pid name
  local gw=$1 pid=$2 name=$3
  python3 tests/smoke/crash_probe.py fire "$gw" "$client_key" 200 "$work/keyed-$name.json" >"$work/fire-$name.json" 2>&1 &
  local fire_pid=$!
  local reached=0
  for _ in $(seq 1 200); do
    reached=$(curl -fsS "$sim/_simulator/creates/count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["creates"])')
    [ "$reached" -ge "$creates_before_plus" ] && break
    sleep 0.1
  done
  check "[$name] 200 creates reached the upstream before the kill ($((reached - creates_before)) did)" \
    test "$reached" -ge "$creates_before_plus"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null
  wait "$fire_pid"
  check "[$name] SIGKILL left the callers of $(json "$work/fire-$name.json" 'd["no_answer"]') creates without an answer" \
    test "$(json "$work/fire-$name.json" 'd["no_answer"]')" -gt 0
}

# The checks after the restart, on the summary crash_probe.py settle printed.
verify() { # name summary-file gateway-url logs...
  local name=$1 summary=$2 gw=$3; shift 3
  cat "$summary"
  check "[$name] after the restart no create is left unfinished or unsettled ($(json "$summary" 'd["seconds_after_restart"]') s; unfinished $(json "$summary" 'd["unfinished"]'), billing unknown $(json "$summary" 'd["billing_unknown"]'))" \
    test "$(json "$summary" 'd["unfinished"] + d["billing_unknown"]')" -eq 0
  check "[$name] the stranded creates were settled as interrupted ($(json "$summary" 'd["interrupted"]'), of $stuck stranded by the kill)" \
    test "$(json "$summary" 'd["interrupted"]')" -eq "$stuck"
  check "[$name] their billing agrees with the upstream's usage log ($(json "$summary" 'd["interrupted_by_billing"]'), $(json "$summary" 'd["billing_differs_from_usage_log"]') differ)" \
    test "$(json "$summary" 'd["billing_differs_from_usage_log"]')" -eq 0 -a "$(json "$summary" 'd["expected_billed_by_usage_log"]')" -gt 0
  check "[$name] no quota is held: 0 in flight, and today's video seconds are those of the billed and the finished creates ($(json "$summary" 'd["video_seconds_today"]') s)" \
    test "$(json "$summary" 'd["in_flight"]')" -eq 0 -a \
      "$(json "$summary" 'd["video_seconds_today"]')" -eq "$(json "$summary" '5 * (d["interrupted_by_billing"].get("billed", 0) + d["by_status"].get("succeeded", 0))')"
  check "[$name] one billing audit event per settled bill, across every process ($(count_events 7006 "$@") for $(json "$summary" 'd["billing_settled"]'))" \
    test "$(count_events 7006 "$@")" -eq "$(json "$summary" 'd["billing_settled"]')"
  check "[$name] one settlement log event per interrupted create, across every process ($(count_events 4010 "$@"))" \
    test "$(count_events 4010 "$@")" -eq "$(json "$summary" 'd["interrupted"]')"
  python3 tests/smoke/crash_probe.py retry-keyed "$gw" "$client_key" "$work/keyed-$name.json" >"$work/retry-$name.json"
  check "[$name] a retry with a killed create's Idempotency-Key answers 409 create_interrupted ($(cat "$work/retry-$name.json"))" \
    test "$(json "$work/retry-$name.json" 'd["status"] == 409 and d["code"] == "create_interrupted" and d["generation_id"].startswith("gen_")')" = True
  check "[$name] a new create is accepted after the restart" \
    bash -c "[ \"\$(curl -sS -o /dev/null -w '%{http_code}' -X POST '$gw/v1/generations' -H 'X-Api-Key: $client_key' -H 'Content-Type: application/json' \
      -d '{\"model\":\"kling-video/v1/pro/image-to-video\",\"image_url\":\"https://example.com/a.jpg\",\"prompt\":\"after [sim:queued=0,generating=0]\"}')\" = 202 ]"
  check "[$name] neither key appears in a log line" bash -c "! grep -qF -e '$key' -e '$client_key' $*"
}

stranded_sqlite() {
  python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(\"SELECT COUNT(*) FROM generations WHERE status='queued' AND upstream_id IS NULL\").fetchone()[0])" "$1"
}

creates() { curl -fsS "$sim/_simulator/creates/count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["creates"])'; }

# 1. SQLite: one gateway, killed and started again on the same file.
ledger="$work/sqlite/kling-gateway.db"
port=$(free_port)
if start_gateway sqlite-1 "$port" Ledger__Path="$ledger"; then
  pass "[sqlite] the gateway started"
  creates_before=$(creates); creates_before_plus=$((creates_before + 200))
  fire_and_kill "http://127.0.0.1:$port" "$last_pid" sqlite
  stuck=$(stranded_sqlite "$ledger")
  check "[sqlite] the kill left $stuck rows queued with no upstream id" test "$stuck" -gt 0
  if start_gateway sqlite-2 "$port" Ledger__Path="$ledger"; then
    pass "[sqlite] the gateway started again on the same ledger"
    python3 tests/smoke/crash_probe.py settle "http://127.0.0.1:$port" "$client_key" "$sim" "$key" 60 >"$work/summary-sqlite.json"
    verify sqlite "$work/summary-sqlite.json" "http://127.0.0.1:$port" "$work"/sqlite-*.out "$work"/sqlite-*.err
  else
    fail "[sqlite] the gateway started again on the same ledger"; tail -n 20 "$work/sqlite-2.out" "$work/sqlite-2.err"
  fi
else
  fail "[sqlite] the gateway started"; tail -n 20 "$work/sqlite-1.out" "$work/sqlite-1.err"
fi

# 2. PostgreSQL: two replicas on one ledger; one is killed, the other settles, the killed one comes back.
if [ -n "${KLING_TEST_POSTGRES:-}" ] && command -v psql >/dev/null 2>&1; then
  schema="crash_$(od -An -tx1 -N6 /dev/urandom | tr -d ' \n')"
  eval "$(python3 - "$KLING_TEST_POSTGRES" <<'PY'
import shlex, sys
parts = dict(p.split("=", 1) for p in sys.argv[1].split(";") if "=" in p)
get = lambda *names: next((v for k, v in parts.items() if k.strip().lower() in names), "")
for var, names in [("PGHOST", ("host", "server")), ("PGPORT", ("port",)), ("PGDATABASE", ("database", "db")),
                   ("PGUSER", ("username", "user id", "userid", "user")), ("PGPASSWORD", ("password",))]:
    print(f"export {var}={shlex.quote(get(*names))}")
PY
)"
  if psql -qtAc "CREATE SCHEMA $schema" >/dev/null 2>&1; then
    # Two replicas of 20 connections each stay inside the server's 100. With two replicas, a create the other one runs is
    # protected by InterruptedAfter alone, which must cover the wait for its admission: 200 creates of one client take
    # their turns at its ledger lock, so the margin over the create timeout is wider here.
    connection="$KLING_TEST_POSTGRES;Search Path=$schema;Maximum Pool Size=20"
    pg_settings=(Ledger__Provider=postgres Ledger__ConnectionString="$connection" Generations__InterruptedAfter=00:00:20)
    port_a=$(free_port) port_b=$(free_port)
    if start_gateway pg-a1 "$port_a" "${pg_settings[@]}" && pid_a=$last_pid \
      && start_gateway pg-b "$port_b" "${pg_settings[@]}"; then
      pass "[postgres] two replicas started on one ledger"
      creates_before=$(creates); creates_before_plus=$((creates_before + 200))
      fire_and_kill "http://127.0.0.1:$port_a" "$pid_a" postgres
      stuck=$(psql -qtAc "SELECT COUNT(*) FROM $schema.generations WHERE status='queued' AND upstream_id IS NULL")
      check "[postgres] the kill left $stuck rows queued with no upstream id" test "$stuck" -gt 0
      # The replica left alive settles them while the killed one is down; then the killed one comes back.
      python3 tests/smoke/crash_probe.py settle "http://127.0.0.1:$port_b" "$client_key" "$sim" "$key" 60 >"$work/summary-postgres-b.json"
      check "[postgres] the live replica settled what the killed one stranded ($(json "$work/summary-postgres-b.json" 'd["interrupted"]'))" \
        test "$(json "$work/summary-postgres-b.json" 'd["interrupted"]')" -eq "$stuck"
      if start_gateway pg-a2 "$port_a" "${pg_settings[@]}"; then
        pass "[postgres] the killed replica started again on the shared ledger"
        sleep 3  # a few of its passes, which must find nothing left to settle
        python3 tests/smoke/crash_probe.py settle "http://127.0.0.1:$port_a" "$client_key" "$sim" "$key" 60 >"$work/summary-postgres.json"
        verify postgres "$work/summary-postgres.json" "http://127.0.0.1:$port_a" "$work"/pg-*.out "$work"/pg-*.err
      else
        fail "[postgres] the killed replica started again on the shared ledger"; tail -n 20 "$work/pg-a2.out" "$work/pg-a2.err"
      fi
    else
      fail "[postgres] two replicas started on one ledger"; tail -n 20 "$work"/pg-*.out "$work"/pg-*.err
    fi
    psql -qtAc "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1
  else
    echo "crash-smoke: the PostgreSQL run was not possible (could not create a schema)"
  fi
else
  echo "crash-smoke: KLING_TEST_POSTGRES or psql missing; only the SQLite run"
fi

if [ "$failed" -gt 0 ]; then
  for file in "$work"/*.out; do echo "crash-smoke: $(basename "$file") (last 15 lines):"; tail -n 15 "$file"; done
fi
echo "crash-smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
