"""Why sentence embeddings: the article's claims, reproduced live on the registry's warm model.

1. Cosine similarity by hand equals `util.cos_sim`.
2. Averaged word vectors and the transformer's own [CLS] / pooler vector against the mean-pooled
   sentence embedding, on a built-in labelled pair set.
3. The SBERT paper's 10,000-sentence claim: `util.paraphrase_mining` timed against a cross-encoder
   (every pair read jointly by the transformer), extrapolated from a timed sample of pairs.
4. Frozen vs fine-tuned spam classifiers, from the spam tab's stored metrics.
"""
from __future__ import annotations

import os
import random
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
import plotly.graph_objects as go
import torch
from sentence_transformers import util
from sklearn.metrics import accuracy_score, roc_auc_score, roc_curve

from semdemo import classify, data
from semdemo.display import hover_text, markdown_text
from semdemo.errors import InputError
from semdemo.models import Embedder, get_embedder
from semdemo.similarity import explain_cosine

MAX_MINING = int(os.environ.get("SEMDEMO_MAX_MINING", "5000"))
FORWARD_BATCH = 32  # texts (or pairs) per transformer forward pass
COMPONENTS_SHOWN = 5
PAPER_SENTENCES = 10_000  # the SBERT paper: ~65 hours with a BERT cross-encoder, ~5 s with SBERT

SMS_SOURCE, OWN_SOURCE = "SMS messages", "My sentences"
Progress = Callable[..., object]  # called as progress(fraction, desc=...), like gr.Progress

# (sentence 1, sentence 2, is a paraphrase). Written for this demo: clear cases on both sides, with
# some non-paraphrases sharing the topic or words so that word overlap alone is not enough.
PARAPHRASE_PAIRS: list[tuple[str, str, bool]] = [
    ("How do I reset my password?", "I forgot my password, how can I change it?", True),
    ("The train to London is delayed by twenty minutes.", "The London train will arrive twenty minutes late.", True),
    ("A man is playing a guitar.", "Someone is playing an instrument.", True),
    ("The film was really great.", "I loved that movie.", True),
    ("It is raining heavily outside.", "There is a downpour out there.", True),
    ("She bought a new car last week.", "Last week she purchased a new vehicle.", True),
    ("Can you send me the report by Friday?", "Please get the report to me before the weekend.", True),
    ("The shop closes at six in the evening.", "The store shuts at 6 pm.", True),
    ("My phone battery died.", "My mobile ran out of charge.", True),
    ("He is learning to speak Spanish.", "He is studying the Spanish language.", True),
    ("The children are playing in the park.", "Kids are having fun at the playground.", True),
    ("I am very hungry.", "I really need something to eat.", True),
    ("The meeting has been moved to Tuesday.", "We rescheduled the meeting for Tuesday.", True),
    ("A woman is slicing an onion.", "A woman is cutting an onion into pieces.", True),
    ("The price of petrol went up again.", "Fuel costs have risen once more.", True),
    ("Call me when you get home.", "Give me a ring once you are back home.", True),
    ("The restaurant was too noisy.", "It was far too loud in the restaurant.", True),
    ("Our flight was cancelled because of the storm.", "The storm caused our flight to be called off.", True),
    ("This laptop is very slow.", "My computer takes forever to do anything.", True),
    ("You won a free holiday, reply now to claim it!", "Congratulations, you have won a free trip: answer to claim.", True),
    ("How do I reset my password?", "The weather will be sunny tomorrow.", False),
    ("The train to London is delayed by twenty minutes.", "I trained for the London marathon for twenty weeks.", False),
    ("A man is playing a guitar.", "A man is riding a horse.", False),
    ("The film was really great.", "The soup was cold and salty.", False),
    ("It is raining heavily outside.", "Stock prices fell sharply today.", False),
    ("She bought a new car last week.", "She sold her old bicycle yesterday.", False),
    ("Can you send me the report by Friday?", "The cat sleeps on the sofa all day.", False),
    ("The shop closes at six in the evening.", "The shop sells fresh bread and cakes.", False),
    ("My phone battery died.", "My grandfather died last year.", False),
    ("He is learning to speak Spanish.", "He is cooking a Spanish omelette.", False),
    ("The children are playing in the park.", "The parking fee went up this year.", False),
    ("I am very hungry.", "I am very tired of this song.", False),
    ("The meeting has been moved to Tuesday.", "The moving van arrives on Tuesday.", False),
    ("A woman is slicing an onion.", "A woman is swimming in the lake.", False),
    ("The price of petrol went up again.", "The kite went up into the clouds.", False),
    ("Call me when you get home.", "Homes in this city are very expensive.", False),
    ("The restaurant was too noisy.", "The library is a quiet place to study.", False),
    ("Our flight was cancelled because of the storm.", "Birds take flight when the season changes.", False),
    ("This laptop is very slow.", "The tortoise is a very slow animal.", False),
    ("You won a free holiday, reply now to claim it!", "Are we still meeting for lunch today?", False),
]

