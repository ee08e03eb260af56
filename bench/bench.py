#!/usr/bin/python3
"""Drives the benchmark that bench/run.sh sets up. Run it through bench/run.sh, which publishes the builds first.

Targets, all on 127.0.0.1: the gateway (Release, Production) in front of the simulator (instant-answer mode),
nginx as a plain reverse proxy in front of the same simulator, and the simulator directly. Loads: wrk for
saturation (closed loop, fixed connections), and wrk with bench/paced.lua for a fixed offered rate (independent
arrivals at that rate).
"""
import argparse
import base64
import concurrent.futures
import datetime
import glob
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "kling-video/v1/standard/image-to-video"
KEY = "bench-key-" + os.urandom(8).hex()
BIG_PAYLOAD_BYTES = 7 * 1000 * 1000  # the base64 text of the image, about 7 MB
VIDEO_BYTES = 20 * 1024 * 1024  # the stored video the range reads go through
REFRESH_INTERVAL_S = 5.0  # Generations:StatusRefreshInterval's default, which the gateway runs with
SSE_TARGET_P99_MS = 250  # a status change reaches the last of 10,000 subscribers of one generation within this (p99)


def raise_fd_limit(wanted):
    """Every event stream is a socket on both sides: lift the soft limit (children inherit it) as far as the hard one
    allows, and say so when that is short of what the fan-out needs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        print(f"bench: warning: open files are limited to {target}; the fan-out needs about {wanted}", file=sys.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=30):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read() or b"null")


def wait_ready(url, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception:
            time.sleep(0.3)
    raise SystemExit(f"bench: {url} did not answer within {seconds} s")


def proc_status(pid):
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
    return values


def cpu_ticks(pid):
    """User plus system CPU time of the process, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def host_cpu():
    """The machine's CPU time by kind, in ticks (/proc/stat): steal is time the hypervisor gave to other guests."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return {"total": sum(values[:8]), "steal": values[7]}


def reset_peak(pid):
    """Resets VmHWM to the current RSS (Linux clear_refs 5); False where the kernel refuses."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def png_base64(target_chars):
    """A PNG of 1280x720 whose base64 is about target_chars long: a valid signature and IHDR, then filler IDAT.
    The gateway reads headers only, so the filler need not decode."""
    ihdr = struct.pack(">IIBBBBB", 1280, 720, 8, 2, 0, 0, 0)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    raw_target = target_chars * 3 // 4
    filler = os.urandom(max(0, raw_target - len(head) - 12 - 12))
    data = head + chunk(b"IDAT", filler) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode()


# ---- load generators -------------------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk_duration(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * UNITS[m.group(2)]


def wrk(url, seconds, connections, threads, script, headers, env, result):
    """Runs wrk and adds what it answered to result: rps, p50/p90/p99, non-2xx answers, socket errors, requests."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s"]
    if script:
        cmd += ["-s", os.path.join(ROOT, "bench", script)]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, env=dict(os.environ, **env),
                         timeout=seconds + 60).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        result[f"p{pct}_ms"] = parse_wrk_duration(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    m = re.search(r"(\d+) requests in", out)
    result["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out)
    result["bytes_per_s"] = float(m.group(1)) * {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[m.group(2)] if m else 0.0
    return result


def run_wrk(url, seconds, connections, headers, body_file=None):
    """wrk at saturation: a fixed number of connections, each sending as soon as its last answer came."""
    return wrk(url, seconds, connections, 2, "post.lua" if body_file else None, headers,
               {"BENCH_BODY": body_file or ""}, {"tool": "wrk", "connections": connections, "seconds": seconds})


def run_paced(url, seconds, rate, headers, body_file=None):
    """wrk at a fixed offered rate with independent (Poisson) arrivals: bench/paced.lua."""
    # Enough connections for 50 ms of arrivals, so a free one is there when the next arrival is due unless answers
    # take tens of milliseconds; wrk connects them all before the first request, so no connect lands in the sample.
    connections = max(8, math.ceil(rate * 0.05))
    return wrk(url, seconds, connections, 1, "paced.lua", headers,
               {"BENCH_BODY": body_file or "", "BENCH_RATE": str(rate), "BENCH_THREADS": "1"},
               {"tool": "wrk-paced", "offered_rps": rate, "connections": connections, "seconds": seconds})


def median_round(runs):
    """One fixed-rate result from several rounds: summed counts, mean rps, each percentile's median across rounds."""
    result = dict(runs[0], seconds=sum(r["seconds"] for r in runs), rounds=runs)
    for key in ("requests", "non_2xx", "socket_errors"):
        result[key] = sum(r[key] for r in runs)
    result["rps"] = round(sum(r["rps"] for r in runs) / len(runs), 1)
    for key in ("p50_ms", "p90_ms", "p99_ms"):
        values = [r[key] for r in runs if r[key] is not None]
        result[key] = statistics.median(values) if values else None
    return result


def saturation_rounds(runs):
    """One saturation result from one or more rounds: summed counts, rps over the summed time, each percentile's
    median round, and the process's CPU per request over all rounds (gateway_cpu_us_per_request for the gateways)."""
    result = median_round(runs) if len(runs) > 1 else dict(runs[0])
    if len(runs) > 1:
        result["rps"] = round(sum(r["requests"] for r in runs) / max(1, sum(r["seconds"] for r in runs)), 1)
        result["bytes_per_s"] = sum(r["bytes_per_s"] * r["seconds"] for r in runs) / max(1, sum(r["seconds"] for r in runs))
    ticks = [r["cpu_ticks"] for r in runs if "cpu_ticks" in r]
    if ticks and result["requests"]:
        result["cpu_us_per_request"] = round(sum(ticks) / os.sysconf("SC_CLK_TCK") * 1e6 / result["requests"], 1)
    result.pop("cpu_ticks", None)
    return result


# The paths a scenario may have, in the order the tables list them; all but direct are measured against direct.
# "baseline" is the previous head's gateway (--baseline), measured in turns with this one.
PATHS = ("gateway", "baseline", "floor", "nginx", "direct")
VIAS = PATHS[:-1]


