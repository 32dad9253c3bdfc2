"""Load test of the add-in server as on the last day of a call: many Validate presses, some hostile.

    python benchmarks/addin_load.py [--concurrency 50] [--requests 500] [--hostile 2]

Starts ``uvicorn addin.server:create_app --factory`` (one worker) on 127.0.0.1 with a free port, in
a subprocess, then with httpx + asyncio sends ``--requests`` Validate calls on a real sample
(nexus-ytec-youth-2025__sightseeing-and-souvenirs.xlsx), ``--concurrency`` at a time:
  alone:    nothing else;
  hostile:  while ``--hostile`` clients per kind keep a hostile payload in flight, each sent again
            when it is answered (at most every ``--hostile-interval`` s): a workbook with 100 budget
            lines of 32,767 characters (built from the template with pipeline.fill.fill_template;
            ASCII-heavy text, ~3.8 MB, so it reaches the engine), the same in Japanese (~9 MB,
            refused by size) and a payload claiming 1,000,000 rows x 40 columns. They are sent from
            a second process, so that their uploads do not stall the client measuring the normal calls.
The two runs alternate ``--rounds`` times (the machine may be shared: drift then hits both alike).
Prints throughput and p50/p95 latency of the normal calls for each run, what the hostile calls got,
the medians over the rounds, and on its last line the ratio of the median p95s, p95_hostile /
p95_alone (target <= 1.5). Loopback only, bounded loops (a deadline and a cap per client); the
server and the sender are stopped at the end.
Reference (issue #10, the old server, one worker, 2 cores): one Validate ~7 ms; 50 concurrent
168 requests/s, p50 290 ms, p95 329 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

import addin  # noqa: E402,F401  (first: sets the xlwings licence key before xlwings is imported)
from addin.officejs_payload import payload_from_file  # noqa: E402
from pipeline.fill import fill_template  # noqa: E402
from pipeline.resources import samples_dir  # noqa: E402
from pipeline.samples import load_scenarios  # noqa: E402
from pipeline.workbook import column_letter, split_cell  # noqa: E402

SAMPLE = "nexus-ytec-youth-2025__sightseeing-and-souvenirs.xlsx"
PACK = "nexus-ytec-youth-2025"
CELL_MAX = 32_767
URL = "/xlwings/custom-scripts-call/validate"
JSON = {"Content-Type": "application/json"}
DEADLINE_SECONDS = 300.0       # a run that has not finished by then is stopped and reported as such
HOSTILE_CAP = 2_000            # hostile sends per client, at most


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XLWINGS_LICENSE_KEY": os.environ.get("XLWINGS_LICENSE_KEY", "noncommercial"),
           "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "addin.server:create_app", "--factory",
                                 "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                                 "--log-level", "warning", "--timeout-keep-alive", "60"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/xlwings/custom-scripts-meta.json", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"the server did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)


def _cell(unit: str) -> str:
    return (unit * (CELL_MAX // len(unit) + 1))[:CELL_MAX]


def long_lines_body(folder: Path, units: list[str], name: str) -> bytes:
    """100 budget lines of 32,767 characters, as the workbook Excel would send."""
    data = copy.deepcopy(next(sc for sc in load_scenarios() if sc["pack"] == PACK)["base"])
    data["budget"] += [{"category": "IV その他", "description": _cell(units[i % len(units)]), "unit_price": 5000,
                        "quantity": 1} for i in range(100)]
    return json.dumps(payload_from_file(fill_template(PACK, data, folder / name)), ensure_ascii=False).encode()


def million_rows_body(payload: dict[str, Any]) -> bytes:
    """The sample with its budget table claiming 1,000,000 rows x 40 columns (a small body)."""
    out = copy.deepcopy(payload)
    sheet = next(s for s in out["sheets"] if s["tables"] and s["name"].startswith("経費"))
    table = sheet["tables"][0]
    column, row = split_cell(table["header_row_range_address"]) or ("A", 4)
    last = column_letter(39)
    table["columns"] = [f"列{i} column {i}" for i in range(40)]
    table["header_row_range_address"] = f"{column}{row}:{last}{row}"
    table["data_body_range_address"] = f"{column}{row + 1}:{last}1000000"
    table["range_address"] = f"{column}{row}:{last}1000000"
    return json.dumps(out, ensure_ascii=False).encode()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def normal_load(client: httpx.AsyncClient, body: bytes, requests: int, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    sent = 0
    deadline = time.monotonic() + DEADLINE_SECONDS

    async def one_client() -> None:
        nonlocal sent
        while sent < requests and time.monotonic() < deadline:
            sent += 1
            t = time.perf_counter()
            response = await client.post(URL, content=body, headers=JSON)
            latencies.append(time.perf_counter() - t)
            statuses[response.status_code] += 1

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"latencies": latencies, "statuses": statuses, "elapsed": elapsed}


async def hostile_loop(client: httpx.AsyncClient, body: bytes, interval: float, deadline: float,
                       active: Any, stop: Any) -> tuple[Counter[str], list[float]]:
    seen: Counter[str] = Counter()
    took: list[float] = []
    sent = 0
    while sent < HOSTILE_CAP and not stop.is_set() and time.monotonic() < deadline:
        if not active.is_set():
            await asyncio.sleep(0.02)
            continue
        sent += 1
        t = time.perf_counter()
        try:
            response = await client.post(URL, content=body, headers=JSON)
            outcome = str(response.status_code)
        except httpx.HTTPError as exc:      # a server may close the connection on a refused upload
            outcome = type(exc).__name__
        took.append(time.perf_counter() - t)
        seen[outcome] += 1
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - t)))
    return seen, took


def hostile_sender(port: int, hostile: dict[str, bytes], clients: int, interval: float, active: Any, stop: Any,
                   results: Any) -> None:
    """In its own process: ``clients`` loops per kind, sending while ``active`` is set, until ``stop``."""

    async def main() -> dict[str, tuple[Counter[str], list[float]]]:
        deadline = time.monotonic() + DEADLINE_SECONDS * 4
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            kinds = [kind for kind in hostile for _ in range(clients)]
            done = await asyncio.gather(*(hostile_loop(client, hostile[kind], interval, deadline, active, stop)
                                          for kind in kinds))
        out: dict[str, tuple[Counter[str], list[float]]] = {kind: (Counter(), []) for kind in hostile}
        for kind, (seen, took) in zip(kinds, done, strict=True):
            out[kind][0].update(seen)
            out[kind][1].extend(took)
        return out

    results.put(asyncio.run(main()))


async def run(port: int, normal: bytes, hostile: dict[str, bytes], log: Path, args: argparse.Namespace) -> None:
    # As many connections as calls in flight: a spare one would sit idle and race the server's keep-alive close.
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    ctx = mp.get_context("spawn")
    active, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    sender = ctx.Process(target=hostile_sender, args=(port, hostile, args.hostile, args.hostile_interval, active,
                                                      stop, results), daemon=True)
    sender.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=120) as client:
            for _ in range(5):                                   # warm: the first call loads the packs
                (await client.post(URL, content=normal, headers=JSON)).raise_for_status()
            single = []
            for _ in range(20):
                t = time.perf_counter()
                (await client.post(URL, content=normal, headers=JSON)).raise_for_status()
                single.append(time.perf_counter() - t)
            print(f"one Validate at a time: median {statistics.median(single) * 1000:.1f} ms "
                  f"(payload {len(normal):,} bytes)")
            alone, under = [], []
            for i in range(args.rounds):                        # alternated, so that drift hits both alike
                alone.append(await normal_load(client, normal, args.requests, args.concurrency))
                report(f"alone #{i + 1}", alone[-1], args)
                active.set()
                await asyncio.sleep(1.0)                         # the hostile payloads are in flight first
                under.append(await normal_load(client, normal, args.requests, args.concurrency))
                active.clear()
                report(f"hostile #{i + 1}", under[-1], args)
    finally:
        active.clear()
        stop.set()
    seen = results.get(timeout=DEADLINE_SECONDS)
    sender.join(timeout=30)
    for kind, body in hostile.items():
        outcome = ", ".join(f"{k}: {v}" for k, v in sorted(seen[kind][0].items()))
        median = statistics.median(seen[kind][1]) * 1000 if seen[kind][1] else float("nan")
        print(f"  hostile {kind} ({len(body):,} bytes): {outcome}; median {median:.0f} ms")
    text = log.read_text(errors="replace")
    print(f"  server log: {text.count('Traceback')} tracebacks, {text.count('refused')} one-line refusals")
    p95 = {label: statistics.median(pct(r["latencies"], 0.95) for r in runs)
           for label, runs in (("alone", alone), ("hostile", under))}
    rps = {label: statistics.median(len(r["latencies"]) / r["elapsed"] for r in runs)
           for label, runs in (("alone", alone), ("hostile", under))}
    print(f"median of {args.rounds} rounds: alone {rps['alone']:.0f} requests/s, p95 {p95['alone'] * 1000:.0f} ms; "
          f"hostile {rps['hostile']:.0f} requests/s, p95 {p95['hostile'] * 1000:.0f} ms")
    print(f"p95_hostile / p95_alone = {p95['hostile'] / p95['alone']:.2f} (target <= 1.5)")


def report(label: str, result: dict[str, Any], args: argparse.Namespace) -> None:
    lat = result["latencies"]
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(result["statuses"].items()))
    print(f"{label:11s} {len(lat)} Validate calls, {args.concurrency} concurrent: "
          f"{len(lat) / result['elapsed']:.0f} requests/s, p50 {pct(lat, 0.5) * 1000:.0f} ms, "
          f"p95 {pct(lat, 0.95) * 1000:.0f} ms (status {statuses})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--requests", type=int, default=1000, help="normal Validate calls per run (default 1000)")
    ap.add_argument("--hostile", type=int, default=2, help="hostile clients per kind (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="alone/hostile runs, alternated (default 3)")
    ap.add_argument("--kinds", default="long-lines,long-lines-ja,million-rows",
                    help="the hostile payloads to send, comma-separated (default: all three)")
    ap.add_argument("--hostile-interval", type=float, default=0.1,
                    help="a hostile client sends at most once per this many seconds (default 0.1)")
    args = ap.parse_args()
    payload = payload_from_file(samples_dir() / SAMPLE)
    normal = json.dumps(payload, ensure_ascii=False).encode()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        builders = {
            "long-lines": lambda: long_lines_body(folder, ["sightseeing tour 観光 ", "printing of meeting materials ",
                                                           "welcome party ", "research meeting 研究打合せ "],
                                                  "long.xlsx"),
            "long-lines-ja": lambda: long_lines_body(folder, ["市内観光ツアー ", "会議資料印刷 ", "歓迎会 ",
                                                              "研究打合せ"], "long-ja.xlsx"),
            "million-rows": lambda: million_rows_body(payload),
        }
        hostile = {kind: builders[kind]() for kind in args.kinds.split(",") if kind}
        log = folder / "server.log"
        port = free_port()
        server = start_server(port, log)
        try:
            asyncio.run(run(port, normal, hostile, log, args))
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    main()