TOP_COLUMNS = ["Score", "Sentence 1", "Sentence 2"]
COMPONENT_COLUMNS = ["Component", "u (sentence 1)", "v (sentence 2)", "u × v"]


@dataclass
class TransformerVectors:
    """What the bare transformer gives per text, without the sentence-transformers pooling."""

    cls: torch.Tensor  # final hidden state of the [CLS] token
    pooled: torch.Tensor  # the pooler output (tanh(dense([CLS]))), or `cls` if the model has none
    word_average: torch.Tensor  # mean of the input word vectors: no context at all


def _forward(embedder: Embedder, first: list[str], second: list[str] | None = None,
             on_batch: Callable[[int, int], object] | None = None) -> TransformerVectors:
    """Run the bare transformer over texts, or over pairs read jointly as `[CLS] a [SEP] b [SEP]`
    when `second` is given; float32 CPU vectors. `on_batch(done, total)` follows the progress."""
    transformer = embedder.model[0].auto_model
    parts: list[tuple[torch.Tensor, ...]] = []
    for start in range(0, len(first), FORWARD_BATCH):
        chunk = first[start:start + FORWARD_BATCH]
        pair_chunk = second[start:start + FORWARD_BATCH] if second is not None else None
        with embedder.lock, torch.inference_mode():
            batch = embedder.model.tokenizer(chunk, pair_chunk, padding=True, truncation=True,
                                             max_length=embedder.max_tokens, return_tensors="pt",
                                             return_special_tokens_mask=True).to(embedder.device)
            words = (batch.pop("special_tokens_mask") == 0) & (batch["attention_mask"] == 1)
            output = transformer(**batch)
            cls = output.last_hidden_state[:, 0]
            pooled = cls if output.pooler_output is None else output.pooler_output
            word_vectors = transformer.get_input_embeddings()(batch["input_ids"])
            weights = words.unsqueeze(-1).to(word_vectors.dtype)
            average = (word_vectors * weights).sum(1) / weights.sum(1).clamp(min=1)
            parts.append(tuple(t.float().cpu() for t in (cls, pooled, average)))
        if on_batch:
            on_batch(min(start + FORWARD_BATCH, len(first)), len(first))
    return TransformerVectors(*(torch.cat(column) for column in zip(*parts)))


# 1. Cosine similarity, by hand and by library ------------------------------------------------

@dataclass
class CosineSteps:
    """The numbers of one cosine computation, shown step by step."""

    components: pd.DataFrame  # the first few components of u and v and their products
    dot: float
    norm_u: float
    norm_v: float
    by_hand: float
    library: float
    explanation: str


