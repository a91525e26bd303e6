"""Serving benchmark: semdemo vs the naive app a reader of the article would write.

`python -m semdemo.bench serve --clients 30 --requests 5` starts both servers (same model, same
machine), drives each with the same concurrent gradio_client load and prints throughput, p50/p95
latency, errors and RSS before/after, then the ratio semdemo / naive. A third server, the naive app
with its model call left out, shows what Gradio (one request per call) and the load generator
cost on their own: no app that answers one request per call can be faster.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def naive_demo(with_model: bool = True):
    """One button -> model.encode([a, b]) -> util.cos_sim: the article's approach as a web app.
    Without the model it answers 0.0: what is left is the cost of Gradio and of the clients."""
    import gradio as gr
    from sentence_transformers import SentenceTransformer, util

    from semdemo.models import default_model_path

    model = SentenceTransformer(default_model_path(), device="cpu") if with_model else None

    def similarity(a: str, b: str) -> float:
        if model is None:
            return 0.0
        vectors = model.encode([a, b], convert_to_tensor=True)
        return float(util.cos_sim(vectors[0], vectors[1]))

    with gr.Blocks() as demo:
        a, b, score = gr.Textbox(), gr.Textbox(), gr.Number()
        gr.Button("Compare").click(similarity, [a, b], score, api_name="similarity")
    return demo


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], port: int) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {' '.join(command)}")
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"server did not start: {' '.join(command)}")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pair(client_id: int, request_id: int, semdemo: bool) -> tuple:
    a = f"Student {client_id} likes to watch tv on day {request_id}"
    b = f"Watching television is a favourite pastime of pupil {client_id}"
    return (a, b, 0.5) if semdemo else (a, b)


def drive(url: str, clients: int, requests: int, semdemo: bool) -> dict:
    """Each client thread sends `requests` requests one after another; returns the figures."""
    from gradio_client import Client

    def one_client(client_id: int) -> tuple[list[float], int]:
        # Plain http on loopback: no certificate to verify. With verification on, gradio_client
        # loads the CA bundle for each HTTP call, and that load generator, not the server, would
        # use most of the 2 cores it shares with the server.
        client = Client(url, verbose=False, ssl_verify=False)
        latencies, errors = [], 0
        for request_id in range(requests):
            started = time.perf_counter()
            try:
                client.predict(*pair(client_id, request_id, semdemo), api_name="/similarity")
                latencies.append(time.perf_counter() - started)
            except Exception:
                errors += 1
        return latencies, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one_client, range(clients)))
    wall = time.perf_counter() - started
    latencies = sorted(t for lat, _ in results for t in lat)
    return {
        "throughput": len(latencies) / wall,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan"),
        "errors": sum(e for _, e in results),
        "requests": len(latencies),
    }


def measure(name: str, command: list[str], port: int, clients: int, requests: int,
            semdemo: bool) -> dict:
    proc = start(command, port)
    try:
        url = f"http://127.0.0.1:{port}/"
        # Warm up at full load, so that every worker thread and client session exists before
        # the RSS is read: growth after that is what the requests leave behind.
        drive(url, clients, 2, semdemo)
        before = rss_mb(proc.pid)
        figures = drive(url, clients, requests, semdemo)
        figures.update(rss_before=before, rss_after=rss_mb(proc.pid))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"{name:8s} {figures['throughput']:7.1f} req/s  p50 {figures['p50']:.2f} s  "
          f"p95 {figures['p95']:.2f} s  errors {figures['errors']}  "
          f"RSS {figures['rss_before']:.0f} -> {figures['rss_after']:.0f} MB "
          f"({100 * (figures['rss_after'] / figures['rss_before'] - 1):+.1f} %)", flush=True)
    return figures


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m semdemo.bench serve", description=__doc__)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--requests", type=int, default=5, help="requests per client")
    parser.add_argument("--naive-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--empty-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.naive_server or args.empty_server:
        naive_demo(with_model=bool(args.naive_server)).launch(
            server_port=args.naive_server or args.empty_server, quiet=True)
        return
    print(f"{args.clients} clients x {args.requests} requests, {os.cpu_count()} CPU cores")
    port = free_port()
    semdemo = measure("semdemo", [sys.executable, "app.py", "--port", str(port)], port,
                      args.clients, args.requests, semdemo=True)
    port = free_port()
    naive = measure("naive", [sys.executable, "-m", "semdemo.bench", "serve", "--naive-server",
                              str(port)], port, args.clients, args.requests, semdemo=False)
    port = free_port()
    empty = measure("no model", [sys.executable, "-m", "semdemo.bench", "serve", "--empty-server",
                                 str(port)], port, args.clients, args.requests, semdemo=False)
    print(f"ratio semdemo/naive: throughput {semdemo['throughput'] / naive['throughput']:.2f}x, "
          f"p95 {semdemo['p95'] / naive['p95']:.2f}x; the naive app without its model "
          f"answers {empty['throughput'] / naive['throughput']:.2f}x naive")