# ---- the run ---------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.out = os.path.abspath(args.out)
        self.work = tempfile.mkdtemp(prefix="kling-bench-")
        self.procs = []
        self.seconds = 3 if args.quick else 15
        # Rounds per fixed rate: a full run's 15 s as five rounds, so a stall in two of them still does not decide a
        # p99 (FINDINGS.md, item 22); a quick run keeps three, to stay under 3 minutes.
        self.rounds = 3 if args.quick else 5
        # Per target and scenario (connection pools, the simulator's and nginx's first requests); the gateway first gets
        # its own, longer warm-up on creates: tiered JIT was still recompiling 12 s into a run (bench/FINDINGS.md).
        self.warmup = 2 if args.quick else 5
        self.gateway_warmup = 15 if args.quick else 40
        self.floor_warmup = 3 if args.quick else 15
        if args.seconds:
            self.seconds = args.seconds
        self.results = {"scenarios": {}, "quick": args.quick, "fixed_rate_rounds": self.rounds}
        self.gateway_logs = []
        # The name each running gateway was started under, which names its ledger and video folder.
        self.instance = {"gateway": "gateway", "baseline": "baseline"}
        if args.baseline_gateway:
            self.results["baseline_ref"] = args.baseline_ref or args.baseline_gateway

    # processes ------------------------------------------------------------------
    def start(self, name, cmd, env=None, cwd=None):
        log = open(os.path.join(self.work, f"{name}.log"), "w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop_all(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def start_gateway(self, name, folder, port):
        """A gateway (Release, Production) in front of the simulator, with a fresh ledger and video folder of its own."""
        gw_env = dict(os.environ, ASPNETCORE_ENVIRONMENT="Production", AimlApi__ApiKeyFile=self.key_file,
                      AimlApi__BaseUrl=self.sim, Ledger__Path=os.path.join(self.work, f"{name}-ledger.db"),
                      Storage__Path=os.path.join(self.work, f"{name}-videos"),
                      ASPNETCORE_URLS=f"http://127.0.0.1:{port}",
                      # Where client authentication and limits exist: anonymous and unlimited, so the figures are
                      # the proxy path's own. Ignored by builds without them.
                      Auth__AllowAnonymous="true", Auth__Defaults__RequestsPerMinute="0", Auth__Defaults__MaxInFlight="0",
                      # Room for the fan-out's subscribers, all of one (anonymous) client.
                      Events__MaxSubscribers=str(max(10000, 2 * self.args.sse)),
                      Events__MaxSubscribersPerClient=str(max(10000, 2 * self.args.sse)))
        # Run from its publish folder, as a container would: that folder is the content root.
        return self.start(name, [shutil.which("dotnet"), os.path.join(folder, "KlingGateway.dll")], gw_env, cwd=folder)

    def restart_gateways(self, label):
        """The gateway (and the baseline) stopped and started again with a fresh ledger and video folder, on the same
        port, before a scenario. Every create of an earlier scenario goes on to be refreshed and its video kept in the
        background, thousands after (a): measured in the same process, that backlog's work landed on the next scenario's
        CPU per request and its latency, and its downloads queued ahead of (f)'s video."""
        for name in ("gateway", "baseline") if self.args.baseline_gateway else ("gateway",):
            proc = self.gateway if name == "gateway" else self.baseline
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            url = self.url_of(name)
            folder = os.path.join(self.out, "gateway") if name == "gateway" else os.path.abspath(self.args.baseline_gateway)
            fresh = self.start_gateway(f"{name}-{label}", folder, int(url.rsplit(":", 1)[1]))
            self.gateway_logs.append(f"{name}-{label}")
            self.instance[name] = f"{name}-{label}"
            if name == "gateway":
                self.gateway = fresh
            else:
                self.baseline = fresh
            wait_ready(url + "/health/ready")

    def setup(self):
        key_file = os.path.join(self.work, "key")
        with open(key_file, "w") as f:
            f.write(KEY + "\n")
        sim_port, gw_port, nginx_port, floor_port = free_port(), free_port(), free_port(), free_port()
        self.sim = f"http://127.0.0.1:{sim_port}"
        self.gw = f"http://127.0.0.1:{gw_port}"
        self.nginx = f"http://127.0.0.1:{nginx_port}"
        self.floor = f"http://127.0.0.1:{floor_port}"

        dotnet = shutil.which("dotnet")
        sim_env = dict(os.environ, Simulator__ApiKeyFile=key_file, Simulator__Instant="true",
                       Logging__LogLevel__Default="Warning")
        self.start("simulator", [dotnet, os.path.join(self.out, "simulator", "KlingGateway.Simulator.dll"),
                                 "--urls", self.sim, "--Logging:LogLevel:Default=Warning"], sim_env)
        self.key_file = key_file
        self.gateway = self.start_gateway("gateway", os.path.join(self.out, "gateway"), gw_port)
        # The previous head's gateway (--baseline): the same settings, its own ledger and videos, measured in turns
        # with this one in (a), (b) and (c).
        if self.args.baseline_gateway:
            self.base = f"http://127.0.0.1:{free_port()}"
            self.baseline = self.start_gateway("baseline", os.path.abspath(self.args.baseline_gateway),
                                               int(self.base.rsplit(":", 1)[1]))

        nginx_conf = os.path.join(self.work, "nginx.conf")
        user = "user root;\n" if os.geteuid() == 0 else ""
        with open(nginx_conf, "w") as f:
            f.write(f"""{user}worker_processes auto;
pid {self.work}/nginx.pid;
error_log {self.work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {self.work}/nginx-body;
    proxy_temp_path {self.work}/nginx-proxy;
    client_max_body_size 64m;
    client_body_buffer_size 16m;
    upstream simulator {{ server 127.0.0.1:{sim_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{nginx_port};
        # The same stored video the gateway serves, for the range reads (sendfile, as nginx serves files by default).
        location /video/ {{
            alias {self.work}/static/;
            sendfile on;
            tcp_nopush on;
        }}
        location / {{
            proxy_pass http://simulator;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer {KEY}";
        }}
    }}
}}
""")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.start("nginx", [nginx, "-c", nginx_conf, "-p", self.work, "-g", "daemon off;"])

        # The floor (bench/floor): ASP.NET Core and HttpClient forwarding creates with nothing else, in Production.
        floor_env = dict(os.environ, ASPNETCORE_ENVIRONMENT="Production", ASPNETCORE_URLS=self.floor,
                         FLOOR_UPSTREAM=self.sim, FLOOR_KEY_FILE=key_file)
        self.floor_proc = self.start("floor", [dotnet, os.path.join(self.out, "floor", "Floor.dll")], floor_env,
                   cwd=os.path.join(self.out, "floor"))

        wait_ready(self.sim + "/_simulator/creates/count")
        wait_ready(self.gw + "/health/ready")
        if self.args.baseline_gateway:
            wait_ready(self.base + "/health/ready")
        wait_ready(self.nginx + "/_simulator/creates/count")
        wait_ready(self.floor + "/health")

        small = {"model": MODEL, "prompt": "A cat walks along the beach at sunset.",
                 "image_url": "https://example.com/first-frame.jpg", "duration": "5"}
        self.small_body = self.write_json("small.json", small)
        big = dict(small, prompt="The picture comes to life.", image_url="data:image/png;base64," + png_base64(BIG_PAYLOAD_BYTES))
        self.big_body = self.write_json("big.json", big)
        self.big_bytes = os.path.getsize(self.big_body)

    def prepare_reads(self):
        """Generations to read, made just before the status scenarios: the simulator keeps only its newest 10,000,
        so the create scenario's would push older ones out. One finished, read once so the ledger holds it as
        terminal; one that stays in progress for an hour. The baseline gateway (--baseline) gets its own pair."""
        self.reads = {}
        for name in ("gateway", "baseline") if self.args.baseline_gateway else ("gateway",):
            done_id, done_up = self.create_through_gateway("Done at once [sim:queued=0,generating=0]", name)
            self.reads[name] = {"done": (done_id, done_up),
                                "busy": self.create_through_gateway("Still going [sim:queued=3600]", name)}
        # A status read refreshes at most once per Generations:StatusRefreshInterval (5 s), counted from the create.
        for name, ids in self.reads.items():
            deadline = time.time() + 20
            while True:
                status, answer = http("GET", self.url_of(name) + "/v1/generations/" + ids["done"][0])
                if status == 200 and answer["status"] == "succeeded":
                    break
                if time.time() > deadline:
                    raise SystemExit(f"bench: the finished generation reads {status} {answer}")
                time.sleep(0.5)
        self.done_id, self.done_up = self.reads["gateway"]["done"]
        self.busy_id, self.busy_up = self.reads["gateway"]["busy"]

    def url_of(self, name):
        return self.base if name == "baseline" else self.gw

    def write_json(self, name, value):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            json.dump(value, f)
        return path

    def create_through_gateway(self, prompt, name="gateway"):
        body = json.dumps({"model": MODEL, "prompt": prompt, "image_url": "https://example.com/a.jpg"}).encode()
        status, answer = http("POST", self.url_of(name) + "/v1/generations", body, {"Content-Type": "application/json"})
        if status != 202:
            raise SystemExit(f"bench: the gateway answered {status} to a create")
        gid = answer["id"]
        # The upstream id is the ledger's; the gateway never shows it.
        with sqlite3.connect(f"file:{os.path.join(self.work, self.instance[name] + '-ledger.db')}?mode=ro", uri=True) as db:
            upstream = db.execute("SELECT upstream_id FROM generations WHERE id = ?", (gid,)).fetchone()[0]
        return gid, upstream

    def inflight_refresh(self, count):
        """(e) The background refresh with `count` generations in flight and nobody reading: the upstream fetch rate
        (expected in-flight / interval, spread evenly) and the gateway's CPU per refresh."""
        print(f"bench: scenario inflight: (e) background refresh of {count} generations in flight", flush=True)

        def create(i):
            return self.create_through_gateway(f"In flight {i} [sim:queued=3600]")[0]

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(create, range(count)))
        # Past one interval, so every generation's refresh has come due at least once and the pacing has settled.
        time.sleep(REFRESH_INTERVAL_S * 1.5)
        window = max(self.seconds, 2 * REFRESH_INTERVAL_S)
        pid = self.gateway.pid
        samples = []
        ticks = cpu_ticks(pid)
        started = time.time()
        while time.time() - started < window:
            samples.append((time.time(), http("GET", self.sim + "/_simulator/fetches/count")[1]["fetches"]))
            time.sleep(0.5)
        samples.append((time.time(), http("GET", self.sim + "/_simulator/fetches/count")[1]["fetches"]))
        cpu_s = (cpu_ticks(pid) - ticks) / os.sysconf("SC_CLK_TCK")
        elapsed = samples[-1][0] - samples[0][0]
        fetches = samples[-1][1] - samples[0][1]
        rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(samples, samples[1:]) if b[0] > a[0]]
        expected = count / REFRESH_INTERVAL_S
        record = {
            "title": f"(e) background refresh, {count} generations in flight, nobody reading",
            "in_flight": count, "interval_s": REFRESH_INTERVAL_S, "seconds": round(elapsed, 1),
            "fetches": fetches, "fetches_per_s": round(fetches / elapsed, 1), "expected_per_s": expected,
            "rate_vs_expected": round(fetches / elapsed / expected, 3),
            # Evenness: the fetch rate in each half-second of the window.
            "half_second_rates": {"min": round(min(rates), 1), "max": round(max(rates), 1),
                                  "stdev": round(statistics.pstdev(rates), 1)} if rates else None,
            "gateway_cpu_us_per_refresh": round(cpu_s * 1e6 / fetches, 1) if fetches else None,
            "gateway_cpu_percent": round(100 * cpu_s / elapsed, 1),
        }
        print(f"  {record['fetches_per_s']} fetches/s (expected {expected:.0f}), half-second rates {record['half_second_rates']},"
              f" gateway CPU {record['gateway_cpu_us_per_refresh']} us/refresh", flush=True)
        self.results["scenarios"]["inflight"] = record

    def range_reads(self, connections=64):
        """(f) 64 connections reading random 1 MiB ranges of a 20 MB stored video: through the gateway's content route
        (a stored file, served with the framework's range support) against nginx serving the same file."""
        print("bench: scenario range_reads: (f) random 1 MiB ranges of a 20 MB stored video, 64 connections", flush=True)
        body = json.dumps({"model": MODEL, "prompt": f"A long video [sim:queued=0,generating=0,video-bytes={VIDEO_BYTES}]",
                           "image_url": "https://example.com/a.jpg"}).encode()
        _, answer = http("POST", self.gw + "/v1/generations", body, {"Content-Type": "application/json"})
        gid = answer["id"]
        deadline = time.time() + 120
        while True:
            _, generation = http("GET", self.gw + "/v1/generations/" + gid)
            if (generation.get("video") or {}).get("storage") == "stored":
                break
            if time.time() > deadline:
                raise SystemExit(f"bench: the 20 MB video was not stored: {generation}")
            time.sleep(0.5)
        stored = glob.glob(os.path.join(self.work, self.instance["gateway"] + "-videos", "*", gid + ".mp4"))[0]
        os.makedirs(os.path.join(self.work, "static"), exist_ok=True)
        shutil.copy(stored, os.path.join(self.work, "static", "video.mp4"))
        targets = {"gateway": generation["video"]["url"], "nginx": self.nginx + "/video/video.mp4"}
        env = {"BENCH_SIZE": str(VIDEO_BYTES), "BENCH_RANGE_BYTES": str(1024 * 1024)}
        record = {"title": "(f) random 1 MiB ranges of a 20 MB stored video, 64 connections", "saturation": {}}
        for target, url in targets.items():
            wrk(url, self.warmup, connections, 2, "range.lua", [], env, {})
        for target, url in targets.items():
            ticks = cpu_ticks(self.gateway.pid)
            r = record["saturation"][target] = wrk(url, self.seconds, connections, 2, "range.lua", [], env,
                                                   {"tool": "wrk", "connections": connections, "seconds": self.seconds})
            if target == "gateway" and r["requests"]:
                r["gateway_cpu_us_per_request"] = round(
                    (cpu_ticks(self.gateway.pid) - ticks) / os.sysconf("SC_CLK_TCK") * 1e6 / r["requests"], 1)
            print(f"  {target:8} {r['rps']:8.0f} ranges/s  {r['bytes_per_s'] / 1e6:8.1f} MB/s  p99 {fmt(r['p99_ms'])} ms"
                  f"  non-2xx {r['non_2xx']}", flush=True)
        nginx_rate = record["saturation"]["nginx"]["bytes_per_s"]
        record["throughput_vs_nginx"] = round(record["saturation"]["gateway"]["bytes_per_s"] / nginx_rate, 2) if nginx_rate else None
        self.results["scenarios"]["range_reads"] = record

    def sse_fanout(self, subscribers):
        """(g) `subscribers` event streams of one generation on this one gateway: from each status change to each
        subscriber's event (p50, p99, and the last subscriber's), the gateway's memory per 1,000 open streams, and the
        upstream fetches of that generation against one nobody follows (the streams must add none)."""
        print(f"bench: scenario sse_fanout: (g) {subscribers} subscribers of one generation", flush=True)
        # Queued long enough for every subscriber to connect first; then processing, then succeeded.
        queued = 20 + subscribers // 400
        followed, followed_up = self.create_through_gateway(f"Followed [sim:queued={queued},generating=5]")
        alone, alone_up = self.create_through_gateway(f"Followed by nobody [sim:queued={queued},generating=5]")
        pid = self.gateway.pid
        rss_before = proc_status(pid)["VmRSS"]
        out = os.path.join(self.work, "sse-fanout.json")
        client = subprocess.Popen(
            [shutil.which("dotnet"), os.path.join(self.out, "sse-fanout", "SseFanout.dll"), self.gw,
             f"/v1/generations/{followed}/events", str(subscribers), str(queued + 120), out],
            stdout=subprocess.PIPE, text=True, start_new_session=True)
        ready_line = client.stdout.readline().strip()
        rss_connected = proc_status(pid)["VmRSS"]
        print(f"  load client: {ready_line}; gateway RSS {rss_before / 2**20:.0f} MB before, {rss_connected / 2**20:.0f} MB with the streams open",
              flush=True)
        client.wait(timeout=queued + 180)
        with open(out) as f:
            fanout = json.load(f)
        fetch = lambda up: http("GET", self.sim + "/_simulator/generations/fetch-count?generation_id=" + urllib.parse.quote(up, safe=""))[1]["fetches"]
        events = fanout["events"]
        changes = [e for e in ("generation.processing", "generation.succeeded") if e in events]
        record = {
            "title": f"(g) {subscribers} event-stream subscribers of one generation, one gateway",
            "subscribers": subscribers, "opened": fanout["opened"], "failed": fanout["failed"],
            "ended_by_server": fanout["ended_by_server"], "errors": fanout["errors"], "events": events,
            "change_p50_ms": max((events[e]["p50_ms"] for e in changes), default=None),
            "change_p99_ms": max((events[e]["p99_ms"] for e in changes), default=None),
            "change_last_subscriber_ms": max((events[e]["max_ms"] for e in changes), default=None),
            "rss_before": rss_before, "rss_connected": rss_connected,
            "rss_per_1000_subscribers": round((rss_connected - rss_before) / max(1, fanout["opened"]) * 1000),
            "upstream_fetches_followed": fetch(followed_up), "upstream_fetches_alone": fetch(alone_up),
        }
        for name in changes:
            e = events[name]
            print(f"  {name}: reached {e['subscribers_reached']} of {fanout['opened']}, p50 {e['p50_ms']} ms, p99 {e['p99_ms']} ms,"
                  f" last {e['max_ms']} ms", flush=True)
        print(f"  {record['rss_per_1000_subscribers'] / 2**20:.1f} MB per 1,000 subscribers; upstream fetches: followed "
              f"{record['upstream_fetches_followed']}, alone {record['upstream_fetches_alone']}", flush=True)
        self.results["scenarios"]["sse_fanout"] = record

    # measurements ---------------------------------------------------------------
    def targets(self, scenario):
        auth = [f"Authorization: Bearer {KEY}"]
        json_ct = ["Content-Type: application/json"]
        if scenario in ("create", "big_create"):
            body = self.small_body if scenario == "create" else self.big_body
            targets = {
                "gateway": (self.gw + "/v1/generations", json_ct, body),
                "nginx": (self.nginx + "/v2/video/generations", json_ct, body),
                "direct": (self.sim + "/v2/video/generations", json_ct + auth, body),
            }
            if scenario == "create":
                if self.args.baseline_gateway:
                    targets["baseline"] = (self.base + "/v1/generations", json_ct, body)
                # What ASP.NET Core costs before the gateway does anything of its own (FINDINGS.md, item 20).
                targets["floor"] = (self.floor + "/v1/generations", json_ct, body)
            return targets
        kind = "done" if scenario == "status_done" else "busy"
        gid, up = self.reads["gateway"][kind]
        query = "/v2/video/generations?generation_id=" + urllib.parse.quote(up, safe="")
        targets = {"gateway": (self.gw + "/v1/generations/" + gid, [], None)}
        if self.args.baseline_gateway:
            targets["baseline"] = (self.base + "/v1/generations/" + self.reads["baseline"][kind][0], [], None)
        targets["nginx"] = (self.nginx + query, [], None)
        targets["direct"] = (self.sim + query, auth, None)
        return targets

    def pids(self):
        """The processes whose CPU time per request is recorded: the gateway, the previous head's and the floor."""
        pids = {"gateway": self.gateway.pid, "floor": self.floor_proc.pid}
        if self.args.baseline_gateway:
            pids["baseline"] = self.baseline.pid
        return pids

    def saturate(self, targets, connections, after=None):
        """Each target at saturation. The gateway and the baseline (--baseline) take turns in rounds, so a busy spell
        of the shared host falls on both; the others run once. CPU per request is each process's own (user + system)
        over the requests it answered. `after(target, result)` runs when a target's last round is done."""
        pids = self.pids()
        paired = [t for t in ("gateway", "baseline") if t in targets] if "baseline" in targets else []
        schedule = [(t, max(1, round(self.seconds / self.rounds))) for _ in range(self.rounds) for t in paired]
        schedule += [(t, self.seconds) for t in targets if t not in paired]
        runs = {t: [] for t in targets}
        results = {}
        for i, (target, seconds) in enumerate(schedule):
            url, headers, body = targets[target]
            ticks = cpu_ticks(pids[target]) if target in pids else None
            r = run_wrk(url, seconds, connections, headers, body)
            if ticks is not None:
                r["cpu_ticks"] = cpu_ticks(pids[target]) - ticks
            runs[target].append(r)
            if any(t == target for t, _ in schedule[i + 1:]):
                continue
            r = results[target] = saturation_rounds(runs[target])
            print(f"  saturation {target:8} {r['rps']:9.0f} rps  p50 {fmt(r['p50_ms'])} ms  p99 {fmt(r['p99_ms'])} ms"
                  f"  non-2xx {r['non_2xx']}"
                  + (f"  CPU {r['cpu_us_per_request']:.0f} us/request" if r.get("cpu_us_per_request") is not None else "")
                  + (f" ({len(runs[target])} rounds)" if len(runs[target]) > 1 else ""),
                  flush=True)
            if after:
                after(target, r)
        return {t: results[t] for t in targets}

    def scenario(self, name, title, connections, rates, near_saturation=True):
        print(f"bench: scenario {name}: {title}", flush=True)
        targets = self.targets(name)
        record = {"title": title, "saturation": {}, "fixed": {}}
        fresh = None
        if name == "big_create":
            # (d)'s memory in a gateway process of its own, started for it: the peak of the shared one depended on
            # what the scenarios before had grown its heap to (0.01 and 0.44 x the payload in two runs of one head).
            port = free_port()
            fresh = self.start_gateway("gateway-d", os.path.join(self.out, "gateway"), port)
            wait_ready(f"http://127.0.0.1:{port}/health/ready")
            targets["gateway"] = (f"http://127.0.0.1:{port}/v1/generations",) + targets["gateway"][1:]
            self.gateway, shared = fresh, self.gateway
        pid = self.gateway.pid
        # Warm-up (JIT, connection pools), not recorded.
        if name == "create":
            for target in ("gateway", "baseline"):
                if target in targets:
                    url, headers, body = targets[target]
                    run_wrk(url, self.gateway_warmup, connections, headers, body)
            url, headers, body = targets["floor"]
            run_wrk(url, self.floor_warmup, connections, headers, body)
        for target, (url, headers, body) in targets.items():
            run_wrk(url, self.warmup, connections, headers, body)

        if name == "status_busy":
            http("DELETE", self.sim + "/_simulator/requests")
            fetch_started = time.time()

        before = proc_status(pid)
        peak_reset = reset_peak(pid)

        def after(target, r):
            if target != "gateway":
                return
            # CPU the gateway spent per request: steadier than rps when other guests take the host's cores.
            if r.get("cpu_us_per_request") is not None:
                r["gateway_cpu_us_per_request"] = r["cpu_us_per_request"]
            if name == "status_busy":
                _, answer = http("GET", self.sim + "/_simulator/generations/fetch-count?generation_id="
                                 + urllib.parse.quote(self.busy_up, safe=""))
                elapsed = time.time() - fetch_started
                record["coalescing"] = {
                    "gateway_requests": r["requests"],
                    "upstream_fetches_from_gateway": answer["fetches"],
                    # A refresh is due once the interval has passed, so n intervals allow at most n + 1 fetches.
                    "refresh_intervals": math.floor(elapsed / 5.0) + 1,
                    "seconds": round(elapsed, 1),
                }
            status = proc_status(pid)
            record["gateway_memory"] = {
                "rss_before": before["VmRSS"], "peak": status["VmHWM"] if peak_reset else None,
                "rss_after": status["VmRSS"], "peak_is_since_start": not peak_reset,
                "fresh_process": fresh is not None,
            }

        record["saturation"] = self.saturate(targets, connections, after)
        if "baseline" in record["saturation"] and record["saturation"]["baseline"].get("cpu_us_per_request") is not None:
            record["saturation"]["baseline"]["gateway_cpu_us_per_request"] = record["saturation"]["baseline"]["cpu_us_per_request"]

        chosen = list(rates)
        if near_saturation:
            gateway_max = record["saturation"]["gateway"]["rps"]
            chosen.append(("near_saturation", max(10, round(gateway_max * 0.8, -1))))
        for label, rate in chosen:
            # (d) answers about 30 a second: its rounds need longer to hold enough answers (quick: 2 s each).
            seconds = self.seconds if name != "big_create" else max(self.seconds, 6)
            # Rounds of equal length, the targets taking turns, and the median round's percentiles: a stall of the
            # shared host then lands in a round or two of one target instead of deciding its p99 (FINDINGS.md, item 19).
            # The floor runs at 1,000 rps only: the gateway's near-saturation rate is far below the floor's own.
            # So does the baseline (--baseline): the comparison that matters is the two gateways at the same rate.
            paths = {t: v for t, v in targets.items() if t not in ("floor", "baseline") or label == "1000"}
            rounds = {target: [] for target in paths}
            for _ in range(self.rounds):
                for target, (url, headers, body) in paths.items():
                    rounds[target].append(run_paced(url, max(1, round(seconds / self.rounds)), rate, headers, body))
            record["fixed"][label] = {}
            for target, runs in rounds.items():
                record["fixed"][label][target] = r = median_round(runs)
                print(f"  {label:15} {target:8} offered {rate:6.0f}  got {r['rps']:8.0f} rps  p50 {r['p50_ms'] or 0:.2f} ms"
                      f"  p99 {r['p99_ms'] or 0:.2f} ms (rounds: {', '.join(fmt(x['p99_ms']) for x in runs)})"
                      f"  non-2xx {r['non_2xx']}", flush=True)
            fixed = record["fixed"][label]
            for via in VIAS:
                if via in fixed and fixed[via]["p99_ms"] is not None and fixed["direct"]["p99_ms"] is not None:
                    fixed[f"{via}_added_p99_ms"] = round(fixed[via]["p99_ms"] - fixed["direct"]["p99_ms"], 2)
                    fixed[f"{via}_added_p50_ms"] = round(fixed[via]["p50_ms"] - fixed["direct"]["p50_ms"], 2)

        if name == "big_create":
            mem = record["gateway_memory"]
            if mem["peak"] is not None:
                mem["per_request_over_payload"] = round(
                    (mem["peak"] - mem["rss_before"]) / (connections * self.big_bytes), 2)
            self.gateway = shared
            fresh.send_signal(signal.SIGTERM)
            fresh.wait(timeout=15)
        self.results["scenarios"][name] = record

    def run(self):
        host_before = host_cpu()
        only = set(self.args.only.split(",")) if self.args.only else None
        wanted = lambda name: only is None or name in only
        try:
            self.setup()
            self.results["payload_bytes"] = self.big_bytes
            if wanted("create"):
                self.scenario("create", "(a) create with a small valid body", 64, [("1000", 1000)])
            if wanted("status_done") or wanted("status_busy"):
                if wanted("create"):
                    self.restart_gateways("reads")
                self.prepare_reads()
            if wanted("status_done"):
                self.scenario("status_done", "(b) status of a terminal generation", 64, [("1000", 1000)])
            if wanted("status_busy"):
                self.scenario("status_busy", "(c) status of an in-progress generation, 256 concurrent pollers", 256,
                              [("1000", 1000)], near_saturation=False)
            if wanted("big_create"):
                self.scenario("big_create", "(d) create carrying a 7 MB base64 PNG, 4 at a time", 4, [])
            if wanted("range_reads"):
                if only is None or len(only) > 1:
                    self.restart_gateways("ranges")
                self.range_reads()
            if wanted("sse_fanout"):
                self.sse_fanout(self.args.sse)
            # Last: its generations stay in flight, and the worker refreshes them for the rest of the run.
            if wanted("inflight"):
                self.inflight_refresh(self.args.inflight)
            self.results["gateway_peak_since_start"] = proc_status(self.gateway.pid)["VmHWM"]
            host_after = host_cpu()
            self.results["host_steal_percent"] = round(
                100 * (host_after["steal"] - host_before["steal"]) / max(1, host_after["total"] - host_before["total"]), 1)
        finally:
            self.stop_all()
            for name in ["gateway", "baseline", "gateway-d", "simulator", "floor", "nginx-error"] + self.gateway_logs:
                src = os.path.join(self.work, f"{name}.log")
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(self.out, f"{name}.log"))
            shutil.rmtree(self.work, ignore_errors=True)


