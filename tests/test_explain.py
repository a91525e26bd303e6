"""Why sentence embeddings: the numbers each demonstration shows are consistent and real."""
import json

import pytest
from sentence_transformers import util

from semdemo import data, explain
from semdemo.errors import InputError

TV, TELEVISION = "I like to watch tv", "Watching Television is my favorite time pass"
# The sentence-transformers documentation's paraphrase-mining example, plus a repeat and a blank.
MINING_SET = [
    "A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
    "A man is riding a horse.", "A woman is playing violin.", "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.", "A monkey is playing drums.",
    "A man is eating food.", "  ",
]


def test_cosine_by_hand_equals_library(embedder):
    steps = explain.cosine_by_hand(TV, TELEVISION, embedder=embedder)
    u, v = embedder.encode([TV, TELEVISION])
    assert steps.library == pytest.approx(float(util.cos_sim(u, v)), abs=1e-6)
    assert steps.by_hand == pytest.approx(steps.library, abs=1e-5)
    assert steps.by_hand == pytest.approx(0.70, abs=0.01)
    assert steps.dot == pytest.approx(float((u * v).sum()), abs=1e-5)
    assert steps.norm_u == pytest.approx(1.0, abs=1e-3)  # the model's Normalize step
    rows = steps.components.to_dict("records")
    assert len(rows) == explain.COMPONENTS_SHOWN
    assert rows[0]["u (sentence 1)"] == pytest.approx(float(u[0]), abs=1e-4)
    assert rows[1]["u × v"] == pytest.approx(float(u[1] * v[1]), abs=1e-4)
    assert "**0.7016**" in steps.explanation and "`util.cos_sim`: 0.7016" in steps.explanation
    assert "[-1, 1]" in steps.explanation and "Normalize" in steps.explanation


def test_cosine_by_hand_needs_both_sentences(embedder):
    with pytest.raises(InputError, match="both need text"):
        explain.cosine_by_hand(TV, " \n", embedder=embedder)
    with pytest.raises(InputError, match="both need text"):  # invisible characters only
        explain.cosine_by_hand(TV, "\u200b\u200d", embedder=embedder)


def test_extrapolation_arithmetic():
    assert explain.pair_count(10_000) == 49_995_000
    assert explain.pair_count(2) == 1 and explain.pair_count(1) == 0
    # 100 pairs in 2 s is 20 ms a pair; 49,995,000 pairs then take 999,900 s (11.6 days).
    assert explain.extrapolate(10_000, 100, 2.0) == pytest.approx(999_900.0)
    assert explain.format_duration(999_900.0) == "11.6 days"
    assert explain.format_duration(65 * 3600) == "2.7 days"
    assert explain.format_duration(5 * 3600) == "5.0 h"
    assert explain.format_duration(5.0) == "5.0 s"
    assert explain.format_duration(0.25) == "250 ms"
    with pytest.raises(InputError):
        explain.extrapolate(10, 0, 1.0)


def test_pair_set_is_balanced_and_clear():
    labels = [same for _, _, same in explain.PARAPHRASE_PAIRS]
    assert labels.count(True) == 20 and labels.count(False) == 20
    assert len({(a, b) for a, b, _ in explain.PARAPHRASE_PAIRS}) == 40


def test_separation_of_the_built_in_pairs(embedder):
    result = explain.compare_poolings((TV, TELEVISION), embedder=embedder)
    assert not explain.pooler_is_trained(embedder)  # all-MiniLM-L6-v2's pooler bias is all zeros
    assert result.baseline == "[CLS] vector"
    words, cls, sentence = result.metrics.to_dict("records")
    # Real values on this checkpoint. The sentence embedding ranks far better than averaged word
    # vectors; the [CLS] vector of this *fine-tuned* transformer ranks these clear pairs perfectly,
    # but only the sentence embedding's scores work at a fixed threshold.
    assert words["ROC AUC"] == pytest.approx(0.798, abs=0.02)
    assert cls["ROC AUC"] == pytest.approx(1.0, abs=0.01)
    assert sentence["ROC AUC"] == pytest.approx(0.985, abs=0.01)
    assert sentence["ROC AUC"] > words["ROC AUC"] + 0.1
    assert sentence["Accuracy at 0.5"] == pytest.approx(0.95, abs=0.03)
    assert cls["Accuracy at 0.5"] < 0.6 and words["Accuracy at 0.5"] < 0.7
    own = result.table.iloc[-1]
    assert own["Group"] == "your pair"
    assert own["Sentence-embedding cosine"] == pytest.approx(0.70, abs=0.01)
    assert len(result.table) == 41 and len(result.figure.data) == 3
    assert f"**{sentence['ROC AUC']:.3f}**" in result.explanation


