# What the smoke scripts share, sourced after `cd` to the repository root: `smoke_begin NAME` sets up a scratch
# directory ($work, removed at exit), the PASS/FAIL counters and their lines ("NAME: PASS what", which .ci/run counts),
# and a trap that kills what the script started ($gw_pid, $sim_pid, $rx_pid, and every pid in the array pids) with
# $kill_signal (KILL unless the script sets TERM). Then the steps every smoke takes: the app as the image carries it or as
# the tests build it, keys, free loopback ports, and waiting for a gateway to be ready.

smoke_begin() {
  smoke=$1
  work=$(mktemp -d)
  app="$work/app"
  passed=0 failed=0
  gw_pid="" sim_pid="" rx_pid="" pids=()
  kill_signal=${kill_signal:-KILL}
  trap smoke_cleanup EXIT
}

pass() { echo "$smoke: PASS $1"; passed=$((passed + 1)); }
fail() { echo "$smoke: FAIL $1"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

smoke_cleanup() {
  for pid in $gw_pid $sim_pid $rx_pid "${pids[@]}"; do kill "-$kill_signal" "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}

free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }

# An expression over a JSON file's content d: json FILE 'd["id"]'.
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }

# A random secret with a prefix, e.g. random_key smoke.
random_key() { printf '%s-%s' "$1" "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"; }

# The lower-case hex SHA-256 of a key, as Auth:Clients:{name}:KeyHashes takes it.
key_hash() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# The gateway and the simulator as the image carries them: the Dockerfile's own publish line, into $app. Sets $publish.
publish_app() {
  publish=$(sed -n 's/^RUN \(dotnet publish .*\)$/\1/p' Dockerfile)
  if [ -z "$publish" ] || ! PUBLISH_DIR="$app" eval "$publish" >"$work/publish.log" 2>&1; then
    fail "publish with the Dockerfile's command"; tail -n 30 "$work/publish.log"
    exit 1
  fi
}

# The build the tests use, copied to $app so that a later build cannot swap files under the running processes.
build_app() {
  if ! dotnet build src/KlingGateway/KlingGateway.csproj --nologo -v q >"$work/build.log" 2>&1; then
    fail "build the gateway"; tail -n 30 "$work/build.log"; exit 1
  fi
  cp -r src/KlingGateway/bin/Debug/net10.0 "$app"
}

# Waits up to 30 s for the gateway at URL to answer /health/ready; fails early when its process PID has ended.
wait_ready() {
  local url=$1 pid=$2
  for _ in $(seq 1 60); do
    curl -fsS "$url/health/ready" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}
