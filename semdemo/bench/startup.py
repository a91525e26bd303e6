"""Cold start: `python app.py` process start -> the UI page answers -> the first similarity answer."""
import argparse
import sys
import time
import urllib.request

from semdemo.bench.serve import free_port, start


def main(argv: list[str]) -> None:
    argparse.ArgumentParser(prog="python -m semdemo.bench startup", description=__doc__).parse_args(argv)
    port = free_port()
    started = time.perf_counter()
    proc = start([sys.executable, "app.py", "--port", str(port)], port)
    try:
        url = f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url, timeout=60) as page:
            assert page.status == 200
        ui = time.perf_counter() - started
        from gradio_client import Client

        Client(url, verbose=False).predict("I like to watch tv", "Watching Television is my favorite "
                                           "time pass", 0.5, api_name="/similarity")
        first = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"cold start: UI answering after {ui:.1f} s, first similarity answer after {first:.1f} s "
          "(goal: UI <= 20 s on 2 CPU cores)")