def test_paraphrase_mining_finds_the_eating_and_horse_pairs_and_extrapolates(embedder):
    seen = []
    result = explain.mining_vs_cross(MINING_SET, sample_pairs=4, embedder=embedder,
                                     progress=lambda fraction, desc: seen.append(fraction))
    assert result.n_sentences == 8
    assert result.notes == ["2 empty or repeated sentence(s) left out."]
    first, second = result.top_pairs.to_dict("records")[:2]
    assert {first["Sentence 1"], first["Sentence 2"]} == {
        "A man is eating food.", "A man is eating a piece of bread."}
    assert {second["Sentence 1"], second["Sentence 2"]} == {
        "A man is riding a horse.", "A man is riding a white horse on an enclosed ground."}
    assert first["Score"] == pytest.approx(0.755, abs=0.01)
    assert second["Score"] == pytest.approx(0.737, abs=0.01)
    assert result.top_pairs["Score"].iloc[2] < 0.3  # everything else is unrelated
    assert list(result.top_pairs["Score"]) == sorted(result.top_pairs["Score"], reverse=True)
    assert result.cross_seconds == pytest.approx(explain.extrapolate(8, 4, result.sample_seconds))
    assert 0 < result.embed_seconds <= result.mining_seconds
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert "28 pairs" in result.explanation and "49,995,000" in result.explanation


def test_mining_refuses_too_few_or_too_many(embedder):
    with pytest.raises(InputError, match="at least 2 different"):
        explain.mining_vs_cross(["same", "same", ""], embedder=embedder)
    with pytest.raises(InputError, match="at least 2 different"):
        explain.mining_vs_cross(["same", "\u200bsame\u200b", "\u200b"], embedder=embedder)
    with pytest.raises(InputError, match="more than the limit of 3"):
        explain.mining_vs_cross(["a", "b", "c", "d"], embedder=embedder, max_sentences=3)


def test_mining_sentences_come_from_the_sms_collection(data_dir, monkeypatch):
    monkeypatch.setenv("SEMDEMO_DATA_DIR", str(data_dir))
    sentences, notes = explain.mining_sentences(explain.SMS_SOURCE, 50)
    assert len(sentences) == len(set(sentences)) == 50 and notes == []
    assert sentences[0].startswith("Go until jurong point")
    own, _ = explain.mining_sentences(explain.OWN_SOURCE, 50, "first\nsecond")
    assert own == ["first", "second"]


def test_mining_falls_back_to_the_pair_set_without_the_collection(monkeypatch):
    def missing():
        raise InputError("The SMS Spam Collection was not found")
    monkeypatch.setattr(data, "load_sms", missing)
    sentences, notes = explain.mining_sentences(explain.SMS_SOURCE, 1000)
    assert sentences[:2] == list(explain.PARAPHRASE_PAIRS[0][:2]) and len(sentences) == 60
    assert "built-in pair set" in notes[0] and "not found" in notes[0]


def _record(directory, strategy, f1, checksum, seconds):
    record = {"strategy": strategy, "data": {"name": "SMS Spam Collection", "checksum": checksum},
              "metrics": {"f1": f1, "accuracy": 0.98, "mcc": 0.9, "positive_label": "spam",
                          "train_seconds": seconds}, "trained_at": "2026-12-03T18:00:00+00:00"}
    (directory / f"{strategy}.json").write_text(json.dumps(record))


def test_frozen_vs_finetuned_from_stored_records(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMDEMO_CACHE_DIR", str(tmp_path))
    models = tmp_path / "classifier"
    models.mkdir()
    _record(models, "freeze", 0.9, "sms", 12.0)
    _record(models, "no_freeze", 0.94, "sms", 300.0)
    _record(models, "freeze_unfreeze", 0.99, "other-data", 90.0)  # not comparable: other data
    table, text = explain.frozen_vs_finetuned()
    ours = table[table["Model"] == "trained here"]
    assert sorted(ours["Strategy"]) == ["freeze", "freeze_unfreeze", "no_freeze"]
    assert "frozen **0.900** vs `no_freeze` **0.940**" in text
    assert "after 12.0 s vs 5.0 min of training" in text and "**Freezing**" in text


def test_frozen_alone_asks_for_a_fine_tuned_model(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMDEMO_CACHE_DIR", str(tmp_path))
    (tmp_path / "classifier").mkdir()
    _record(tmp_path / "classifier", "freeze", 0.9, "sms", 12.0)
    _, text = explain.frozen_vs_finetuned()
    assert "The frozen model's spam F1 is **0.900**" in text and "`no_freeze`" in text


def test_frozen_vs_finetuned_without_records_says_what_to_do():
    table, text = explain.frozen_vs_finetuned([])
    assert table.empty and "train one with the `freeze` strategy" in text


def test_sentence_embedding_ranks_sts_pairs_better_than_the_cls_vector(embedder, data_dir):
    """On graded STS pairs the mean-pooled sentence embedding beats the bare [CLS] vector."""
    import pandas as pd
    from scipy.stats import spearmanr

    sts = pd.read_csv(data_dir / "sts" / "sts_subset.tsv", sep="\t", quoting=3)
    first, second = list(sts.sent1), list(sts.sent2)
    cls = explain._forward(embedder, first + second).cls
    sentence = embedder.encode_bulk(first + second)
    n = len(sts)
    rho = {name: spearmanr(util.pairwise_cos_sim(v[:n], v[n:]).tolist(), sts.score).statistic
           for name, v in {"cls": cls, "sentence": sentence}.items()}
    assert rho["sentence"] == pytest.approx(0.868, abs=0.002)
    assert rho["cls"] < rho["sentence"] - 0.03, rho
