"""Hostile traffic against a running sidecar, beside the normal load `driftwatch load` drives
(benches/hostile_soak.sh runs both). Each class of issue 18 has a worker, looping until the deadline:

- slowloris: keeps up to --slow-connections sockets sending a request head one byte at a time;
- stalled bodies: heads announcing a 1 MB body, 100 bytes sent, then nothing;
- amplification: bodies just under max_body_bytes in the costliest decode shape (one-character
  values), several at once, so the decode budget is what stops them (429 memory_budget);
- absurd timestamps: series with spacings down to 1e-300 s and magnitudes up to 1e300, and many
  series names at once (max_series);
- garbage: random bytes, deep nesting, truncated JSON, bad query strings.

Meanwhile a probe GETs /healthz every 100 ms on a new connection (2 s timeout) and /metrics every
second, and /proc/<pid>/status is sampled every 200 ms. Prints one JSON summary: per class the
responses by status, probe latency and failures, peak RSS. Standard library only."""

import argparse
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

parser = argparse.ArgumentParser()
parser.add_argument("--target", default="127.0.0.1:9300")
parser.add_argument("--model", default="hostile")
parser.add_argument("--duration", type=float, default=60)
parser.add_argument("--pid", type=int)
parser.add_argument("--max-body-bytes", type=int, default=1 << 20)
parser.add_argument("--slow-connections", type=int, default=400)
parser.add_argument("--output")
args = parser.parse_args()
host, port = args.target.rsplit(":", 1)
port = int(port)
deadline = time.monotonic() + args.duration
lock = threading.Lock()
statuses = {k: Counter() for k in ["slowloris", "stalled_body", "amplification", "timestamps", "garbage"]}
probe_ms, probe_failures, scrape_ms, scrape_failures, rss = [], [], [], 0, []


def count(kind, status):
    with lock:
        statuses[kind][str(status)] += 1


def post(kind, path, body, content_type="application/json", timeout=60):
    req = urllib.request.Request(f"http://{args.target}{path}", data=body, method="POST")
    req.add_header("content-type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            count(kind, r.status)
    except urllib.error.HTTPError as e:
        e.read()
        count(kind, e.code)
    except OSError as e:
        count(kind, type(e).__name__)


def slowloris():
    socks = []
    while time.monotonic() < deadline:
        while len(socks) < args.slow_connections:
            try:
                s = socket.create_connection((host, port), timeout=2)
                s.sendall(b"POST /ingest?model=hostile HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
            except OSError as e:
                count("slowloris", "connect_" + type(e).__name__)
                break
        alive = []
        for s in socks:
            try:
                s.sendall(b"X")
                alive.append(s)
            except OSError:
                count("slowloris", "closed_by_server")
                s.close()
        socks = alive
        time.sleep(1)
    for s in socks:
        s.close()


def stalled_bodies():
    socks = []
    while time.monotonic() < deadline:
        while len(socks) < 50:
            try:
                s = socket.create_connection((host, port), timeout=2)
                s.sendall(
                    b"POST /ingest?model=hostile HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                    b"content-length: 1000000\r\n\r\n" + b'{"features":{"plan":[' + b'"a",' * 20
                )
                s.setblocking(False)
                socks.append(s)
            except OSError as e:
                count("stalled_body", "connect_" + type(e).__name__)
                break
        alive = []
        for s in socks:
            try:
                data = s.recv(4096)
                if data:
                    count("stalled_body", data.split(b" ")[1].decode() if data.startswith(b"HTTP/") else "bytes")
                else:
                    count("stalled_body", "closed_by_server")
                s.close()
            except BlockingIOError:
                alive.append(s)
            except OSError:
                count("stalled_body", "closed_by_server")
                s.close()
        socks = alive
        time.sleep(0.5)
    for s in socks:
        s.close()


def amplification():
    # One-character categories as a column: the shape with the highest decode cost per body byte.
    n = (args.max_body_bytes - 64) // 4
    body = (json.dumps({"model": args.model})[:-1] + ',"features":{"plan":[' + ",".join(['"b"'] * n) + "]}}").encode()
    assert len(body) <= args.max_body_bytes, len(body)
    while time.monotonic() < deadline:
        post("amplification", "/ingest", body)


def timestamps():
    rng = random.Random(1)
    i = 0
    while time.monotonic() < deadline:
        i += 1
        kind = i % 4
        if kind == 0:
            ts = [1e-300 * k for k in range(1, 200)]
        elif kind == 1:
            ts = [0.0, 1e11]
        elif kind == 2:
            ts = [0.0, 1e300]
        else:
            ts = sorted(rng.uniform(0, 1e11) for _ in range(100))
        series = {f"s{(i * 7 + k) % 500}": {"timestamps": ts, "values": [rng.random() for _ in ts]} for k in range(3)}
        post("timestamps", "/ingest", json.dumps({"model": args.model, "series": series}).encode())


def garbage():
    rng = random.Random(2)
    shapes = [
        lambda: bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096))),
        lambda: b"[" * 200_000,
        lambda: b'{"model":"hostile","features":{"age":[1,2',
        lambda: b'{"model":"hostile","features":{"age":[1e400]}}',
    ]
    paths = ["/ingest", "/ingest?model=hostile&model=demo-churn", "/ingest?model=%FF%FE"]
    while time.monotonic() < deadline:
        post("garbage", rng.choice(paths), rng.choice(shapes)())


def probe():
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://{args.target}/healthz", timeout=2) as r:
                r.read()
                ok = r.status == 200
        except OSError:
            ok = False
        ms = (time.monotonic() - t0) * 1000
        with lock:
            (probe_ms if ok else probe_failures).append(ms)
        time.sleep(0.1)


def scrape():
    global scrape_failures
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://{args.target}/metrics", timeout=5) as r:
                r.read()
            scrape_ms.append((time.monotonic() - t0) * 1000)
        except OSError:
            scrape_failures += 1
        time.sleep(1)


def sample_rss():
    while args.pid and time.monotonic() < deadline:
        with open(f"/proc/{args.pid}/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        rss.append(kb / 1024)
        time.sleep(0.2)


def pct(xs, q):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 2) if xs else None


workers = [slowloris, stalled_bodies, amplification, amplification, amplification, timestamps, garbage, probe, scrape]
threads = [threading.Thread(target=w, daemon=True) for w in workers + [sample_rss]]
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=args.duration + 120)
summary = {
    "duration_s": args.duration,
    "responses": {k: dict(sorted(v.items())) for k, v in statuses.items()},
    "healthz": {
        "ok": len(probe_ms),
        "failed": len(probe_failures),
        "p50_ms": pct(probe_ms, 0.5),
        "p99_ms": pct(probe_ms, 0.99),
        "max_ms": pct(probe_ms, 1.0),
    },
    "metrics_scrape": {"ok": len(scrape_ms), "failed": scrape_failures, "p50_ms": pct(scrape_ms, 0.5), "max_ms": pct(scrape_ms, 1.0)},
    "rss_mib": {"max": pct(rss, 1.0), "p50": pct(rss, 0.5), "end": round(rss[-1], 2) if rss else None},
}
text = json.dumps(summary, indent=2)
print(text)
if args.output:
    with open(args.output, "w") as f:
        f.write(text + "\n")
