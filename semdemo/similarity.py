"""Pair similarity: cosine scores with a threshold, and the full column-1 x column-2 matrix."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go
import torch
from sentence_transformers import util

from semdemo.data import clean_text
from semdemo.display import hover_text, markdown_text, plot_text
from semdemo.errors import InputError
from semdemo.models import Embedder, get_embedder

MAX_PAIRS = int(os.environ.get("SEMDEMO_MAX_PAIRS", "1000"))
# Concurrent requests Gradio hands to `compare_many` as one batch: one forward pass for all their
# sentences, and one trip through Gradio's queue instead of one per request.
MAX_BATCH = 32
# Batches in flight at once: while one is computed, Gradio sends out the previous one's answers.
CONCURRENT_BATCHES = 2
HEATMAP_MAX = 40  # sentences per heatmap axis; more would be unreadable in a browser
EMPTY_NOTE = "not scored: both sentences need text"
UNKNOWN_NOTE = "the model knows none of its characters"
COLUMNS = ["Sentence 1", "Sentence 2", "Score", "Result", "Note"]

ARTICLE_EXAMPLES = [
    ["I like to watch tv\nThe cat was running after the butterfly",
     "Watching Television is my favorite time pass\nIt is so windy today"],
    ["A man is playing a guitar.\nThe new movie is awesome.\nA woman is slicing an onion.",
     "Someone plays an instrument.\nThe film was great.\nA man is riding a horse."],
    ["How do I reset my password?\nThe weather will be sunny tomorrow.",
     "I forgot my login, how can I change it?\nStock prices fell sharply today."],
]


@dataclass
class SimilarityResult:
    """Everything the pair-similarity tab shows."""

    table: pd.DataFrame
    heatmap: go.Figure | None
    explanation: str
    notes: list[str] = field(default_factory=list)


def split_lines(text: str) -> list[str]:
    """One sentence per line; trailing blank lines dropped, other blank lines kept as empty rows."""
    lines = (text or "").split("\n")
    while lines and not clean_text(lines[-1]):
        lines.pop()
    return lines


def check_pairs(col1: list[str], col2: list[str], max_pairs: int = MAX_PAIRS) -> None:
    """Refuse input that cannot be scored at all, with a message saying how to fix it."""
    if bool(col1) != bool(col2):
        raise InputError(f"Column {1 if col2 else 2} has no text: both sentences of a pair need "
                         "text (one sentence per line in each column).")
    if len(col1) != len(col2):
        raise InputError(
            f"Column 1 has {len(col1)} sentences but column 2 has {len(col2)}: "
            "give one sentence per line in each, paired line by line."
        )
    if not col1:
        raise InputError("Type at least one pair of sentences (one per line in each column).")
    if len(col1) > max_pairs:
        raise InputError(f"{len(col1)} pairs is more than the limit of {max_pairs} per request.")
    if not any(clean_text(a) and clean_text(b) for a, b in zip(col1, col2)):
        raise InputError("No pair to score: both sentences of a pair need text.")


def check_threshold(threshold: float | None) -> float:
    """The threshold as a float in [-1, 1], the range of cosine similarity; None means 0.5."""
    if threshold is None:
        return 0.5
    try:
        value = float(threshold)
    except (TypeError, ValueError) as err:
        raise InputError(f"The threshold must be a number from -1 to 1, not {threshold!r}.") from err
    if math.isnan(value) or not -1 <= value <= 1:
        raise InputError(f"The threshold must be from -1 to 1 (the range of cosine "
                         f"similarity), not {threshold!r}.")
    return value


def check_request(col1: list[str], col2: list[str], threshold: float | None,
                  max_pairs: int = MAX_PAIRS) -> float:
    """Refuse a request that cannot be scored (`InputError`); its threshold as a float."""
    threshold = check_threshold(threshold)
    check_pairs(col1, col2, max_pairs)
    return threshold


def compare(col1: list[str], col2: list[str], threshold: float = 0.5,
            embedder: Embedder | None = None, max_pairs: int = MAX_PAIRS) -> SimilarityResult:
    """Score each pair (col1[i], col2[i]) by cosine similarity of their sentence embeddings."""
    result = compare_many([(col1, col2, threshold)], embedder, max_pairs)[0]
    if isinstance(result, InputError):
        raise result
    return result


def compare_many(requests: list[tuple[list[str], list[str], float]],
                 embedder: Embedder | None = None,
                 max_pairs: int = MAX_PAIRS) -> list[SimilarityResult | InputError]:
    """Score several requests with one forward pass over all their distinct sentences.

    Concurrent users' requests are batched here, so the model runs once per batch, not per user.
    A request that cannot be scored gets its `InputError` in its place; the others are scored
    exactly as they would be alone.
    """
    checked: list[tuple[list[tuple[str, str]], float] | InputError] = []
    for col1, col2, threshold in requests:
        try:
            threshold = check_request(col1, col2, threshold, max_pairs)
        except InputError as err:
            checked.append(err)
            continue
        checked.append(([(clean_text(a), clean_text(b)) for a, b in zip(col1, col2)], threshold))
    scorable = [request for request in checked if not isinstance(request, InputError)]
    if not scorable:
        return checked
    embedder = embedder or get_embedder()
    unique = list(dict.fromkeys(text for pairs, _ in scorable for pair in pairs
                                for text in pair if text))
    vectors = embedder.encode(unique)
    index = {text: row for row, text in enumerate(unique)}
    notes = _token_notes(embedder, unique)
    return [request if isinstance(request, InputError) else
            _result(*request, vectors, index, notes, embedder.max_tokens) for request in checked]


def _result(pairs: list[tuple[str, str]], threshold: float, vectors: torch.Tensor,
            index: dict[str, int], notes: dict[str, str], max_tokens: int) -> SimilarityResult:
    """One request's table, heatmap and explanation from the shared vectors."""
    scored = [i for i, (a, b) in enumerate(pairs) if a and b]
    left = [pairs[i][0] for i in scored]
    right = [pairs[i][1] for i in scored]
    left_vecs = vectors[[index[t] for t in left]]
    right_vecs = vectors[[index[t] for t in right]]
    matrix = util.cos_sim(left_vecs, right_vecs)

    rows = [[a, b, None, "", EMPTY_NOTE] for a, b in pairs]
    for k, i in enumerate(scored):
        score = round(float(matrix[k, k]), 3)
        a, b = pairs[i]
        rows[i][2:] = [score, "Similar" if score >= threshold else "Not similar",
                       "; ".join(dict.fromkeys(notes[t] for t in (a, b) if t in notes))]
    table = pd.DataFrame(rows, columns=COLUMNS, dtype=object)  # object: no score is None, not NaN
    messages = []
    if len(scored) < len(pairs):
        messages.append(f"{len(pairs) - len(scored)} pair(s) not scored: both sentences need text.")
    shown = set(left + right)
    truncated = sum(1 for text in shown if notes.get(text) not in (None, UNKNOWN_NOTE))
    if truncated:
        messages.append(f"{truncated} sentence(s) longer than {max_tokens} tokens were "
                        "truncated before scoring.")
    if any(notes.get(text) == UNKNOWN_NOTE for text in shown):
        messages.append("Some sentences are only characters the model does not know (emoji, "
                        "an unknown script, a word of over 100 letters): it reads them all as one "
                        "unknown token, so such sentences score as the same.")
    explanation = explain_cosine(left[0], right[0], left_vecs[0], right_vecs[0], float(matrix[0, 0]))
    return SimilarityResult(
        table=table,
        heatmap=heatmap(left, right, matrix),
        explanation="\n\n".join([f"**Note:** {m}" for m in messages] + [explanation]),
        notes=messages,
    )


