-- wrk: GET the URL with a random Range of BENCH_RANGE_BYTES (default 1 MiB) within the first BENCH_SIZE bytes, as a
-- video player seeking through a file does (bench/bench.py sets both). Every answer is expected to be a 206.
local size = assert(tonumber(os.getenv("BENCH_SIZE")), "BENCH_SIZE is required")
local span = tonumber(os.getenv("BENCH_RANGE_BYTES") or "1048576")

local seed = 0
function setup(thread)
  seed = seed + 1
  thread:set("thread_seed", seed)
end

function init(args)
  math.randomseed(os.time() * 100 + (thread_seed or 0))
end

function request()
  local first = math.random(0, size - span)
  wrk.headers["Range"] = string.format("bytes=%d-%d", first, first + span - 1)
  return wrk.format("GET")
end
