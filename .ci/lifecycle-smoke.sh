#!/usr/bin/env bash
# Crash safety of the generation lifecycle with real processes: the published gateway is killed with SIGKILL while
# videos are downloading and generations are running with nobody polling, then started again on the same ledger and
# storage. The restart must resume from the ledger alone: every video ends stored whole (size and SHA-256 as the
# source serves it), no half-written file is ever under a video's name, the temporary files of the killed downloads
# are cleared, and the unpolled generations reach succeeded. Prints one "lifecycle-smoke: PASS|FAIL what" line per
# check (.ci/run counts them) and exits non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=.ci/lib.sh
. .ci/lib.sh
smoke_begin lifecycle-smoke
data="$work/data"

# 1. The gateway and the simulator as the image carries them (the Dockerfile's publish line).
publish_app

key=$(random_key smoke)
printf '%s\n' "$key" >"$work/aimlapi_key.txt"
client_key=$(random_key client)
printf '{"Auth":{"Clients":{"smoke":{"KeyHashes":["%s"]}}}}' "$(key_hash "$client_key")" >"$work/clients.json"
sim="http://127.0.0.1:$(free_port)"
gw="http://127.0.0.1:$(free_port)"

(cd "$app" && Simulator__ApiKeyFile="$work/aimlapi_key.txt" exec dotnet KlingGateway.Simulator.dll --urls "$sim") >"$work/simulator.log" 2>&1 &
sim_pid=$!

start_gateway() {
  (cd "$app" && exec env -u DOTNET_ENVIRONMENT ASPNETCORE_ENVIRONMENT=Production \
    AimlApi__ApiKeyFile="$work/aimlapi_key.txt" AimlApi__BaseUrl="$sim" Ledger__Path="$data/kling-gateway.db" \
    Auth__ClientsFile="$work/clients.json" Generations__StatusRefreshInterval=00:00:00.500 \
    Storage__DownloadTimeout=00:00:10 Storage__MaxConcurrentDownloads=4 \
    dotnet KlingGateway.dll --urls "$gw") >>"$work/gateway.out" 2>>"$work/gateway.err" &
  gw_pid=$!
  wait_ready "$gw" "$gw_pid"
}

check "the published gateway starts" start_gateway

