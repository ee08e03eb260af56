#!/usr/bin/env bash
# Webhooks survive a crash, with real processes: the gateway (its build output) sends signed webhooks to a receiver that
# verifies them from the Standard Webhooks specification (tests/smoke/webhook_receiver.py) and answers 500 for now, so
# every delivery stays pending in the ledger's outbox; the gateway is killed with SIGKILL with all of them pending, the
# receiver starts answering 200, and the gateway is started again on the same ledger. Then: every event of every
# generation reached the receiver and was acknowledged, each under one webhook-id (the same on every attempt), in the
# order the events happened per generation, every request verified, and the secret in no log line. Short retry settings
# keep it under a minute. Prints one "webhook-smoke: PASS|FAIL what" line per check (.ci/run counts them) and exits
# non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=.ci/lib.sh
. .ci/lib.sh
smoke_begin webhook-smoke
build_app

key=$(random_key smoke)
printf '%s\n' "$key" >"$work/aimlapi_key.txt"
client_key=$(random_key client)
secret="whsec_$(head -c 32 /dev/urandom | base64 -w0)"
rx_port=$(free_port)
printf '{"Auth":{"Clients":{"smoke":{"KeyHashes":["%s"],"RequestsPerMinute":0,"MaxInFlight":0,"Webhooks":{"Endpoints":{"receiver":{"Url":"http://127.0.0.1:%s/hook","Secrets":["%s"]}}}}}}}' \
  "$(key_hash "$client_key")" "$rx_port" "$secret" >"$work/clients.json"
sim="http://127.0.0.1:$(free_port)"
gw="http://127.0.0.1:$(free_port)"
db="$work/data/kling-gateway.db"

echo 500 >"$work/mode"
python3 tests/smoke/webhook_receiver.py "$rx_port" "$secret" "$work/receipts.jsonl" "$work/mode" >"$work/receiver.log" 2>&1 &
rx_pid=$!
(cd "$app" && Simulator__ApiKeyFile="$work/aimlapi_key.txt" exec dotnet KlingGateway.Simulator.dll --urls "$sim") >"$work/simulator.log" 2>&1 &
sim_pid=$!

start_gateway() {
  (cd "$app" && exec env -u DOTNET_ENVIRONMENT ASPNETCORE_ENVIRONMENT=Production \
    AimlApi__ApiKeyFile="$work/aimlapi_key.txt" AimlApi__BaseUrl="$sim" Ledger__Path="$db" Auth__ClientsFile="$work/clients.json" \
    Generations__StatusRefreshInterval=00:00:00.200 Videos__PublicBaseUrl="$gw" \
    Webhooks__AllowedAddressRanges__0=127.0.0.0/8 Webhooks__FirstRetryDelay=00:00:00.200 Webhooks__MaxRetryDelay=00:00:01 \
    Webhooks__Timeout=00:00:02 \
    dotnet KlingGateway.dll --urls "$gw") >>"$work/gateway.out" 2>>"$work/gateway.err" &
  gw_pid=$!
  wait_ready "$gw" "$gw_pid"
}

ledger() {
  python3 - "$db" "$@" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for row in db.execute(sys.argv[2], sys.argv[3:]):
    print("|".join("" if v is None else str(v) for v in row))
PY
}

check "the gateway starts" start_gateway

# 1. Ten generations that finish within about a second; their events' webhooks all fail (500) and stay pending.
for _ in $(seq 1 10); do
  curl -sS -o /dev/null -X POST "$gw/v1/generations" -H "X-Api-Key: $client_key" -H 'Content-Type: application/json' \
    -d '{"model":"kling-video/v1/pro/image-to-video","prompt":"Webhook smoke [sim:queued=0.3,generating=0.3]","image_url":"https://example.com/a.jpg"}'
