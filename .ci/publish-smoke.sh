#!/usr/bin/env bash
# What the container runs, proven without a Docker engine: publish with the Dockerfile's own publish line, run
# the published gateway in Production with its key read from a file and the published simulator (its own process)
# as the upstream over loopback, then check what an operator relies on. Prints one "publish-smoke: PASS|FAIL what"
# line per check (.ci/run counts them) and exits non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=.ci/lib.sh
. .ci/lib.sh
kill_signal=TERM
smoke_begin publish-smoke

# 1. Publish exactly as the Dockerfile does (its RUN line, with PUBLISH_DIR pointing here instead of /app).
publish_app
pass "publish with the Dockerfile's command ($publish)"
check "the publish output carries the simulator for the compose demo" \
  test -f "$app/KlingGateway.Simulator.dll" -a -f "$app/KlingGateway.Simulator.runtimeconfig.json"

# 2. The key lives only in a file (as a compose or Kubernetes secret); the simulator reads the same file.
key=$(random_key smoke)
printf '%s\n' "$key" >"$work/aimlapi_key.txt"
# A frontend's key, let in through a clients file as an operator would (Production refuses callers without one).
client_key=$(random_key client)
printf '{"Auth":{"Clients":{"smoke":{"KeyHashes":["%s"]}}}}' "$(key_hash "$client_key")" >"$work/clients.json"
sim_port=$(free_port)
gw_port=$(free_port)
gw="http://127.0.0.1:$gw_port"
sim="http://127.0.0.1:$sim_port"

(cd "$app" && Simulator__ApiKeyFile="$work/aimlapi_key.txt" Simulator__QueuedSeconds=1 Simulator__GeneratingSeconds=1 \
  exec dotnet KlingGateway.Simulator.dll --urls "$sim") >"$work/simulator.log" 2>&1 &
sim_pid=$!
# As the image runs it: Production (the image's default), from the app directory, the ledger on its own volume.
(cd "$app" && exec env -u DOTNET_ENVIRONMENT ASPNETCORE_ENVIRONMENT=Production \
  AimlApi__ApiKeyFile="$work/aimlapi_key.txt" AimlApi__BaseUrl="$sim" Ledger__Path="$work/data/kling-gateway.db" \
  Auth__ClientsFile="$work/clients.json" Generations__StatusRefreshInterval=00:00:00.500 Gateway__ShutdownTimeout=00:00:30 \
  dotnet KlingGateway.dll --urls "$gw") >"$work/gateway.out" 2>"$work/gateway.err" &
gw_pid=$!

# 3. Ready, asked the way the image's HEALTHCHECK asks: the published app's own --probe.
ready=false
for _ in $(seq 1 60); do
  if (cd "$app" && dotnet KlingGateway.dll --probe "$gw" >/dev/null 2>&1); then ready=true; break; fi
  kill -0 "$gw_pid" 2>/dev/null || break
  sleep 1
done
check "/health/ready answers 200 to --probe" $ready
check "/health/ready reports the ledger and the key" \
  bash -c "curl -fsS '$gw/health/ready' | python3 -c 'import json,sys; c=json.load(sys.stdin)[\"checks\"]; sys.exit(0 if c[\"ledger\"][\"status\"]==c[\"upstream_key\"][\"status\"]==\"Healthy\" else 1)'"

body='{"model":"klingai/v2-master-image-to-video","prompt":"Mona Lisa puts on glasses with her hands.","image_url":"https://raw.githubusercontent.com/aimlapi/api-docs/main/reference-files/mona_lisa_extended.jpg","duration":"5"}'

# 4. One create, polled to succeeded.
check "a create without a client key is refused with 401" \
  bash -c "[ \"\$(curl -sS -o /dev/null -w '%{http_code}' -X POST '$gw/v1/generations' -H 'Content-Type: application/json' -d '$body')\" = 401 ]"
id=$(curl -sS -X POST "$gw/v1/generations" -H "X-Api-Key: $client_key" -H 'Content-Type: application/json' -d "$body" |
  python3 -c 'import json,sys; print(json.load(sys.stdin).get("id",""))' 2>/dev/null)
