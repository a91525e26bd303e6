"""CUDA path (runs only where a GPU is present): warm fp16 model on cuda, same scores, throughput."""
import time

import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from semdemo import classify, models, similarity
from semdemo.models import get_embedder

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def cuda_embedder():
    return get_embedder(device="cuda")


def test_warm_models_are_fp16_on_cuda(cuda_embedder, monkeypatch):
    parameter = next(cuda_embedder.model.parameters())
    assert parameter.device.type == "cuda" and parameter.dtype == torch.float16
    assert cuda_embedder.describe().endswith("on cuda (float16)")
    monkeypatch.setitem(classify._serving, "model", None)
    monkeypatch.setattr(models, "_defaults", {"model": None, "device": "cuda"})
    spam = classify.serving_model()
    head = next(spam.task.parameters())
    assert head.device.type == "cuda" and head.dtype == torch.float16
    assert [r["label"] for r in spam.predict([t for t, _ in classify.ARTICLE_EXAMPLES])] == [
        label for _, label in classify.ARTICLE_EXAMPLES]


def test_fp16_keeps_the_seed_scores_and_sts_spearman(cuda_embedder, data_dir):
    result = similarity.compare(["I like to watch tv"], ["Watching Television is my favorite time pass"],
                                embedder=cuda_embedder)
    assert result.table["Score"][0] == pytest.approx(0.70, abs=0.01)
    sts = pd.read_csv(data_dir / "sts" / "sts_subset.tsv", sep="\t", quoting=3)
    scores = similarity.compare(list(sts.sent1), list(sts.sent2), embedder=cuda_embedder).table["Score"]
    assert spearmanr(list(scores), sts.score).statistic >= 0.866

    texts = (list(sts.sent1) + list(sts.sent2)) * 10
    torch.cuda.synchronize()
    started = time.perf_counter()
    vectors = cuda_embedder.encode_bulk(texts)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    print(f"\ncuda fp16 encode: {len(texts)} sentences in {elapsed:.2f} s = {len(texts) / elapsed:.0f}/s")
    assert vectors.shape == (len(texts), cuda_embedder.dimension)