def cosine_by_hand(a: str, b: str, embedder: Embedder | None = None) -> CosineSteps:
    """Embed two sentences and compute their cosine by hand, next to `util.cos_sim`."""
    a, b = data.clean_text(a), data.clean_text(b)
    if not a or not b:
        raise InputError("Type two sentences: both need text.")
    embedder = embedder or get_embedder()
    u, v = embedder.encode([a, b])
    dot, norm_u, norm_v = float(u @ v), float(u.norm()), float(v.norm())
    library = float(util.cos_sim(u, v))
    n = COMPONENTS_SHOWN
    components = pd.DataFrame(
        zip(range(1, n + 1), u[:n].tolist(), v[:n].tolist(), (u[:n] * v[:n]).tolist()),
        columns=COMPONENT_COLUMNS).round(4)
    unit_note = ""
    if abs(norm_u - 1) < 1e-3 and abs(norm_v - 1) < 1e-3:
        unit_note = ("This model ends with a *Normalize* step, so every vector has length 1: the "
                     "division changes nothing and the cosine is simply the dot product.\n\n")
    explanation = (
        explain_cosine(a, b, u, v, library, heading="Step by step")
        + f"\n\nThe dot product multiplies the two vectors component by component (the first "
        f"{n} are in the table) and adds up all {u.numel()} products. {unit_note}"
        "The article says the score lies between 0 and 1; in fact cosine similarity ranges over "
        "[-1, 1]. With this model unrelated sentences land near 0 and slightly negative scores do "
        "occur, they are just rare."
    )
    return CosineSteps(components, dot, norm_u, norm_v, dot / (norm_u * norm_v), library, explanation)


# 2. [CLS] / pooler vector vs sentence embedding ------------------------------------------------

FIXED_THRESHOLD = 0.5  # the Pair similarity tab's default threshold


def pooler_is_trained(embedder: Embedder) -> bool:
    """Whether the checkpoint's pooler layer was trained; an untrained one still has its all-zero
    initial bias (the case for all-MiniLM-L6-v2, whose training used mean pooling only)."""
    dense = getattr(getattr(embedder.model[0].auto_model, "pooler", None), "dense", None)
    return dense is not None and bool(dense.bias.abs().sum() > 0)


def separation(scores: list[float], is_paraphrase: list[bool],
               fixed_threshold: float = FIXED_THRESHOLD) -> dict[str, float]:
    """How well cosine scores separate paraphrases from non-paraphrases: ROC AUC, the accuracy of
    the best single threshold (with that threshold), and the accuracy at a fixed threshold."""
    fpr, tpr, thresholds = roc_curve(is_paraphrase, scores)
    positives = sum(is_paraphrase)
    negatives = len(is_paraphrase) - positives
    accuracy = (tpr * positives + (1 - fpr) * negatives) / len(is_paraphrase)
    best = int(accuracy.argmax())
    return {"ROC AUC": float(roc_auc_score(is_paraphrase, scores)),
            "Best-threshold accuracy": float(accuracy[best]), "Best threshold": float(thresholds[best]),
            f"Accuracy at {fixed_threshold}": accuracy_score(
                is_paraphrase, [score >= fixed_threshold for score in scores])}


@dataclass
class PoolingComparison:
    """Everything the [CLS]-vs-sentence-embedding section shows."""

    table: pd.DataFrame  # every pair with its three cosines
    metrics: pd.DataFrame  # one row per method, as `separation` measures it
    figure: go.Figure
    explanation: str
    baseline: str  # "pooler output" or "[CLS] vector"