# ---- report ----------------------------------------------------------------------------------------------

def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.split("\n")[1].split()[1]
    dotnet = subprocess.run(["dotnet", "--version"], capture_output=True, text=True).stdout.strip()
    nginx = subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory": mem, "kernel": platform.release(), "dotnet_sdk": dotnet,
            "nginx": nginx.replace("nginx version: ", "")}


def fmt(value, digits=2):
    return "–" if value is None else f"{value:.{digits}f}"


def failures(results):
    """Answers that were not 2xx, or transport errors, per measurement: a figure with any is not a fair one."""
    found = []
    for name, record in results["scenarios"].items():
        runs = [("saturation", t, r) for t, r in record.get("saturation", {}).items()]
        runs += [(label, t, r) for label, fixed in record.get("fixed", {}).items() for t, r in fixed.items() if isinstance(r, dict)]
        for label, target, r in runs:
            bad = r.get("non_2xx", 0) + r.get("socket_errors", 0)
            if bad:
                found.append(f"{name} {label} {target}: {bad} of {r.get('requests', '?')}")
    return found


def summary(results):
    s = results["scenarios"]
    a, b, d = s["create"], s["status_done"], s["big_create"]
    return {
        "create_overhead_p99_ms": a["fixed"]["1000"].get("gateway_added_p99_ms"),
        "status_overhead_p99_ms": b["fixed"]["1000"].get("gateway_added_p99_ms"),
        "create_rps_vs_nginx": round(a["saturation"]["gateway"]["rps"] / a["saturation"]["nginx"]["rps"], 2),
        "status_rps_vs_nginx": round(b["saturation"]["gateway"]["rps"] / b["saturation"]["nginx"]["rps"], 2),
        "big_create_mem_ratio": d["gateway_memory"].get("per_request_over_payload"),
        "inflight_fetch_rate_vs_expected": s.get("inflight", {}).get("rate_vs_expected"),
        "inflight_cpu_us_per_refresh": s.get("inflight", {}).get("gateway_cpu_us_per_refresh"),
        "range_throughput_vs_nginx": s.get("range_reads", {}).get("throughput_vs_nginx"),
        "sse_change_p99_ms": s.get("sse_fanout", {}).get("change_p99_ms"),
        # Against the floor (bench/floor), ASP.NET Core forwarding creates with nothing else: targets 0.5 or more,
        # 2 or less, and 1 ms or less.
        "create_rps_vs_floor": ratio(a["saturation"]["gateway"].get("rps"), a["saturation"].get("floor", {}).get("rps")),
        "create_cpu_vs_floor": ratio(a["saturation"]["gateway"].get("cpu_us_per_request"),
                                     a["saturation"].get("floor", {}).get("cpu_us_per_request")),
        "create_overhead_vs_floor_p99_ms": difference(a["fixed"]["1000"]["gateway"].get("p99_ms"),
                                                      a["fixed"]["1000"].get("floor", {}).get("p99_ms")),
    }