status=""
for _ in $(seq 1 60); do
  [ -n "$id" ] || break
  status=$(curl -sS -H "X-Api-Key: $client_key" "$gw/v1/generations/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null)
  [ "$status" = succeeded ] || [ "$status" = failed ] && break
  sleep 0.5
done
check "a create polled to succeeded (id ${id:-none}, last status ${status:-none})" test "$status" = succeeded
check "the playground answers 404 in Production without Playground:Enabled" \
  bash -c "[ \"\$(curl -sS -o /dev/null -w '%{http_code}' '$gw/playground')\" = 404 ]"

# 5. SIGTERM while a slow create is in flight: the caller still gets its normal 202 answer, and the host exits 0.
slow=${body/hands./hands. [sim:create-delay=3]}
curl -sS -o "$work/slow.json" -w '%{http_code}' --max-time 60 -X POST "$gw/v1/generations" \
  -H "X-Api-Key: $client_key" -H 'Content-Type: application/json' -d "$slow" >"$work/slow.code" 2>"$work/slow.err" &
curl_pid=$!
in_flight=false
for _ in $(seq 1 100); do
  if curl -fsS "$sim/_simulator/requests" 2>/dev/null | grep -q 'create-delay=3'; then in_flight=true; break; fi
  sleep 0.1
done
check "the slow create reached the upstream before SIGTERM" $in_flight
kill -TERM "$gw_pid"
wait "$curl_pid"
check "the create in flight at SIGTERM completed with 202 and its generation" \
  bash -c "[ \"\$(cat '$work/slow.code')\" = 202 ] && python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))[\"id\"].startswith(\"gen_\") else 1)' '$work/slow.json'"
wait "$gw_pid"; gw_exit=$?; gw_pid=""
check "the gateway exited 0 after SIGTERM (exit $gw_exit)" test "$gw_exit" -eq 0

# 6. The log: one JSON object per stdout line, and the key in no line of stdout or stderr.
check "every stdout line is one JSON object ($(wc -l <"$work/gateway.out") lines)" python3 - "$work/gateway.out" <<'PY'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
bad = [l for l in lines if not (l.startswith("{") and isinstance(json.loads(l), dict))]
sys.exit(1 if not lines or bad else 0)
PY
check "the shutdown was logged" grep -q 'Application is shutting down' "$work/gateway.out"
check "the key appears in no log line" bash -c "! grep -qF '$key' '$work/gateway.out' '$work/gateway.err'"
check "the client key appears in no log line" bash -c "! grep -qF '$client_key' '$work/gateway.out' '$work/gateway.err'"

# 7. The playground, served from the published files when turned on (step 4 saw it off by default).
check "the publish output carries the playground's files" test -f "$app/wwwroot/playground/index.html" -a -f "$app/wwwroot/playground/app.js"
pg_port=$(free_port)
pg="http://127.0.0.1:$pg_port"
(cd "$app" && exec env -u DOTNET_ENVIRONMENT ASPNETCORE_ENVIRONMENT=Production Playground__Enabled=true \
  AimlApi__ApiKeyFile="$work/aimlapi_key.txt" AimlApi__BaseUrl="$sim" Ledger__Path="$work/data/kling-gateway.db" \
  Auth__ClientsFile="$work/clients.json" dotnet KlingGateway.dll --urls "$pg") >"$work/playground.out" 2>&1 &
gw_pid=$!
for _ in $(seq 1 60); do curl -fsS "$pg/health/live" >/dev/null 2>&1 && break; kill -0 "$gw_pid" 2>/dev/null || break; sleep 1; done
check "with Playground:Enabled the published app serves /playground, every file it links, under a self-only policy" python3 - "$pg" <<'PY'
import re, sys, urllib.request
base = sys.argv[1]
def get(path):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return r.status, r.headers, r.read().decode("utf-8")
status, headers, page = get("/playground")
policy = headers.get("Content-Security-Policy", "")
assert status == 200 and "<!doctype html>" in page.lower(), status
assert policy.startswith("default-src 'none'; script-src 'self'; style-src 'self'"), policy
assert "connect-src 'self'" in policy, policy
linked = re.findall(r'(?:src|href)="(/playground/[^"]+)"', page)
assert any(l.endswith(".js") for l in linked) and any(l.endswith(".css") for l in linked), linked
# Every file the page links and every module those import, followed to the end.
pending, seen = list(linked), set()
while pending:
    path = pending.pop()
    if path in seen:
        continue
    seen.add(path)
    s, h, body = get(path)
    assert s == 200 and body, path
    assert h.get("Content-Security-Policy") == policy, path
    pending += ["/playground/" + m for m in re.findall(r"from '\./([^']+)'", body)]
assert len(seen) >= 10, sorted(seen)
PY
kill -TERM "$gw_pid" 2>/dev/null; wait "$gw_pid" 2>/dev/null; gw_pid=""

if [ "$failed" -gt 0 ]; then
  echo "publish-smoke: gateway stdout (last 20 lines):"; tail -n 20 "$work/gateway.out"; tail -n 20 "$work/gateway.err"
fi
[ "$failed" -eq 0 ]
