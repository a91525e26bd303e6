"""The SBERT paper's 10,000-sentence figure on this machine: paraphrase mining measured, a
cross-encoder extrapolated from a timed sample of pairs; plus the pair-set separation metrics.

    python -m semdemo.bench paraphrase [--n 10000] [--sample-pairs 256] [--device auto]

The SMS collection has about 5,200 distinct messages; beyond that they are repeated with a
" #k" suffix, which changes the pairs found but not the work timed.
"""
import argparse

from semdemo import data, explain
from semdemo.models import get_embedder


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m semdemo.bench paraphrase")
    parser.add_argument("--n", type=int, default=explain.PAPER_SENTENCES)
    parser.add_argument("--sample-pairs", type=int, default=256)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    embedder = get_embedder(device=args.device)
    messages = list(dict.fromkeys(data.load_sms()["text"]))
    sentences = [messages[i % len(messages)] + (f" #{i // len(messages)}" if i >= len(messages) else "")
                 for i in range(args.n)]
    result = explain.mining_vs_cross(sentences, args.sample_pairs, embedder=embedder,
                                     max_sentences=args.n)
    per_pair = result.sample_seconds / result.sample_pairs
    print(f"model: {embedder.describe()}")
    print(f"N = {result.n_sentences:,} sentences, {explain.pair_count(result.n_sentences):,} pairs")
    comparing = result.mining_seconds - result.embed_seconds
    print(f"paraphrase mining: {result.mining_seconds:.2f} s "
          f"(embedding {result.embed_seconds:.2f} s, comparing {comparing:.2f} s)")
    print(f"cross-encoder sample: {result.sample_pairs} pairs in {result.sample_seconds:.2f} s "
          f"({per_pair * 1000:.2f} ms per pair)")
    print(f"cross-encoder, all pairs (extrapolated): {result.cross_seconds:,.0f} s "
          f"= {explain.format_duration(result.cross_seconds)}; "
          f"ratio {result.cross_seconds / result.mining_seconds:,.0f}x")
    print("top pairs:")
    print(result.top_pairs.head(5).to_string(index=False, max_colwidth=60))

    pooling = explain.compare_poolings(embedder=embedder)
    print(f"\nbuilt-in pair set ({len(explain.PARAPHRASE_PAIRS)} pairs), baseline: {pooling.baseline}")
    print(pooling.metrics.to_string(index=False))
