"""Spam / ham on the article's full CSV, fixed stratified split: flash strategies vs a TF-IDF baseline.

`python -m semdemo.bench classify [--strategies freeze,no_freeze] [--epochs N]` prints test spam F1,
MCC and training time per strategy, and for a character TF-IDF + linear SVM from scikit-learn
trained on the same rows. Timings depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score, matthews_corrcoef
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from semdemo import classify, data


def baseline(parts: classify.Split) -> dict:
    """Character 1-5-gram TF-IDF + LinearSVC trained on the same training rows."""
    started = time.perf_counter()
    pipeline = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 5), sublinear_tf=True),
                             LinearSVC(C=1.0))
    pipeline.fit(parts.train["text"], parts.train["label"])
    seconds = time.perf_counter() - started
    predicted = pipeline.predict(parts.test["text"])
    return {"f1": f1_score(parts.test["label"], predicted, pos_label="spam"),
            "mcc": matthews_corrcoef(parts.test["label"], predicted), "train_seconds": seconds}


def report_epochs(seen: set[str], fraction: float, desc: str) -> None:
    """Print each new epoch to stderr once, so a long CPU run shows it is moving."""
    if desc not in seen:
        seen.add(desc)
        print(f"  {time.strftime('%H:%M:%S')} {desc}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m semdemo.bench classify", description=__doc__)
    parser.add_argument("--data", help="the article's CSV (default: $SEMDEMO_DATA_DIR/sms_spam/...)")
    parser.add_argument("--strategies", default="freeze,freeze_unfreeze",
                        help=f"comma-separated, from {', '.join(classify.STRATEGIES)}")
    parser.add_argument("--epochs", type=int, help="epochs for every strategy (default: its own)")
    args = parser.parse_args(argv)
    path = Path(args.data or Path(os.environ.get("SEMDEMO_DATA_DIR", ".")) / "sms_spam" / data.ARTICLE_FILE)
    table = data.read_table(path)
    parts = classify.split(table.frame)
    print(f"{path.name}: {len(table.frame)} messages; train {len(parts.train)}, "
          f"validation {len(parts.val)}, test {len(parts.test)} (stratified, seed {classify.SEED}); "
          f"{os.cpu_count()} CPU cores visible")
    print(f"{'model':<34} {'spam F1':>8} {'MCC':>7} {'train s':>8}")
    scores = baseline(parts)
    print(f"{'char TF-IDF + LinearSVC':<34} {scores['f1']:>8.4f} {scores['mcc']:>7.4f} "
          f"{scores['train_seconds']:>8.1f}", flush=True)
    for strategy in args.strategies.split(","):
        _, record = classify.fit(parts, strategy, epochs=args.epochs, progress=partial(report_epochs, set()))
        metrics = record["metrics"]
        label = f"flash {strategy} ({record['epochs']} epochs)"
        print(f"{label:<34} {metrics['f1']:>8.4f} {metrics['mcc']:>7.4f} "
              f"{metrics['train_seconds']:>8.1f}", flush=True)
        print(f"  loss per epoch: {record['history']}", file=sys.stderr, flush=True)
