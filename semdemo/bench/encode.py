"""Registry encode vs bare `SentenceTransformer.encode` on the same texts (goal >= 0.95x)."""
import argparse
import time

from sentence_transformers import SentenceTransformer

from semdemo import data
from semdemo.models import default_model_path, get_embedder


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m semdemo.bench encode", description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="first N SMS messages (default all)")
    texts = data.load_sms().text.tolist()[:parser.parse_args(argv).limit]
    embedder = get_embedder()
    bare = SentenceTransformer(default_model_path(), device=embedder.device)
    timings = {}
    for name, encode in [("bare", lambda: bare.encode(texts, batch_size=64)),
                         ("registry encode", lambda: embedder.encode(texts)),
                         ("registry encode_bulk", lambda: embedder.encode_bulk(texts))]:
        started = time.perf_counter()
        encode()
        timings[name] = time.perf_counter() - started
        print(f"{name:22s} {len(texts)} texts in {timings[name]:6.1f} s "
              f"({len(texts) / timings[name]:.0f} texts/s)", flush=True)
    for name in ("registry encode", "registry encode_bulk"):
        print(f"{name} speed vs bare: {timings['bare'] / timings[name]:.2f}x (goal >= 0.95x)")
