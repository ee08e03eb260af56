-- wrk at a fixed offered rate with independent arrivals, for bench/bench.py.
--
-- Environment: BENCH_RATE (requests a second, all threads together), BENCH_THREADS (wrk's -t), and BENCH_BODY (a
-- JSON file to POST; GET when empty).
--
-- Each wrk thread draws its own Poisson arrival times (exponential gaps) at its share of the rate. A connection that
-- is free takes the next arrival time and waits for it, so requests start at those times whatever the answers' latency,
-- as long as a connection is free; bench.py opens enough connections (50 ms worth of arrivals) for that. wrk measures
-- latency from the moment a request is sent. hey's fixed rate is not used: its workers tick together, so "1,000 a
-- second" from 20 workers arrives as 20 requests at once every 20 ms (bench/FINDINGS.md, item 15).
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now_ts = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
  return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end

local body_file = os.getenv("BENCH_BODY") or ""
if body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end

local rate = assert(tonumber(os.getenv("BENCH_RATE")), "BENCH_RATE is required")
local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
local mean_gap_ms = 1000 * threads / rate
local next_arrival_ms

local seed = 0
function setup(thread)
  seed = seed + 1
  thread:set("thread_seed", seed)
end

function init(args)
  math.randomseed(os.time() * 100 + (thread_seed or 0))
end

-- Milliseconds until this connection's request: wrk waits whole milliseconds, so the wait is rounded.
function delay()
  local now = now_ms()
  next_arrival_ms = (next_arrival_ms or now) - mean_gap_ms * math.log(1 - math.random())
  local wait = next_arrival_ms - now
  if wait <= 0 then
    return 0
  end
  return math.floor(wait + 0.5)
end