def ratio(value, over):
    return round(value / over, 2) if value is not None and over else None


def difference(value, minus):
    return round(value - minus, 2) if value is not None and minus is not None else None


def chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, added = [], {via: [] for via in VIAS}
    for name, record in results["scenarios"].items():
        for rate, fixed in record.get("fixed", {}).items():
            short = record["title"].split(")")[0] + ")"
            offered = fixed["gateway"]["offered_rps"]
            labels.append(f"{short}\n{offered:,.0f} rps")
            for via in VIAS:
                added[via].append(fixed.get(f"{via}_added_p99_ms") or 0)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = range(len(labels))
    bars = {"gateway": ("gateway", "#3566a8"), "baseline": (f"baseline gateway ({results.get('baseline_ref', '')})", "#e0a030"),
            "floor": ("ASP.NET Core floor (creates only)", "#8fb3de"), "nginx": ("nginx (plain proxy)", "#9a9a9a")}
    shown = [via for via in VIAS if any(added[via])]
    width = 0.8 / max(1, len(shown))
    for n, via in enumerate(shown):
        label, color = bars[via]
        ax.bar([i + (n - (len(shown) - 1) / 2) * width for i in x], added[via], width, label=label, color=color)
    ax.axhline(2, color="#c0392b", linestyle="--", linewidth=1, label="target for (a), (b): 2 ms")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, fontsize=8)
    # Symmetric log: the 1,000 rps bars (a few ms) stay readable beside a near-saturation spike of a second.
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylabel("added p99 latency over direct (ms, log scale past ±1)")
    ax.set_title("Added p99 latency by scenario and offered rate (loopback, 2 cores shared)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(results, baseline, findings):
    m = results["machine"]
    s = results["scenarios"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `bench/run.sh` (do not edit by hand; the profile notes come from `bench/FINDINGS.md`).",
        f"Run: {results['when']}, {'quick' if results['quick'] else 'full'} mode "
        f"({s['create']['saturation']['gateway']['seconds']} s per measurement).",
        "",
        "## Machine",
        "",
        f"- {m['cpus']} cores: {m['cpu']}; {m['memory']} memory; Linux {m['kernel']}",
        f"- .NET SDK {m['dotnet_sdk']}; nginx {m['nginx']}; wrk from Debian's packages",
        "- Everything on one machine over loopback: the load generator, the gateway, nginx and the simulator share the 2 cores,",
        "  so absolute figures are low and the comparison between the paths is what counts.",
        f"- The machine is a virtual one on a shared host: during this run the hypervisor gave "
        f"{fmt(results.get('host_steal_percent'), 1)}% of its CPU time to other guests (steal). Steal moves rps and p99 from run",
        "  to run; the gateway's CPU time per request (last column) moves much less.",
        "",
        "## Setup",
        "",
        "- **upstream**: the simulator (`src/KlingGateway.Simulator`), published Release, `Simulator:Instant=true`:",
        "  answers at once, records nothing.",
        "- **gateway**: published Release, `ASPNETCORE_ENVIRONMENT=Production`, key from `AimlApi:ApiKeyFile`, `AimlApi:BaseUrl` at",
        "  the simulator, a fresh SQLite ledger, JSON request logs to a file. Creates go to `POST /v1/generations`; status reads",
        "  to `GET /v1/generations/{id}`. Every create goes on to be refreshed and its video kept in the background, so the",
        "  gateway (and the baseline) is started again with a fresh ledger after (a) and before (f): the backlog (a) leaves is",
        "  not counted against the status reads or the range reads, nor queued ahead of (f)'s video. (a) itself pays for the",
        "  background work of its own creates that falls inside its rounds.",
        "- **nginx**: a plain reverse proxy to the same simulator (keep-alive upstream pool of 64, adds the key header,",
        "  `worker_processes auto`, no access log); it proxies the simulator's own routes.",
        "- **floor** (creates only): `bench/floor`, the least an ASP.NET Core hop can cost: Kestrel, one minimal-API",
        "  endpoint and a pooled HttpClient forwarding the body as it came with the key added; no validation, ledger,",
        "  authentication, limits or logging. Published Release, run in Production like the gateway. Not a gateway: it",
        "  shows how much of the gap to nginx is the framework and how much is the gateway's own work.",
        "- **direct**: the simulator's own `POST /v2/video/generations` and `GET /v2/video/generations?generation_id=`.",
        "- **saturation**: wrk, 2 threads, a fixed number of connections, closed loop. **Fixed rate**: wrk, 1 thread, with",
        "  `bench/paced.lua`: requests start at Poisson arrival times at the offered rate (independent callers, as many",
        "  frontends polling are), on 50 ms worth of connections; latency is from each request's start. Each fixed rate",
        f"  runs as {results.get('fixed_rate_rounds', 3)} rounds of equal length, the paths taking turns, and the table shows each",
        "  percentile's median round, so a stall of the shared host in fewer than half the rounds does not decide a p99. (hey was used",
        "  before: its workers tick together, so it offered bursts, not a rate; see the findings, item 15. Debian has no",
        "  wrk2, and its `bombardier` is an unrelated game.)",
        "- **added latency**: p99 (or p50) through the gateway, the floor or nginx minus p99 (p50) direct, at the same offered rate.",
        "- **memory**: the gateway's peak RSS (VmHWM, reset with `clear_refs` before each scenario) while it is saturated;",
        "  for (d), (peak − RSS before) / (concurrent requests × body bytes).",
        "",
        "## Results",
        "",
        "| scenario | path | saturation rps | p50 ms | p99 ms | @1,000 rps p50 / p99 ms | near saturation: offered rps, p50 / p99 ms | CPU µs per request (gateways, floor) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, record in s.items():
        if name in ("inflight", "range_reads", "sse_fanout"):
            continue
        for target in [t for t in PATHS if t in record["saturation"]]:
            sat = record["saturation"][target]
            at1k = record["fixed"].get("1000", {}).get(target)
            near = record["fixed"].get("near_saturation", {}).get(target)
            lines.append(
                f"| {record['title'] if target == 'gateway' else ''} | {target} | {sat['rps']:.0f} | {fmt(sat['p50_ms'])} |"
                f" {fmt(sat['p99_ms'])} | {fmt(at1k['p50_ms']) + ' / ' + fmt(at1k['p99_ms']) if at1k else '–'} |"
                f" {str(near['offered_rps']) + ': ' + fmt(near['p50_ms']) + ' / ' + fmt(near['p99_ms']) if near else '–'} |"
                f" {fmt(sat.get('cpu_us_per_request', sat.get('gateway_cpu_us_per_request')), 0)} |")
    vias = [v for v in VIAS if any(v in fixed for record in s.values() for fixed in record.get("fixed", {}).values())]
    lines += ["", "### Added latency over direct (p99, ms)", "",
              "| scenario | offered rps |" + "".join(f" {via} p50 | {via} p99 |" for via in vias),
              "|---|---:|" + "---:|---:|" * len(vias)]
    for name, record in s.items():
        for rate, fixed in record.get("fixed", {}).items():
            lines.append(f"| {record['title']} | {fixed['gateway']['offered_rps']:.0f} |"
                         + "".join(f" {fmt(fixed.get(f'{via}_added_p50_ms'))} | {fmt(fixed.get(f'{via}_added_p99_ms'))} |"
                                   for via in vias))
    lines += ["", "![Added p99 latency by scenario](benchmark-added-latency.png)", "",
              "### Gateway memory", "", "| scenario | RSS before | peak RSS while saturated |", "|---|---:|---:|"]
    for name, record in s.items():
        if "gateway_memory" not in record:
            continue
        mem = record["gateway_memory"]
        lines.append(f"| {record['title']} | {mem['rss_before'] / 2**20:.0f} MB | "
                     f"{(mem['peak'] or 0) / 2**20:.0f} MB |")
    d = s["big_create"]["gateway_memory"]
    lines += ["", f"(d): body {results['payload_bytes'] / 1e6:.1f} MB, 4 concurrent creates: "
                  f"{fmt(d.get('per_request_over_payload'))} × the payload per concurrent request (target: at most 3), "
                  + ("measured in a gateway process started for (d) alone, after the same warm-up every run."
                     if d.get("fresh_process") else "measured in the gateway that ran the scenarios before it.")]
    c = s["status_busy"].get("coalescing")
    if c:
        lines += ["", f"(c) coalescing: {c['gateway_requests']} gateway status reads of one in-progress generation in "
                      f"{c['seconds']} s ({c['refresh_intervals']} refresh intervals of 5 s) caused "
                      f"{c['upstream_fetches_from_gateway']} upstream fetches; nginx and direct reach the upstream on every request."]
    e, f = s.get("inflight"), s.get("range_reads")
    if e or f:
        lines += ["", "### The generation lifecycle", ""]
    if e:
        spread = e["half_second_rates"] or {}
        lines += [f"(e) {e['in_flight']} generations in flight, nobody reading, {e['interval_s']:.0f} s refresh interval, "
                  f"{e['seconds']} s measured: {e['fetches_per_s']} upstream fetches a second (expected in-flight ÷ interval = "
                  f"{e['expected_per_s']:.0f}); per half second between {spread.get('min')} and {spread.get('max')} "
                  f"(stdev {spread.get('stdev')}); the gateway spent {fmt(e['gateway_cpu_us_per_refresh'], 0)} µs of CPU per "
                  f"refresh ({fmt(e['gateway_cpu_percent'], 1)}% of a core)."]
    if f:
        lines += ["", "| (f) 64 connections, random 1 MiB ranges of a 20 MB stored video | ranges/s | MB/s | p50 ms | p99 ms | gateway CPU µs per range |",
                  "|---|---:|---:|---:|---:|---:|"]
        for target, r in f["saturation"].items():
            lines.append(f"| {target} | {r['rps']:.0f} | {r['bytes_per_s'] / 1e6:.1f} | {fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} |"
                         f" {fmt(r.get('gateway_cpu_us_per_request'), 0)} |")
    g = s.get("sse_fanout")
    if g:
        lines += ["", "### Event streams", "",
                  f"(g) {g['opened']} of {g['subscribers']} subscribers of one generation held open on one gateway ({g['failed']} refused"
                  f" or failed): from the gateway recording a status change to each subscriber's event, by change:", "",
                  "| event | subscribers reached | p50 ms | p90 ms | p99 ms | last subscriber ms |", "|---|---:|---:|---:|---:|---:|"]
        for name, e in g["events"].items():
            lines.append(f"| {name} | {e['subscribers_reached']} | {e['p50_ms']} | {e['p90_ms']} | {e['p99_ms']} | {e['max_ms']} |")
        lines += ["", f"The gateway's RSS grew by {g['rss_per_1000_subscribers'] / 2**20:.1f} MB per 1,000 open streams "
                      f"({g['rss_before'] / 2**20:.0f} MB before, {g['rss_connected'] / 2**20:.0f} MB with them open). Upstream "
                      f"fetches of the followed generation: {g['upstream_fetches_followed']}; of one created with it that nobody "
                      f"followed: {g['upstream_fetches_alone']}. (`generation.video_stored` is measured from the success, so it "
                      "includes the download.)"]
    if results.get("baseline_ref"):
        lines += ["", f"### This head against {results['baseline_ref']}, measured in turns", "",
                  f"`--baseline {results['baseline_ref']}` published that ref's gateway from a temporary git worktree and ran it"
                  " beside this one (same settings, a ledger of its own). At saturation the two took turns in rounds of equal"
                  " length; at 1,000 rps they took turns with the other paths. CPU is each process's own per request.", "",
                  "| scenario | saturation rps: baseline / this head | CPU µs per request: baseline / this head |"
                  " @1,000 rps p50 ms: baseline / this head | @1,000 rps p99 ms: baseline / this head |",
                  "|---|---:|---:|---:|---:|"]
        for name, record in s.items():
            sat, at1k = record.get("saturation", {}), record.get("fixed", {}).get("1000", {})
            if "baseline" not in sat:
                continue
            pair = lambda get, digits: " / ".join(fmt(get(t), digits) for t in ("baseline", "gateway"))
            lines.append(f"| {record['title']} | {pair(lambda t: sat[t]['rps'], 0)} |"
                         f" {pair(lambda t: sat[t].get('cpu_us_per_request'), 0)} |"
                         f" {pair(lambda t: at1k.get(t, {}).get('p50_ms'), 2)} | {pair(lambda t: at1k.get(t, {}).get('p99_ms'), 2)} |")
    sm = results["summary"]
    lines += ["", "## Targets", "",
              "| target | measured | met |", "|---|---:|---|",
              f"| (a) added p99 at 1,000 rps ≤ 2 ms | {fmt(sm['create_overhead_p99_ms'])} ms | {yes(sm['create_overhead_p99_ms'], 2, le=True)} |",
              f"| (b) added p99 at 1,000 rps ≤ 2 ms | {fmt(sm['status_overhead_p99_ms'])} ms | {yes(sm['status_overhead_p99_ms'], 2, le=True)} |",
              f"| (a) throughput ≥ 60% of nginx | {fmt(sm['create_rps_vs_nginx'])} × | {yes(sm['create_rps_vs_nginx'], 0.6)} |",
              floor_row(s["create"]),
              f"| (a) throughput ≥ 50% of the floor's | {fmt(sm.get('create_rps_vs_floor'))} × | {yes(sm.get('create_rps_vs_floor'), 0.5)} |",
              f"| (a) CPU per create ≤ 2 × the floor's | {fmt(sm.get('create_cpu_vs_floor'))} × | {yes(sm.get('create_cpu_vs_floor'), 2, le=True)} |",
              f"| (a) p99 at 1,000 rps ≤ the floor's + 1 ms | {fmt(sm.get('create_overhead_vs_floor_p99_ms'))} ms above | "
              f"{yes(sm.get('create_overhead_vs_floor_p99_ms'), 1, le=True)} |",
              f"| (b) throughput ≥ nginx | {fmt(sm['status_rps_vs_nginx'])} × | {yes(sm['status_rps_vs_nginx'], 1.0)} |",
              f"| (d) memory per concurrent request ≤ 3 × payload | {fmt(sm['big_create_mem_ratio'])} × | {yes(sm['big_create_mem_ratio'], 3, le=True)} |",
              f"| (c) upstream fetches per interval = 1 | {c['upstream_fetches_from_gateway']} in {c['refresh_intervals']} intervals | "
              f"{'yes' if c['upstream_fetches_from_gateway'] <= c['refresh_intervals'] else 'no'} |" if c else "",
              f"| (e) fetch rate = in-flight ÷ interval (within 10%) | {fmt(sm.get('inflight_fetch_rate_vs_expected'))} × | "
              f"{yes(abs(1 - sm['inflight_fetch_rate_vs_expected']), 0.1, le=True) if sm.get('inflight_fetch_rate_vs_expected') is not None else '–'} |",
              f"| (f) range-read throughput ≥ 80% of nginx | {fmt(sm.get('range_throughput_vs_nginx'))} × | {yes(sm.get('range_throughput_vs_nginx'), 0.8)} |",
              f"| (g) status change to subscriber, p99 < {SSE_TARGET_P99_MS} ms | {fmt(sm.get('sse_change_p99_ms'), 0)} ms | "
              f"{yes(sm.get('sse_change_p99_ms'), SSE_TARGET_P99_MS, le=True)} |",
              ]
    if results.get("failures"):
        lines += ["", "**Answers that were not 2xx (or transport errors) in this run**, which make those figures unfair:", ""]
        lines += [f"- {f}" for f in results["failures"]]
    if baseline:
        lines += ["", "## Before and after the hot-path work", "",
                  f"Before: `docs/benchmark-baseline.json`, measured with this same script on the same machine before any "
                  f"gateway change ({baseline['when']}, {'quick' if baseline['quick'] else 'full'} mode). After: this run.", "",
                  "| figure | before | after |", "|---|---:|---:|"]
        rows = [
            ("(a) create, gateway saturation rps", lambda r: r["scenarios"]["create"]["saturation"]["gateway"]["rps"], 0),
            ("(a) create, added p99 at 1,000 rps (ms)", lambda r: r["summary"]["create_overhead_p99_ms"], 2),
            ("(a) create, gateway rps ÷ nginx rps", lambda r: r["summary"]["create_rps_vs_nginx"], 2),
            ("(a) create, gateway CPU per request (µs)",
             lambda r: r["scenarios"]["create"]["saturation"]["gateway"]["gateway_cpu_us_per_request"], 0),
            ("(b) terminal status, gateway saturation rps", lambda r: r["scenarios"]["status_done"]["saturation"]["gateway"]["rps"], 0),
            ("(b) terminal status, added p99 at 1,000 rps (ms)", lambda r: r["summary"]["status_overhead_p99_ms"], 2),
            ("(b) terminal status, gateway rps ÷ nginx rps", lambda r: r["summary"]["status_rps_vs_nginx"], 2),
            ("(c) in-progress status, gateway saturation rps", lambda r: r["scenarios"]["status_busy"]["saturation"]["gateway"]["rps"], 0),
            ("(d) 7 MB create, gateway saturation rps", lambda r: r["scenarios"]["big_create"]["saturation"]["gateway"]["rps"], 1),
            ("(d) 7 MB create, gateway p99 (ms)", lambda r: r["scenarios"]["big_create"]["saturation"]["gateway"]["p99_ms"], 1),
            ("(d) memory per concurrent request ÷ payload", lambda r: r["summary"]["big_create_mem_ratio"], 2),
        ]
        for label, get, digits in rows:
            try:
                before, after = get(baseline), get(results)
            except (KeyError, TypeError):
                continue
            lines.append(f"| {label} | {fmt(before, digits)} | {fmt(after, digits)} |")
    if findings:
        lines += ["", findings.strip()]
    lines += ["", "## Reproduce", "",
              "```bash", "bench/run.sh --quick   # under 3 minutes", "bench/run.sh           # about 10 minutes",
              "bench/run.sh --baseline main   # also main's gateway, measured in turns with this one", "```", "",
              "As root on Debian it installs nginx, wrk and python3-matplotlib when they are missing. It publishes the",
              "gateway, the simulator and the floor to `artifacts/bench/`, keeps their logs there, and rewrites this file,",
              "`docs/benchmark-added-latency.png` and `docs/benchmark-results.json`. All traffic stays on 127.0.0.1.",
              "To make a run the new \"before\", copy `docs/benchmark-results.json` to `docs/benchmark-baseline.json`.", "",
              "The last line of a run:", "", "```", summary_line(results["summary"]), "```", ""]
    return "\n".join(lines)


def floor_row(create):
    """The floor's own figures for (a), for reference: what the targets leave the gateway's work once ASP.NET Core is paid."""
    sat, fixed = create["saturation"], create["fixed"].get("1000", {})
    if "floor" not in sat:
        return ""
    return (f"| (a) for reference, the ASP.NET Core floor: rps ÷ nginx; added p99 at 1,000 rps |"
            f" {sat['floor']['rps'] / sat['nginx']['rps']:.2f} ×; {fmt(fixed.get('floor_added_p99_ms'))} ms | – |")


def yes(value, bound, le=False):
    if value is None:
        return "–"
    return "yes" if (value <= bound if le else value >= bound) else "no"


def summary_line(sm):
    return ("bench: " + " ".join(f"{k}={'n/a' if v is None else v}" for k, v in sm.items()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report-only", action="store_true", help="rewrite the docs from docs/benchmark-results.json")
    parser.add_argument("--only", help="a comma list of scenarios to run (create, status_done, status_busy, big_create, "
                                       "range_reads, sse_fanout, inflight); the results go to OUT/bench-partial.json, the docs stay")
    parser.add_argument("--seconds", type=int, help="seconds per measurement, instead of the mode's")
    parser.add_argument("--inflight", type=int, default=1000, help="generations in flight for the inflight scenario")
    parser.add_argument("--sse", type=int, default=10000, help="event-stream subscribers for the sse_fanout scenario")
    parser.add_argument("--baseline-gateway", help="a published gateway folder to measure in turns with this one "
                                                   "(bench/run.sh --baseline REF publishes it)")
    parser.add_argument("--baseline-ref", help="the git ref the baseline gateway was published from, for the report")
    args = parser.parse_args()
    # Each subscriber is a socket in the load client and one in the gateway, and their processes inherit this limit.
    raise_fd_limit(2 * args.sse + 4096)
    docs = os.path.join(ROOT, "docs")
    os.makedirs(docs, exist_ok=True)
    results_path = os.path.join(docs, "benchmark-results.json")

    if args.report_only:
        with open(results_path) as f:
            results = json.load(f)
    elif args.only:
        # A partial run (a smoke run of some scenarios): printed and kept beside the builds, never the docs' figures.
        bench = Bench(args)
        bench.run()
        partial = os.path.join(os.path.abspath(args.out), "bench-partial.json")
        with open(partial, "w") as f:
            json.dump(bench.results, f, indent=1)
        print(f"bench: partial run of {args.only} written to {partial}")
        return 0
    else:
        bench = Bench(args)
        bench.run()
        results = bench.results
        results["when"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        results["machine"] = machine()
        results["summary"] = summary(results)
        results["failures"] = failures(results)
        with open(results_path, "w") as f:
            json.dump(results, f, indent=1)

    baseline_path = os.path.join(docs, "benchmark-baseline.json")
    baseline = json.load(open(baseline_path)) if os.path.exists(baseline_path) else None
    findings_path = os.path.join(ROOT, "bench", "FINDINGS.md")
    findings = open(findings_path).read() if os.path.exists(findings_path) else ""
    chart(results, os.path.join(docs, "benchmark-added-latency.png"))
    with open(os.path.join(docs, "BENCHMARKS.md"), "w") as f:
        f.write(markdown(results, baseline, findings))
    for failure in results.get("failures", []):
        print(f"bench: warning: not all answers were 2xx: {failure}", file=sys.stderr)
    print(summary_line(results["summary"]))


if __name__ == "__main__":
    sys.exit(main())
