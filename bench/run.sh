#!/usr/bin/env bash
# The gateway's benchmark against a plain nginx reverse proxy and the upstream itself, all on loopback in one run.
#
#   bench/run.sh            full run (about 10 minutes): 15 s per measurement
#   bench/run.sh --quick    quick run (under 3 minutes): 3 s per measurement
#   bench/run.sh --baseline REF   also publishes REF's gateway (a commit, branch or tag) from a temporary git
#                                 worktree and measures it in turns with this one in (a), (b) and (c)
#
# It publishes the gateway, the simulator, the floor (bench/floor) and the event-stream load client (bench/sse-fanout) in Release, starts the simulator in its
# instant-answer mode, the gateway and the floor in Production against it, and nginx proxying to the same
# simulator; then drives each with wrk (saturation, and a fixed offered rate through bench/paced.lua). It writes
# docs/BENCHMARKS.md, docs/benchmark-added-latency.png and docs/benchmark-results.json, and ends with one "bench: ..." line. Every load goes to 127.0.0.1 only,
# for a bounded time. Not part of .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Debian's packages: nginx (the plain proxy), wrk (the load; its LuaJIT paces the fixed rates), matplotlib (the
# chart). Installed when missing, as root.
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
/usr/bin/python3 -c "import matplotlib" >/dev/null 2>&1 || missing+=(python3-matplotlib)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "bench: run as root, or install: apt-get install ${missing[*]}" >&2; exit 1; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --baseline REF is taken here (the publishing is this script's); everything else goes on to bench.py.
baseline=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --baseline) baseline="${2:?--baseline needs a git ref}"; shift 2 ;;
    --baseline=*) baseline="${1#--baseline=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

out=artifacts/bench
mkdir -p "$out"
echo "bench: publishing the gateway, the simulator, the floor and the event-stream load client (Release)"
dotnet publish src/KlingGateway -c Release -o "$out/gateway" --nologo -v quiet >"$out/publish.log" 2>&1 \
  || { cat "$out/publish.log"; exit 1; }
dotnet publish src/KlingGateway.Simulator -c Release -o "$out/simulator" --nologo -v quiet >>"$out/publish.log" 2>&1 \
  || { cat "$out/publish.log"; exit 1; }
# The floor: ASP.NET Core and HttpClient alone, forwarding creates (bench/floor/Program.cs).
dotnet publish bench/floor -c Release -o "$out/floor" --nologo -v quiet >>"$out/publish.log" 2>&1 \
  || { cat "$out/publish.log"; exit 1; }
# The event-stream load client: thousands of subscribers of one generation (bench/sse-fanout/Program.cs).
dotnet publish bench/sse-fanout -c Release -o "$out/sse-fanout" --nologo -v quiet >>"$out/publish.log" 2>&1 \
  || { cat "$out/publish.log"; exit 1; }

if [ -n "$baseline" ]; then
  commit=$(git rev-parse --verify --quiet "$baseline^{commit}") || { echo "bench: --baseline $baseline is not a commit" >&2; exit 1; }
  tree=$(mktemp -d -t kling-bench-baseline-XXXXXX)
  trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || true; rm -rf "$tree"' EXIT
  echo "bench: publishing the baseline gateway from $baseline ($(git rev-parse --short "$commit")) in a temporary worktree"
  git worktree add --detach "$tree" "$commit" >>"$out/publish.log" 2>&1 || { cat "$out/publish.log"; exit 1; }
  rm -rf "$out/baseline-gateway"
  dotnet publish "$tree/src/KlingGateway" -c Release -o "$out/baseline-gateway" --nologo -v quiet >>"$out/publish.log" 2>&1 \
    || { cat "$out/publish.log"; exit 1; }
  git worktree remove --force "$tree" >/dev/null 2>&1 || true
  args+=(--baseline-gateway "$out/baseline-gateway" --baseline-ref "$baseline ($(git rev-parse --short "$commit"))")
fi

# Every event-stream subscriber holds a socket in the load client and one in the gateway: raise the open-file limit
# (bench.py lifts the soft limit as far as this hard one allows).
ulimit -Hn 1048576 2>/dev/null || true

/usr/bin/python3 bench/bench.py --out "$out" ${args[@]+"${args[@]}"}
