"""A heavy request and light ones together: photo searches sent one after another while one
`POST /embed/image` of N huge PNGs runs. Reports the heavy request's time and the searches'
p50/p99/max (the service's target: p99 < 1 s). Measures, never asserts.

    python -m benchmarks.serve_heavy BUNDLE INDEX PHOTO_FOLDER [--images 5] [--side 6300] [--out DIR]
"""
from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from benchmarks.serve import ServeBenchConfig, load_queries, start_service, stop_service
from seje_sdk.io import write_json


def flat_png(side: int, shade: int) -> bytes:
    """A side x side PNG of one colour: a few KB to send, side * side pixels to decode."""
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (shade, 90, 30)).save(buf, format="PNG")
    return buf.getvalue()


def run_heavy_probe(bundle: str, index: str, photos_from: str, images: int = 5, side: int = 6300) -> dict[str, Any]:
    """Start `seje serve`, send the heavy request, search one photo after another until it is answered."""
    heavy = [("images", (f"big{i}.png", flat_png(side, i), "image/png")) for i in range(images)]
    photos = load_queries(photos_from, "image", 64)
    live = tempfile.mkdtemp(prefix="seje-probe-live-")  # the served index is never written to
    proc, url = start_service(bundle, index, ServeBenchConfig(), 32, 5.0, extra=("--live-dir", live))
    latencies, codes = [], {}
    try:
        with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=url, timeout=300) as client:
            start = time.monotonic()
            big = pool.submit(lambda: (client.post("/embed/image", files=heavy), time.monotonic()))
            time.sleep(0.5)
            n = 0
            while not big.done():
                name, data = photos[n % len(photos)]
                t0 = time.monotonic()
                code = client.post("/search/image", files={"image": (name, data, "image/jpeg")}).status_code
                latencies.append(time.monotonic() - t0)
                codes[str(code)] = codes.get(str(code), 0) + 1
                n += 1
            res, end = big.result()
    finally:
        stop_service(proc)
        shutil.rmtree(live, ignore_errors=True)
    ms = np.array(latencies) * 1000.0
    return {"heavy": {"images": images, "side": side, "status": res.status_code, "seconds": round(end - start, 2)},
            "light": {"count": len(ms), "statuses": codes, "p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
                      "p99_ms": round(float(np.percentile(ms, 99)), 1) if len(ms) else None,
                      "max_ms": round(float(ms.max()), 1) if len(ms) else None}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("index")
    parser.add_argument("photos")
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--side", type=int, default=6300)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    from benchmarks.environment import capture_environment

    report = run_heavy_probe(args.bundle, args.index, args.photos, args.images, args.side)
    report.update(command="python -m benchmarks.serve_heavy " + " ".join(sys.argv[1:]), environment=capture_environment())
    write_json(Path(args.out) / "serve_heavy.json", report)
    print(report["heavy"], report["light"])


if __name__ == "__main__":
    main()