done
recorded=false
for _ in $(seq 1 120); do
  if [ "$(ledger "SELECT COUNT(*) FROM webhook_deliveries WHERE event_type = 'generation.video_stored'")" = 10 ] \
    && [ "$(wc -l <"$work/receipts.jsonl" 2>/dev/null || echo 0)" -ge 30 ]; then recorded=true; break; fi
  sleep 0.25
done
check "every event's webhook was recorded in the outbox and tried ($(wc -l <"$work/receipts.jsonl" 2>/dev/null || echo 0) failed attempts so far)" $recorded

# 2. SIGKILL with every delivery pending.
kill -KILL "$gw_pid"; wait "$gw_pid" 2>/dev/null; gw_pid=""
total=$(ledger "SELECT COUNT(*) FROM webhook_deliveries")
events=$(ledger "SELECT COUNT(*) FROM generation_events")
check "after the kill all $total deliveries are pending, one per event ($events)" \
  test "$(ledger "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'")" = "$total" -a "$total" = "$events"

# 3. The receiver recovers; the gateway starts again on the same ledger and delivers everything.
echo 200 >"$work/mode"
check "the gateway starts again on the same ledger" start_gateway
delivered=false
for _ in $(seq 1 120); do
  if [ "$(ledger "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'delivered'")" = "$total" ]; then delivered=true; break; fi
  sleep 0.25
done
check "every delivery ended delivered ($(ledger "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'delivered'") of $total)" $delivered

verdict=$(python3 - "$db" "$work/receipts.jsonl" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = db.execute("SELECT d.id, d.generation_id, d.event_type, d.event_seq FROM webhook_deliveries d").fetchall()
receipts = [json.loads(line) for line in open(sys.argv[2])]
problems = []
acknowledged = [r for r in receipts if 200 <= r["status"] < 300]
by_id = {row[0]: row for row in rows}
if not all(r["verified"] for r in receipts):
    problems.append(f"{sum(not r['verified'] for r in receipts)} requests did not verify")
for r in receipts:
    row = by_id.get(r["id"])
    if row is None or (row[1], row[2]) != (r["generation_id"], r["type"]):
        problems.append(f"{r['id']} carried {r['generation_id']} {r['type']}, not its delivery's event")
missing = set(by_id) - {r["id"] for r in acknowledged}
if missing:
    problems.append(f"{len(missing)} deliveries never acknowledged")
# Per generation, the first acknowledgement of each event comes in the order of the events.
first_ack = {}
for index, r in enumerate(acknowledged):
    first_ack.setdefault(r["id"], index)
for generation in {row[1] for row in rows}:
    ordered = sorted((row for row in rows if row[1] == generation), key=lambda row: row[3])
    positions = [first_ack.get(row[0], -1) for row in ordered]
    if positions != sorted(positions):
        problems.append(f"{generation}: events acknowledged out of order")
retried = sum(1 for i in by_id if sum(1 for r in receipts if r["id"] == i) > 1)
print(json.dumps({"deliveries": len(rows), "requests": len(receipts), "acknowledged": len(acknowledged),
                  "retried_ids": retried, "problems": problems[:5]}))
sys.exit(1 if problems else 0)
PY
)
status=$?
check "every event acknowledged under one webhook-id, in order per generation, every request verified: $verdict" test "$status" -eq 0

# 4. The secret is in no log line; the gateway stops cleanly.
check "the webhook secret appears in no log line" bash -c "! grep -qF '${secret#whsec_}' '$work/gateway.out' '$work/gateway.err'"
kill -TERM "$gw_pid"; wait "$gw_pid"; gw_exit=$?; gw_pid=""
check "the gateway stops cleanly on SIGTERM (exit $gw_exit)" test "$gw_exit" -eq 0

if [ "$failed" -gt 0 ]; then
  echo "webhook-smoke: gateway stdout (last 30 lines):"; tail -n 30 "$work/gateway.out" | cut -c1-400; tail -n 20 "$work/gateway.err"
fi
[ "$failed" -eq 0 ]