def compare_poolings(own_pair: tuple[str, str] | None = None,
                     embedder: Embedder | None = None) -> PoolingComparison:
    """Score the built-in labelled pairs (plus the student's pair, if both sentences have text)
    with averaged word vectors, the transformer's own [CLS] / pooler vector and the sentence
    embedding, and measure how well each separates paraphrases from non-paraphrases."""
    embedder = embedder or get_embedder()
    pairs = [(a, b, "paraphrase" if same else "not a paraphrase") for a, b, same in PARAPHRASE_PAIRS]
    own_pair = tuple(data.clean_text(text) for text in own_pair or ())
    if own_pair and all(own_pair):
        pairs.append((*own_pair, "your pair"))
    texts = list(dict.fromkeys(t for a, b, _ in pairs for t in (a, b)))
    index = {text: row for row, text in enumerate(texts)}
    left, right = [index[a] for a, _, _ in pairs], [index[b] for _, b, _ in pairs]

    use_pooler = pooler_is_trained(embedder)
    baseline = "pooler output" if use_pooler else "[CLS] vector"
    transformer = _forward(embedder, texts)
    methods = {
        "Averaged word vectors (no context)": transformer.word_average,
        f"Transformer {baseline} (no pooling, no similarity head)":
            transformer.pooled if use_pooler else transformer.cls,
        "Sentence embedding (mean pooling, trained on sentence pairs)": embedder.encode(texts),
    }
    scores = {name: util.pairwise_cos_sim(vectors[left], vectors[right]).tolist()
              for name, vectors in methods.items()}
    columns = ["Word-average cosine", f"{baseline} cosine", "Sentence-embedding cosine"]
    table = pd.DataFrame([list(pair) for pair in pairs], columns=["Sentence 1", "Sentence 2", "Group"])
    for column, values in zip(columns, scores.values()):
        table[column] = [round(x, 3) for x in values]
    labelled = len(PARAPHRASE_PAIRS)
    truth = [same for _, _, same in PARAPHRASE_PAIRS]
    metrics = pd.DataFrame([{"Method": name, **separation(values[:labelled], truth)}
                            for name, values in scores.items()]).round(3)
    unrelated = table.loc[table["Group"] == "not a paraphrase", columns[1]]
    explanation = _pooling_explanation(metrics, baseline, use_pooler, unrelated.min(), unrelated.max())
    return PoolingComparison(table, metrics, _pooling_figure(table, columns[1], columns[2], baseline),
                             explanation, baseline)


def _pooling_figure(table: pd.DataFrame, x: str, y: str, baseline: str) -> go.Figure:
    """Scatter of two scores per pair, coloured by group: separation shows along each axis."""
    figure = go.Figure()
    groups = [("paraphrase", "#2a9d8f"), ("not a paraphrase", "#e76f51"), ("your pair", "#264653")]
    for group, colour in groups:
        rows = table[table["Group"] == group]
        if rows.empty:
            continue
        figure.add_trace(go.Scatter(
            x=rows[x], y=rows[y], mode="markers", name=group,
            marker=dict(size=14 if group == "your pair" else 9, color=colour,
                        symbol="star" if group == "your pair" else "circle"),
            customdata=[f"<b>1:</b> {hover_text(a)}<br><b>2:</b> {hover_text(b)}"
                        for a, b in zip(rows["Sentence 1"], rows["Sentence 2"])],
            hovertemplate="%{customdata}<br>" + baseline + " %{x:.3f}, sentence embedding %{y:.3f}"
                          "<extra></extra>",
        ))
    for line in (figure.add_hline, figure.add_vline):
        line(FIXED_THRESHOLD, line_dash="dot", line_color="grey")
    figure.update_layout(title="Each pair scored two ways (dotted: threshold 0.5)",
                         xaxis_title=f"cosine of the {baseline}s",
                         yaxis_title="cosine of the sentence embeddings",
                         margin=dict(l=10, r=10, t=50, b=10))
    return figure