create() {
  local prompt=$1
  curl -sS -X POST "$gw/v1/generations" -H "X-Api-Key: $client_key" -H 'Content-Type: application/json' \
    -d "{\"model\":\"kling-video/v1/pro/image-to-video\",\"prompt\":\"$prompt\",\"image_url\":\"https://example.com/a.jpg\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

# 2. Six videos of 3 MB that take three seconds each to arrive, and two generations still running; nobody polls any.
ids=()
for _ in 1 2 3 4 5 6; do ids+=("$(create 'Slow video [sim:queued=0,generating=0,video-bytes=3000000,video-rate=1000000]')"); done
for _ in 1 2; do ids+=("$(create 'Still running [sim:queued=0,generating=6]')"); done
check "eight generations created (${#ids[@]})" test "${#ids[@]}" -eq 8

# 3. SIGKILL while the downloads are under way (their temporary files exist and are growing).
downloading=false
for _ in $(seq 1 100); do
  if [ "$(find "$data/videos" -name '*.part' -size +300k 2>/dev/null | wc -l)" -ge 4 ]; then downloading=true; break; fi
  sleep 0.1
done
check "four downloads were under way before the kill" $downloading
kill -KILL "$gw_pid"; wait "$gw_pid" 2>/dev/null; gw_pid=""

ledger() {
  python3 - "$data/kling-gateway.db" "$@" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
query = sys.argv[2]
for row in db.execute(query, sys.argv[3:]):
    print("|".join("" if v is None else str(v) for v in row))
PY
}

# What a crash must never do: leave a file under a video's name that the ledger does not record whole.
consistent() {
  python3 - "$data/kling-gateway.db" "$data/videos" <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
stored = {key: size for key, size in db.execute("SELECT video_key, video_stored_size FROM generations WHERE video_state = 'stored'")}
files = {name: os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(sys.argv[2]) for name in names if name.endswith(".mp4")}
bad = [n for n, size in files.items() if stored.get(n) != size] + [k for k in stored if k not in files]
print(f"{len(files)} video files, {len(stored)} stored in the ledger, inconsistent: {bad}")
sys.exit(1 if bad else 0)
PY
}
check "after the kill every file under a video's name is one the ledger records whole, and no other" consistent
parts_after_kill=$(find "$data/videos" -name '*.part' | wc -l)
check "the killed downloads left their temporary files ($parts_after_kill)" test "$parts_after_kill" -ge 4

# 4. A restart on the same ledger and storage resumes everything, with nobody polling: the killed downloads once
#    their leases end (Storage:DownloadTimeout and 10 s), the running generations at their next refresh.
check "the gateway starts again on the same ledger" start_gateway
settled=false
for _ in $(seq 1 180); do
  n=$(ledger "SELECT COUNT(*) FROM generations WHERE status = 'succeeded' AND video_state = 'stored'")
  if [ "$n" = 8 ]; then settled=true; break; fi
  sleep 0.5
done
check "all eight generations ended succeeded with their videos stored ($(ledger "SELECT COUNT(*) FROM generations WHERE video_state = 'stored'") stored)" $settled

whole=true
while IFS='|' read -r id url size sha video_key; do
  file=$(find "$data/videos" -name "$video_key")
  source_sha=$(curl -fsS "$url" | sha256sum | cut -d' ' -f1)
  file_sha=$(sha256sum "$file" | cut -d' ' -f1)
  if [ "$file_sha" != "$sha" ] || [ "$source_sha" != "$sha" ] || [ "$(stat -c %s "$file")" != "$size" ]; then
    echo "lifecycle-smoke: $id: file $file_sha, ledger $sha, source $source_sha, size $(stat -c %s "$file") of $size"; whole=false
  fi
done < <(ledger "SELECT id, video_url, video_stored_size, video_sha256, video_key FROM generations")
check "every stored video is whole: its size and SHA-256 match the ledger and the source" $whole
check "the six slow videos are 3 MB each" test "$(ledger "SELECT COUNT(*) FROM generations WHERE video_stored_size = 3000000")" = 6

served=$(curl -fsS -H "X-Api-Key: $client_key" "$gw/v1/generations/${ids[0]}/content" | sha256sum | cut -d' ' -f1)
check "the content route serves the stored bytes" test "$served" = "$(ledger "SELECT video_sha256 FROM generations WHERE id = ?" "${ids[0]}")"

cleared=false
for _ in $(seq 1 60); do
  if [ "$(find "$data/videos" -name '*.part' | wc -l)" -eq 0 ]; then cleared=true; break; fi
  sleep 0.5
done
check "the killed downloads' temporary files were cleared" $cleared
check "after the restart every file under a video's name is one the ledger records whole" consistent

# 5. The log: JSON lines, and neither key in any of them.
check "the key appears in no log line" bash -c "! grep -qF '$key' '$work/gateway.out' '$work/gateway.err'"
check "the client key appears in no log line" bash -c "! grep -qF '$client_key' '$work/gateway.out' '$work/gateway.err'"

kill -TERM "$gw_pid"; wait "$gw_pid"; gw_exit=$?; gw_pid=""
check "the gateway stops cleanly on SIGTERM with work in the ledger (exit $gw_exit)" test "$gw_exit" -eq 0

if [ "$failed" -gt 0 ]; then
  echo "lifecycle-smoke: gateway stdout (last 30 lines):"; tail -n 30 "$work/gateway.out"; tail -n 20 "$work/gateway.err"
fi
[ "$failed" -eq 0 ]
