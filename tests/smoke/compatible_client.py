#!/usr/bin/env python3
"""A client written for the AI/ML API, pointed at the gateway by its base URL alone.

It follows the upstream docs' own client flow for Kling image-to-video: create on a route with a
placeholder key, read `id`, poll with `generation_id` while the status is queued or generating, then
read `video.url`. Usage: compatible_client.py BASE_URL (for example http://127.0.0.1:5000).
"""
import sys
import time

import requests

BASE = sys.argv[1].rstrip("/") + "/v2"
HEADERS = {"Authorization": "Bearer <YOUR_AIMLAPI_KEY>"}
CASES = [
    ("/video/generations", "kling-video/v1/standard/image-to-video"),
    ("/video/generations", "kling-video/v1/pro/image-to-video"),
    ("/generate/video/kling/generation", "klingai/v2-master-image-to-video"),
    ("/generate/video/kling/generation", "kling-video/v2.1/standard/image-to-video"),
    ("/generate/video/kling/generation", "kling-video/v2.1/pro/image-to-video"),
]


def run(route, model):
    created = requests.post(
        BASE + route,
        headers=HEADERS,
        json={
            "model": model,
            "prompt": "Mona Lisa puts on glasses with her hands.",
            "image_url": "https://raw.githubusercontent.com/aimlapi/api-docs/main/reference-files/mona_lisa_extended.jpg",
            "duration": "5",
        },
        timeout=30,
    )
    if created.status_code >= 400:
        raise SystemExit(f"{model}: create answered {created.status_code}: {created.text}")
    gen_id = created.json().get("id")
    deadline = time.time() + 120
    while time.time() < deadline:
        data = requests.get(BASE + route, params={"generation_id": gen_id},
                            headers={**HEADERS, "Content-Type": "application/json"}, timeout=30).json()
        if data.get("status") in ["queued", "generating"]:
            time.sleep(1)
            continue
        if data.get("status") != "completed":
            raise SystemExit(f"{model}: ended {data}")
        video = requests.get(data["video"]["url"], timeout=30)
        if video.status_code != 200 or video.headers.get("content-type") != "video/mp4":
            raise SystemExit(f"{model}: video url answered {video.status_code} {video.headers.get('content-type')}")
        print(f"ok {model} via {route}: {gen_id} completed, {len(video.content)} bytes of video/mp4")
        return
    raise SystemExit(f"{model}: not completed in time")


for route, model in CASES:
    run(route, model)