def _pooling_explanation(metrics: pd.DataFrame, baseline: str, use_pooler: bool,
                         unrelated_low: float, unrelated_high: float) -> str:
    words, base, sentence = metrics.to_dict("records")
    at_fixed = f"Accuracy at {FIXED_THRESHOLD}"
    if use_pooler:
        source = ("The article's first code takes BERT's *pooled output*: the [CLS] vector passed "
                  "through one extra layer. This checkpoint's pooler layer is trained, so we use it.")
    else:
        source = ("The article's first code takes BERT's *pooled output*: the [CLS] vector passed "
                  "through one extra layer trained for next-sentence prediction. In this checkpoint "
                  "that layer was never trained (its bias is still all zeros), so its output would "
                  "mean nothing; we use the [CLS] token's vector itself, which that layer reads.")
    return (
        f"{source} All three come from the **same model** on the same text.\n\n"
        f"On the {len(PARAPHRASE_PAIRS)} built-in pairs (half paraphrases, half not), ROC AUC says "
        "how well a method *ranks* the pairs (1: every paraphrase above every non-paraphrase, 0.5: "
        f"a coin flip): averaged word vectors **{words['ROC AUC']:.3f}**, the {baseline} "
        f"**{base['ROC AUC']:.3f}**, the sentence embedding **{sentence['ROC AUC']:.3f}**. At one "
        f"fixed threshold of {FIXED_THRESHOLD} (the Pair similarity tab's default), they get "
        f"{words[at_fixed]:.0%}, {base[at_fixed]:.0%} and {sentence[at_fixed]:.0%} of the pairs "
        "right.\n\n"
        "Why the [CLS] vector ranks well here: in all-MiniLM-L6-v2 the *whole* transformer was "
        "trained on a billion sentence pairs, so every token vector, [CLS] included, learned "
        "sentence meaning. Original BERT, the article's model, had no such training, and the SBERT "
        "paper found its [CLS] vector worse than averaged word vectors. What even this [CLS] "
        "vector lacks is a meaningful scale: the non-paraphrases still get cosines from "
        f"{unrelated_low:.2f} to {unrelated_high:.2f} (look at the plot), so a score alone does not "
        "tell you \"similar\". The sentence embedding was trained for exactly that: unrelated "
        "sentences near 0, paraphrases high. Averaged word vectors ignore context and word order, "
        "so shared words decide too much."
    )


# 3. The 10,000-sentence claim --------------------------------------------------------------------

def pair_count(n_sentences: int) -> int:
    """Number of distinct pairs among n sentences: n(n-1)/2."""
    return n_sentences * (n_sentences - 1) // 2


def extrapolate(n_sentences: int, sample_pairs: int, sample_seconds: float) -> float:
    """Seconds to cross-encode all n(n-1)/2 pairs, at the per-pair cost of a timed sample."""
    if sample_pairs < 1:
        raise InputError("Time at least one sample pair.")
    return pair_count(n_sentences) * sample_seconds / sample_pairs


def format_duration(seconds: float) -> str:
    """A duration a person can read at a glance: 850 ms, 4.2 s, 3.1 min, 5.6 h, 2.3 days, 1.4 years."""
    for unit, size in [("years", 365 * 86400), ("days", 86400), ("h", 3600), ("min", 60), ("s", 1)]:
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds * 1000:.0f} ms"


def mining_sentences(source: str, n: int, own_text: str = "") -> tuple[list[str], list[str]]:
    """The sentences to mine and notes: the first n distinct SMS messages (the built-in pair set's
    sentences when the collection cannot be found), or the student's own lines."""
    if source == OWN_SOURCE:
        return (own_text or "").splitlines(), []
    if source != SMS_SOURCE:
        raise InputError(f"Unknown sentence source {source!r}; choose {SMS_SOURCE} or {OWN_SOURCE}.")
    try:
        texts = data.load_sms()["text"]
    except InputError as err:
        builtin = list(dict.fromkeys(t for a, b, _ in PARAPHRASE_PAIRS for t in (a, b)))
        return builtin[:n], [f"Using the {len(builtin)} sentences of the built-in pair set instead "
                             f"of the SMS messages: {err}"]
    distinct = list(dict.fromkeys(texts))
    notes = [f"The collection has only {len(distinct):,} distinct messages; mining all of them."] \
        if len(distinct) < n else []
    return distinct[:n], notes


@dataclass
class MiningResult:
    """Measured paraphrase-mining time, the cross-encoder sample, its extrapolation, and top pairs."""

    n_sentences: int
    mining_seconds: float  # embedding every sentence, then comparing all pairs
    embed_seconds: float  # the embedding part of it
    sample_pairs: int
    sample_seconds: float
    cross_seconds: float  # extrapolated to all pairs of the n sentences
    top_pairs: pd.DataFrame
    figure: go.Figure
    explanation: str
    notes: list[str] = field(default_factory=list)


