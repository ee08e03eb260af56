#!/usr/bin/env python3
"""Drives and reads the kill -9 check of .ci/crash-smoke.sh (standard library only).

  crash_probe.py fire GATEWAY CLIENT_KEY COUNT KEYED_FILE
      Sends COUNT creates at once, in four kinds by index: 0 the upstream starts (and bills) it but its answer is
      delayed, so a kill leaves the gateway without it; 1 the upstream delays before starting, so a kill abandons it
      (a failed, free row in its usage log); 2 as 1, but the upstream's log never shows it; 3 answered at once. The
      first ten of kind 0 carry an Idempotency-Key; their keys and bodies go to KEYED_FILE. Returns once every request
      has an answer or an error (the kill gives the hanging ones theirs).
  crash_probe.py settle GATEWAY CLIENT_KEY SIMULATOR SIMULATOR_KEY TIMEOUT_SECONDS
      Reads the client's generations until none is queued or processing and none has billing unknown (reading each
      unfinished one, which refreshes it from the upstream), then prints one JSON summary: counts by status, error code
      and billing, the billing each interrupted create should have by the simulator's usage log and how many differ,
      and /v1/usage. Exits 1 if the timeout passes first (the summary is printed anyway).
  crash_probe.py retry-keyed GATEWAY CLIENT_KEY KEYED_FILE
      Sends the first keyed create again, with its key; prints the status and the problem's code and generation_id.
"""
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

MODEL = "kling-video/v1/pro/image-to-video"
IMAGE = "https://raw.githubusercontent.com/aimlapi/api-docs/main/reference-files/mona_lisa_extended.jpg"
KINDS = ["answer-delay=600", "create-delay=600", "create-delay=600,log=omit", "queued=0,generating=0"]


def call(method, url, headers=None, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
            return response.status, json.loads(text) if text else None, dict(response.headers)
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        return error.code, json.loads(text) if text else None, dict(error.headers)


def body_for(index):
    return {"model": MODEL, "image_url": IMAGE, "duration": "5",
            "prompt": f"crash probe {index} [sim:{KINDS[index % 4]}]"}


def key_for(index):
    return f"crash-key-{index}" if index % 4 == 0 and index < 40 else None


def fire(gateway, key, count, keyed_file):
    with open(keyed_file, "w") as out:
        json.dump([{"key": key_for(i), "body": body_for(i)} for i in range(count) if key_for(i)], out)
    results = {}

    def send(index):
        headers = {"X-Api-Key": key}
        body = body_for(index)
        if key_for(index):
            headers["Idempotency-Key"] = key_for(index)
        try:
            status, answer, _ = call("POST", gateway + "/v1/generations", headers, body, timeout=120)
            results[index] = status
        except Exception as error:  # the kill: a reset connection, a refused one, a timeout
            results[index] = type(error).__name__

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answered = sum(1 for r in results.values() if r == 202)
    print(json.dumps({"sent": count, "answered_202": answered, "no_answer": count - answered}))


def generations(gateway, key):
    items, cursor = [], None
    while True:
        query = {"limit": "100"}
        if cursor:
            query["cursor"] = cursor
        status, page, _ = call("GET", gateway + "/v1/generations?" + urllib.parse.urlencode(query), {"X-Api-Key": key})
        if status != 200:
            raise RuntimeError(f"list answered {status}: {page}")
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def usage_log(simulator, simulator_key):
    rows, offset = [], 0
    while True:
        status, page, _ = call("GET", f"{simulator}/v2/logs?period=24h&limit=100&offset={offset}",
                               {"Authorization": f"Bearer {simulator_key}"})
        if status != 200:
            raise RuntimeError(f"the simulator's usage log answered {status}")
        rows += page["data"]
        offset += len(page["data"])
        if not page["pagination"]["has_more"] or not page["data"]:
            return rows


def summarize(gateway, key, simulator, simulator_key):
    items = generations(gateway, key)
    log = usage_log(simulator, simulator_key)
    billed_ids = {r["client_request_id"] for r in log if r["status"] == "succeeded" and r["client_request_id"]}
    interrupted = [g for g in items if (g.get("error") or {}).get("code") == "interrupted"]
    expected = {g["id"]: ("billed" if g["id"].replace("_", ".") in billed_ids else "not_billed") for g in interrupted}
    _, usage, _ = call("GET", gateway + "/v1/usage", {"X-Api-Key": key})
    count = lambda values: {v: values.count(v) for v in sorted(set(values))}
    return {
        "generations": len(items),
        "by_status": count([g["status"] for g in items]),
        "by_error_code": count([(g.get("error") or {}).get("code", "none") for g in items]),
        "interrupted": len(interrupted),
        "interrupted_by_billing": count([g.get("billing", "absent") for g in interrupted]),
        "billing_unknown": sum(1 for g in items if g.get("billing") == "unknown"),
        "billing_settled": sum(1 for g in items if g.get("billing") in ("billed", "not_billed")),
        "unfinished": sum(1 for g in items if g["status"] in ("queued", "processing")),
        "billing_differs_from_usage_log": sum(1 for g in interrupted if g.get("billing") != expected[g["id"]]),
        "expected_billed_by_usage_log": sum(1 for v in expected.values() if v == "billed"),
        "in_flight": usage["in_flight"],
        "video_seconds_today": usage["today"]["video_seconds"],
        "charged_generations_today": usage["today"]["generations"],
    }


def settle(gateway, key, simulator, simulator_key, timeout):
    started = time.monotonic()
    while True:
        for generation in generations(gateway, key):
            if generation["status"] in ("queued", "processing"):
                call("GET", f"{gateway}/v1/generations/{generation['id']}", {"X-Api-Key": key})
        summary = summarize(gateway, key, simulator, simulator_key)
        summary["seconds_after_restart"] = round(time.monotonic() - started, 1)
        done = summary["unfinished"] == 0 and summary["billing_unknown"] == 0
        if done or time.monotonic() - started > timeout:
            print(json.dumps(summary))
            return 0 if done else 1
        time.sleep(1)


def retry_keyed(gateway, key, keyed_file):
    with open(keyed_file) as source:
        first = json.load(source)[0]
    status, problem, headers = call("POST", gateway + "/v1/generations",
                                    {"X-Api-Key": key, "Idempotency-Key": first["key"]}, first["body"])
    print(json.dumps({"status": status, "code": (problem or {}).get("code"),
                      "generation_id": (problem or {}).get("generation_id"),
                      "replayed": headers.get("Idempotent-Replayed")}))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "fire":
        fire(args[0].rstrip("/"), args[1], int(args[2]), args[3])
    elif command == "settle":
        sys.exit(settle(args[0].rstrip("/"), args[1], args[2].rstrip("/"), args[3], float(args[4])))
    elif command == "retry-keyed":
        retry_keyed(args[0].rstrip("/"), args[1], args[2])
    else:
        sys.exit(f"unknown command {command}")