def _token_notes(embedder: Embedder, texts: list[str]) -> dict[str, str]:
    """A note for each text the model truncates to its maximum number of tokens, or reads only
    as unknown tokens."""
    limit, notes = embedder.max_tokens, {}
    for text, ids in zip(texts, embedder.token_ids(texts)):
        if len(ids) > limit:
            notes[text] = f"truncated to {limit} tokens (had {len(ids)})"
        elif embedder.all_unknown(ids):
            notes[text] = UNKNOWN_NOTE
    return notes


def heatmap(left: list[str], right: list[str], matrix: torch.Tensor) -> go.Figure:
    """Plotly heatmap of cosine scores; axes are the sentences, hover shows full text and score.

    Every request draws one, so it is cheap: built from one dict (plotly validates it once,
    several times faster than `update_layout` calls), and with no template (a heatmap fills its
    plot area, so plotly's default template would only add 6 KB of JSON to every answer).
    """
    left, right = left[:HEATMAP_MAX], right[:HEATMAP_MAX]
    z = matrix[: len(left), : len(right)].numpy()
    hover = [[f"<b>1:</b> {hover_text(a)}<br><b>2:</b> {hover_text(b)}" for b in right] for a in left]
    rows = [f"{i + 1}. {plot_text(t, 30)}" for i, t in enumerate(left)]
    # Room for the longest row label (about 7 px a character) and the axis title, set here:
    # plotly's automargin alone sometimes leaves the labels cut off after a resize.
    left_margin = 40 + 7 * max(map(len, rows))
    return go.Figure({
        "data": [{
            "type": "heatmap", "z": z, "zmin": -1, "zmax": 1, "colorscale": "RdBu_r",
            "x": [f"{j + 1}. {plot_text(t, 30)}" for j, t in enumerate(right)], "y": rows,
            "customdata": hover, "hovertemplate": "%{customdata}<br>cosine %{z:.3f}<extra></extra>",
            "texttemplate": "%{z:.2f}" if z.size <= 400 else None,
        }],
        "layout": {
            "title": {"text": "Cosine similarity, every sentence of column 1 x column 2"},
            "xaxis": {"title": {"text": "column 2"}, "automargin": True},
            "yaxis": {"title": {"text": "column 1"}, "autorange": "reversed", "automargin": True},
            "margin": {"l": left_margin, "r": 10, "t": 50, "b": 10}, "template": "none",
        },
    })


def explain_cosine(a: str, b: str, u: torch.Tensor, v: torch.Tensor, library_score: float,
                   heading: str = "How the first score is computed") -> str:
    """Markdown walking through cos(u, v) = u·v / (|u| |v|) for one pair, with the real numbers."""
    dot, norm_u, norm_v = float(u @ v), float(u.norm()), float(v.norm())
    first = ", ".join(f"{x:.3f}" for x in u[:3].tolist())
    return (
        f"**{heading}.** Each sentence becomes a vector of {u.numel()} numbers "
        f"(\"{markdown_text(a, 40)}\" starts {first}, …). Cosine similarity is the dot product divided by "
        f"both lengths:\n\n"
        f"cos = u·v / (|u| |v|) = {dot:.4f} / ({norm_u:.4f} × {norm_v:.4f}) = "
        f"**{dot / (norm_u * norm_v):.4f}** (library `util.cos_sim`: {library_score:.4f}).\n\n"
        "Scores range from -1 (opposite) through 0 (unrelated) to 1 (same direction)."
    )