def mining_vs_cross(sentences: list[str], sample_pairs: int = 64, top: int = 10,
                    embedder: Embedder | None = None, progress: Progress | None = None,
                    max_sentences: int = MAX_MINING) -> MiningResult:
    """Time `util.paraphrase_mining` on the sentences, and a cross-encoder on a random sample of
    their pairs, extrapolated to every pair."""
    unique = list(dict.fromkeys(text for text in map(data.clean_text, sentences) if text))
    notes = [f"{len(sentences) - len(unique)} empty or repeated sentence(s) left out."] \
        if len(unique) < len(sentences) else []
    if len(unique) < 2:
        raise InputError("Paraphrase mining needs at least 2 different sentences.")
    if len(unique) > max_sentences:
        raise InputError(f"{len(unique)} sentences is more than the limit of {max_sentences}.")
    if sample_pairs < 1:
        raise InputError("Cross-encode at least one sample pair.")
    embedder = embedder or get_embedder()
    n = len(unique)

    def report(start: float, desc: str) -> Callable[[int, int], object] | None:
        """Progress of one half of the work, as a fraction of the whole."""
        if progress is None:
            return None
        return lambda done, total: progress(start + 0.5 * done / total, desc=desc)

    # What util.paraphrase_mining does, in its two steps: embed (in chunks, so other users' short
    # requests get the model in between) and compare every pair of vectors.
    started = time.perf_counter()
    vectors = embedder.encode_bulk(unique, on_progress=report(0.0, f"Embedding {n:,} sentences"))
    embed_seconds = time.perf_counter() - started
    found = util.paraphrase_mining_embeddings(vectors)
    mining_seconds = time.perf_counter() - started

    rng = random.Random(0)
    sample = [rng.sample(range(n), 2) for _ in range(sample_pairs)]
    started = time.perf_counter()
    _forward(embedder, [unique[i] for i, _ in sample], [unique[j] for _, j in sample],
             report(0.5, f"Cross-encoding {sample_pairs} sample pairs"))
    sample_seconds = time.perf_counter() - started
    cross_seconds = extrapolate(n, sample_pairs, sample_seconds)

    top_pairs = pd.DataFrame([[round(score, 3), unique[i], unique[j]] for score, i, j in found[:top]],
                             columns=TOP_COLUMNS)
    result = MiningResult(n, mining_seconds, embed_seconds, sample_pairs, sample_seconds, cross_seconds,
                          top_pairs, _timing_figure(n, mining_seconds, cross_seconds), "", notes)
    result.explanation = _mining_explanation(result, embedder)
    return result


def _timing_figure(n: int, mining_seconds: float, cross_seconds: float) -> go.Figure:
    """Two bars on a log scale: the gap is usually several orders of magnitude."""
    figure = go.Figure(go.Bar(
        x=["Sentence embeddings + paraphrase_mining (measured)",
           "Cross-encoder, every pair (extrapolated)"],
        y=[mining_seconds, cross_seconds], marker_color=["#2a9d8f", "#e76f51"],
        text=[format_duration(mining_seconds), format_duration(cross_seconds)], textposition="outside",
    ))
    figure.update_layout(title=f"Finding the most similar pairs among {n:,} sentences",
                         yaxis_type="log", yaxis_title="seconds (log scale)",
                         margin=dict(l=10, r=10, t=50, b=10))
    return figure


