"""Embedding-map timings on the full SMS Spam Collection: `python -m semdemo.bench visualize`.

Prints, never asserts: first-time embedding through the map (cold cache) against a bare
`SentenceTransformer.encode` of the same texts in the same run (goal: ratio <= 1.05), the
lightning-flash engine, each projection, and reopening the set with warm caches (goal <= 2 s),
both from memory and from the .npy files alone (as after a restart). Runs in a fresh cache
directory unless --cache-dir is given. Timings on a shared machine are noisy.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from semdemo import models, visualize


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m semdemo.bench visualize")
    parser.add_argument("--cache-dir", help="cache directory (default: a fresh temporary one)")
    parser.add_argument("--methods", default="pca,tsne,umap", help="comma-separated projections")
    parser.add_argument("--dims", type=int, default=2, choices=(2, 3))
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of bare vs first-time embedding (each in a fresh cache)")
    parser.add_argument("--flash-limit", type=int, default=0,
                        help="time the flash engine on the first N sentences only (0: all)")
    args = parser.parse_args(argv)
    os.environ["SEMDEMO_CACHE_DIR"] = args.cache_dir or tempfile.mkdtemp(prefix="semdemo-bench-")
    methods = args.methods.split(",")

    embedder = models.get_embedder()
    points, seconds = timed(lambda: visualize.load_points(visualize.SMS_SET))
    texts = points.texts
    print(f"model: {embedder.describe()}; torch threads: {torch.get_num_threads()}")
    print(f"SMS Spam Collection: {len(texts):,} unique messages loaded in {seconds:.2f} s "
          f"(cache: {os.environ['SEMDEMO_CACHE_DIR']})")

    def bare():
        return embedder.model.encode(texts, batch_size=64, convert_to_tensor=True,
                                     show_progress_bar=False)

    bare_times, our_times = [], []
    for round_ in range(args.repeat):
        if round_:  # a fresh cache, so the map embeds for the first time again
            os.environ["SEMDEMO_CACHE_DIR"] = tempfile.mkdtemp(prefix="semdemo-bench-")
            visualize.embedding_cache.forget()
        bare_vectors, bare_before = timed(bare)
        (vectors, cached), ours = timed(lambda: visualize.embed(points))
        _, bare_after = timed(bare)
        assert not cached, "the cache directory already held these embeddings"
        bare_times += [bare_before, bare_after]
        our_times.append(ours)
        print(f"round {round_ + 1}: bare SentenceTransformer.encode {bare_before:.1f} s before and "
              f"{bare_after:.1f} s after; first time through the map {ours:.1f} s "
              f"(ratio {2 * ours / (bare_before + bare_after):.3f})")
    print(f"embedding: fastest bare {min(bare_times):.1f} s, fastest first-time through the map "
          f"{min(our_times):.1f} s: ratio {min(our_times) / min(bare_times):.3f} (goal <= 1.05); "
          f"max |difference| {np.abs(vectors - bare_vectors.float().cpu().numpy()).max():.1e}")

    flash_points = (visualize.unique_points("SMS head", texts[:args.flash_limit])
                    if args.flash_limit else points)
    _, load = timed(lambda: visualize.engine("lightning-flash"))
    (flash_vectors, _), flash = timed(lambda: visualize.embed(flash_points, "lightning-flash"))
    rows = len(flash_points.texts)
    print(f"embedding, lightning-flash engine:          {flash:.1f} s for {rows:,} messages "
          f"({flash / rows * 1000:.1f} ms each; model load {load:.1f} s); "
          f"max |difference| {np.abs(flash_vectors - vectors[:rows]).max():.1e}")

    for method in methods:
        emap, seconds = timed(lambda: visualize.build_map(points, method, args.dims))
        print(f"projection {visualize.METHODS[method]:>5} {args.dims}D: {seconds:6.1f} s")

    def reopen(method):
        return visualize.draw(visualize.load_points(visualize.SMS_SET), method, args.dims)

    for where in ("memory", "files only (as after a restart)"):
        if where != "memory":
            visualize.embedding_cache.forget()
            visualize.projection_cache.forget()
        for method in methods:
            result, seconds = timed(lambda: reopen(method))
            assert result.summary.count("from the cache") == 2
            print(f"reopen with warm caches, {where}, {visualize.METHODS[method]}: {seconds:.2f} s "
                  "(goal <= 2 s)")
