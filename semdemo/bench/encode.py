"""Registry encode vs bare `SentenceTransformer.encode` on the same texts (goal >= 0.95x).

The three run in turn, `--rounds` times, and each keeps its fastest time: on a shared machine a
single timing in a fixed order measures the neighbours as much as the code.
"""
import argparse
import time

from sentence_transformers import SentenceTransformer

from semdemo import data
from semdemo.models import default_model_path, get_embedder


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m semdemo.bench encode", description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="first N SMS messages (default all)")
    parser.add_argument("--rounds", type=int, default=2, help="times each is run (fastest kept)")
    args = parser.parse_args(argv)
    texts = data.load_sms().text.tolist()[:args.limit]
    embedder = get_embedder()
    bare = SentenceTransformer(default_model_path(), device=embedder.device)
    runs = {"bare": lambda: bare.encode(texts, batch_size=64),
            "registry encode": lambda: embedder.encode(texts),
            "registry encode_bulk": lambda: embedder.encode_bulk(texts)}
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(1, args.rounds + 1):
        for name, encode in runs.items():
            started = time.perf_counter()
            encode()
            timings[name].append(time.perf_counter() - started)
            print(f"round {round_}: {name:22s} {len(texts)} texts in {timings[name][-1]:6.1f} s "
                  f"({len(texts) / timings[name][-1]:.0f} texts/s)", flush=True)
    fastest = {name: min(times) for name, times in timings.items()}
    for name in ("registry encode", "registry encode_bulk"):
        print(f"{name} speed vs bare (fastest of {args.rounds}): "
              f"{fastest['bare'] / fastest[name]:.2f}x (goal >= 0.95x)")