def _mining_explanation(result: MiningResult, embedder: Embedder) -> str:
    n, per_pair = result.n_sentences, result.sample_seconds / result.sample_pairs
    paper = extrapolate(PAPER_SENTENCES, result.sample_pairs, result.sample_seconds)
    return (
        f"**{n:,} sentences make {pair_count(n):,} pairs.** With sentence embeddings the model "
        f"reads each sentence once ({n:,} sentences: {format_duration(result.embed_seconds)}), then "
        "`util.paraphrase_mining_embeddings` compares all the vectors with a few fast matrix products "
        f"({format_duration(result.mining_seconds - result.embed_seconds)}): "
        f"**{format_duration(result.mining_seconds)}** in all.\n\n"
        "A cross-encoder reads the two sentences of a pair *together*, so it needs one pass per "
        f"pair. We fed {result.sample_pairs} random pairs jointly through the same transformer: "
        f"{format_duration(result.sample_seconds)}, i.e. {per_pair * 1000:.1f} ms per pair. For all "
        f"{pair_count(n):,} pairs that is about **{format_duration(result.cross_seconds)}**, "
        f"**{result.cross_seconds / result.mining_seconds:,.0f}×** slower.\n\n"
        f"The SBERT paper's example is {PAPER_SENTENCES:,} sentences ({pair_count(PAPER_SENTENCES):,} "
        "pairs): about 65 hours with a BERT-base cross-encoder on a V100 GPU, about 5 seconds with "
        f"SBERT. At this machine's per-pair cost ({embedder.describe()}, a much smaller transformer "
        f"than BERT-base) it would be about {format_duration(paper)}. Our model was not trained as "
        "a cross-encoder, so we time its work but show no cross-encoder scores. Timings vary with "
        "what else the machine is doing."
    )


# 4. Frozen vs fine-tuned -------------------------------------------------------------------------

RECORD_COLUMNS = ["Strategy", "Model", "Data", "F1", "Accuracy", "MCC", "Training time", "Trained at"]
FREEZING = ("**Freezing** keeps the pretrained sentence-embedding model exactly as it is and trains "
            "only the small classification layer on top of its vectors: fast, and it works because "
            "the embeddings already capture meaning. Fine-tuning (`freeze_unfreeze`, `no_freeze`) "
            "also adjusts the transformer's own weights for spam detection: slower, and it can gain "
            "a little or overfit a small dataset.")


def frozen_vs_finetuned(records: list[dict] | None = None) -> tuple[pd.DataFrame, str]:
    """The stored spam classifiers' test metrics, and the frozen model's F1 next to the best
    fine-tuned strategy's among those trained on the same data."""
    records = classify.trained_models() if records is None else records
    table = pd.DataFrame([_record_row(r) for r in records], columns=RECORD_COLUMNS)
    frozen = next((r for r in records if r["strategy"] == "freeze"), None)
    if frozen is None:
        return table, ("No frozen model is stored yet: train one with the `freeze` strategy (in the "
                       "Spam / ham tab, or with `python -m semdemo.classify train`) to compare."
                       "\n\n" + FREEZING)
    rivals = [r for r in records if r["strategy"] != "freeze" and _data_of(r) == _data_of(frozen)]
    f1 = frozen["metrics"]["f1"]
    spam = markdown_text(frozen["metrics"].get("positive_label") or "positive-class", 40)
    if not rivals:
        comparison = (f"The frozen model's {spam} F1 is **{f1:.3f}**. Train `freeze_unfreeze` or "
                      "`no_freeze` on the same data (in the Spam / ham tab, or with `python -m "
                      "semdemo.classify train --strategy freeze_unfreeze`) to compare.")
    else:
        best = max(rivals, key=lambda r: r["metrics"]["f1"])
        comparison = (
            f"{spam.capitalize()} F1 on the test split: frozen **{f1:.3f}** vs `{best['strategy']}` "
            f"**{best['metrics']['f1']:.3f}** (the best fine-tuned model trained on the same data), "
            f"after {format_duration(frozen['metrics']['train_seconds'])} vs "
            f"{format_duration(best['metrics']['train_seconds'])} of training."
        )
    return table, comparison + "\n\n" + FREEZING


def _data_of(record: dict) -> str | None:
    """The checksum of the data a classifier was trained on: only equal data compares fairly."""
    return record.get("data", {}).get("checksum")


def _record_row(record: dict) -> list:
    metrics = record["metrics"]
    shipped = Path(record["path"]).parent == classify.SHIPPED_DIR
    return [record["strategy"], "shipped default" if shipped else "trained here",
            record.get("data", {}).get("name", ""), metrics["f1"], metrics["accuracy"], metrics["mcc"],
            format_duration(metrics["train_seconds"]), record.get("trained_at", "")]
