"""Embedding map: sentences as points, projected from the model's dimensions down to 2D or 3D
(PCA, t-SNE, UMAP), coloured by label, with the nearest neighbours of a query or of a point.

Embeddings are cached per (model, engine, sentences) and projections per (embeddings, method,
parameters), in memory and as .npy files in the semdemo cache directory, so reopening a set is
instant, even after a restart.
"""
from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import torch
from sentence_transformers import util
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from semdemo import data, models
from semdemo.display import hover_text, markdown_text, plot_text, shorten
from semdemo.errors import InputError

TEACHING_SET = "Teaching set (topics)"
SMS_SET = "SMS Spam Collection"
TYPED = "My sentences"
UPLOADED = "My CSV file"
SOURCES = (TEACHING_SET, SMS_SET, TYPED, UPLOADED)
TEACHING_SET_PATH = Path(__file__).parent / "assets" / "teaching_set.csv"
METHODS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
ENGINES = {"sentence-transformers": "sentence-transformers encode",
           "lightning-flash": "lightning-flash TextEmbedder + Trainer.predict"}
DEFAULT_ENGINE = "sentence-transformers"
MAX_POINTS = int(os.environ.get("SEMDEMO_MAX_POINTS", "20000"))
MAX_COLOURS = 30  # with more distinct labels than this, every point gets one colour
WEBGL_FROM = 1000  # 2D maps with this many points are drawn with WebGL (Scattergl)
PERPLEXITY, N_NEIGHBORS = 30.0, 15  # the t-SNE and UMAP defaults, lowered for tiny sets
SEED = 0
SAME_EMBEDDING = 1e-5  # embeddings closer than this in every dimension are the same point
AXES = ("x", "y", "z")
NO_LABEL = "(no label)"

Progress = Callable[[float, str], None]  # gr.Progress fits: progress(fraction, desc)
log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ the points

@dataclass
class PointSet:
    """The unique sentences of a source, each with its label (or None) and how often it occurs."""

    name: str
    texts: list[str]
    labels: list[str | None]
    counts: list[int]
    notes: list[str] = field(default_factory=list)

    @cached_property
    def checksum(self) -> str:
        """sha256 of the sentences, in order: what the embeddings depend on."""
        return hashlib.sha256(json.dumps(self.texts).encode("utf-8")).hexdigest()


def unique_points(name: str, texts, labels=None, notes=(), max_points: int = MAX_POINTS) -> PointSet:
    """Blank lines dropped, exact duplicates merged into one counted point (first label kept), and
    a sample stratified by label when more than `max_points` remain."""
    frame = pd.DataFrame({"text": [data.clean_text(str(t)) for t in texts],
                          "label": list(labels) if labels is not None else None})
    frame = frame[frame["text"] != ""]
    if frame.empty:
        raise InputError(f"No sentences in {name}: every line is empty. "
                         "Give at least two sentences, one per line.")
    merged = (frame.groupby("text", sort=False)
              .agg(label=("label", "first"), count=("text", "size")).reset_index())
    notes = list(notes)
    if len(merged) < len(frame):
        notes.append(f"{len(frame) - len(merged):,} repeated sentence(s) merged: each sentence is "
                     "one point, and its hover says how often it occurs.")
    if len(merged) > max_points:
        shuffled = merged.sample(frac=1.0, random_state=SEED)
        by_label = shuffled.groupby("label", dropna=False)
        quota = (by_label["text"].transform("size") * max_points / len(merged)).astype(int)
        sample = shuffled[by_label.cumcount() < quota].sort_index()  # each label in its share
        shares = ", each label keeping its share" if merged["label"].notna().any() else ""
        notes.append(f"Showing a random sample of {len(sample):,} of {len(merged):,} sentences"
                     f"{shares} (the limit is {max_points:,}: SEMDEMO_MAX_POINTS).")
        merged = sample
    labels = [label if isinstance(label, str) and label else None for label in merged["label"]]
    return PointSet(name, merged["text"].tolist(), labels, merged["count"].tolist(), notes)


def load_points(source: str, sentences: str = "", csv_path: str | None = None,
                text_col: str | None = None, label_col: str | None = None,
                max_points: int = MAX_POINTS) -> PointSet:
    """The points of a built-in set, of typed sentences (one per line) or of an uploaded CSV."""
    if source == TEACHING_SET:
        frame = data.read_table(TEACHING_SET_PATH, text_col="text", label_col="label").frame
        return unique_points(TEACHING_SET, frame["text"], frame["label"], max_points=max_points)
    if source == SMS_SET:
        frame = data.load_sms()
        return unique_points(SMS_SET, frame["text"], frame["label"], max_points=max_points)
    if source == TYPED:
        return unique_points("your sentences", (sentences or "").splitlines(), max_points=max_points)
    if source == UPLOADED:
        if not csv_path:
            raise InputError("Upload a CSV file first, or pick another source.")
        table = data.read_table(csv_path, text_col=text_col or None, label_col=label_col or None,
                                require_label=False)
        return unique_points(table.name, table.frame["text"], table.frame["label"],
                             notes=table.skipped, max_points=max_points)
    raise InputError(f"Unknown source {source!r}; choose one of: {', '.join(SOURCES)}.")


def csv_columns(csv_path: str) -> list[str]:
    """The columns of an uploaded CSV, for the column pickers."""
    return data.read_table(csv_path, require_label=False).columns


# ------------------------------------------------------------------------------ the caches

class ArrayCache:
    """Arrays by key: the most recent few in memory, all as .npy files (numpy's format, never
    pickle) under `data.cache_dir() / folder`, so they outlive a restart."""

    def __init__(self, folder: str, keep: int = 8):
        self.folder = folder
        self.keep = keep
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memory_lock = threading.Lock()
        self._compute_lock = threading.Lock()  # one computation at a time: the CPU is shared

    def get_or_compute(self, key: str, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
        """The array for `key`, and whether it came from the cache; computed and stored if absent."""
        found = self._lookup(key)
        if found is not None:
            return found, True
        with self._compute_lock:
            found = self._lookup(key)  # a concurrent caller may have computed it meanwhile
            if found is not None:
                return found, True
            array = np.ascontiguousarray(compute(), dtype=np.float32)
            self._remember(key, array)
            self._save(key, array)
        return array, False

    def forget(self) -> None:
        """Drop the in-memory copies (the files stay), as a restarted server would."""
        with self._memory_lock:
            self._memory.clear()

    def _path(self, key: str) -> Path:
        return data.cache_dir() / self.folder / f"{key}.npy"

    def _lookup(self, key: str) -> np.ndarray | None:
        with self._memory_lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:  # a damaged file is computed again
            log.warning("ignoring unreadable cache file %s: %s", path, err)
            return None
        self._remember(key, array)
        return array

    def _remember(self, key: str, array: np.ndarray) -> None:
        array.flags.writeable = False  # shared between requests
        with self._memory_lock:
            self._memory[key] = array
            self._memory.move_to_end(key)
            while len(self._memory) > self.keep:
                self._memory.popitem(last=False)

    def _save(self, key: str, array: np.ndarray) -> None:
        """Write atomically (temp file + rename); a read-only or full disk keeps the memory copy."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy.tmp", delete=False) as out:
                np.save(out, array, allow_pickle=False)
            os.replace(out.name, path)
        except OSError as err:
            log.warning("could not write cache file %s: %s", path, err)


embedding_cache = ArrayCache("embeddings")
projection_cache = ArrayCache("projections")


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()[:40]


# ------------------------------------------------------------------------------ embeddings

def engine(name: str):
    """The warm bulk-embedding engine: sentence-transformers `encode` or lightning-flash."""
    if name == "sentence-transformers":
        return models.get_embedder()
    if name == "lightning-flash":
        return models.get_flash_embedder()
    raise InputError(f"Unknown engine {name!r}; choose one of: {', '.join(ENGINES)}.")


def embedding_key(points: PointSet, engine_name: str) -> str:
    """What the embeddings depend on: model, device and precision, engine, and the sentences."""
    embedder = models.get_embedder()
    return _key(embedder.name_or_path, embedder.device, embedder.dtype, engine_name, points.checksum)


def embed(points: PointSet, engine_name: str = DEFAULT_ENGINE,
          progress: Progress | None = None) -> tuple[np.ndarray, bool]:
    """The embeddings of `points.texts` (one row each), and whether they came from the cache."""
    encoder = engine(engine_name)
    key = embedding_key(points, engine_name)

    def report(done: int, total: int) -> None:
        if progress:
            progress(done / total, f"Embedding sentences: {done:,} of {total:,}")

    return embedding_cache.get_or_compute(
        key, lambda: encoder.encode_bulk(points.texts, on_progress=report).numpy())


# ------------------------------------------------------------------------------ projections

@dataclass
class Projection:
    """How to project: method, dimensions and parameters, adapted to the number of points."""

    method: str
    dims: int
    params: dict
    notes: list[str] = field(default_factory=list)


def plan_projection(n: int, method: str, dims: int) -> Projection:
    """The projection of `n` points, with parameters lowered (and a note) for tiny sets, or a
    clear minimum-size message where no parameter helps."""
    if method not in METHODS:
        raise InputError(f"Unknown method {method!r}; choose one of: {', '.join(METHODS)}.")
    dims = int(dims)
    if dims not in (2, 3):
        raise InputError(f"Dimensions must be 2 or 3, not {dims}.")
    if n < 2:
        raise InputError(f"A map needs at least 2 different sentences; got {n}.")
    notes = []
    if dims == 3 and n < 3:
        dims = 2
        notes.append(f"3D needs at least 3 different sentences; got {n}, so the map is 2D.")
    params: dict = {}
    if method == "tsne":
        params["perplexity"] = min(PERPLEXITY, n - 1.0)
        if params["perplexity"] < PERPLEXITY:
            notes.append(f"t-SNE perplexity lowered from {PERPLEXITY:g} to {params['perplexity']:g}: "
                         f"it must be below the number of points ({n}).")
    elif method == "umap":
        if n < 3:
            raise InputError(f"UMAP needs at least 3 different sentences; got {n}. "
                             "Add sentences, or choose PCA or t-SNE.")
        params["n_neighbors"] = min(N_NEIGHBORS, n - 1)
        # The spectral start solves for dims + 1 eigenvectors, which needs more points than that.
        params["init"] = "spectral" if n > dims + 1 else "random"
        if params["n_neighbors"] < N_NEIGHBORS:
            notes.append(f"UMAP neighbours lowered from {N_NEIGHBORS} to {params['n_neighbors']}: "
                         f"there are only {n} points"
                         + (", and they start from a random layout." if params["init"] == "random"
                            else "."))
    return Projection(method, dims, params, notes)


def _fit_transform(vectors: np.ndarray, plan: Projection) -> np.ndarray:
    if plan.method == "pca":
        return PCA(n_components=plan.dims, random_state=SEED).fit_transform(vectors)
    if plan.method == "tsne":
        return TSNE(n_components=plan.dims, metric="cosine", init="pca", random_state=SEED,
                    **plan.params).fit_transform(vectors)
    import umap  # imported on first use: it takes seconds (numba)

    return umap.UMAP(n_components=plan.dims, metric="cosine", random_state=SEED, n_jobs=1,
                     **plan.params).fit_transform(vectors)


def project(vectors: np.ndarray, vectors_key: str, plan: Projection,
            progress: Progress | None = None) -> tuple[np.ndarray, bool]:
    """The projected coordinates (one row per point), and whether they came from the cache."""
    key = _key(vectors_key, plan.method, plan.dims, plan.params)

    def compute() -> np.ndarray:
        if progress:
            progress(0.0, f"Projecting {len(vectors):,} points with {METHODS[plan.method]}")
        return _fit_transform(vectors, plan)

    return projection_cache.get_or_compute(key, compute)


# ------------------------------------------------------------------------------ the map

@dataclass
class EmbeddingMap:
    """Points with their embeddings and projected coordinates."""

    points: PointSet
    vectors: np.ndarray
    coords: np.ndarray
    plan: Projection
    engine: str
    summary: str

    @property
    def notes(self) -> list[str]:
        return self.points.notes + self.plan.notes


def build_map(points: PointSet, method: str = "pca", dims: int = 2,
              engine_name: str = DEFAULT_ENGINE, progress: Progress | None = None) -> EmbeddingMap:
    """Embed (cached) and project (cached) the points."""
    plan = plan_projection(len(points.texts), method, dims)
    start = time.perf_counter()
    vectors, embedded_before = embed(points, engine_name, progress)
    if np.ptp(vectors, axis=0).max() < SAME_EMBEDDING:  # t-SNE would crash the process on them
        raise InputError(
            f"All {len(points.texts)} sentences get the same embedding, so a map cannot tell them "
            "apart: the model ignores upper and lower case, and reads characters it does not know "
            "(such as emoji) as one unknown token. Add sentences with different words.")
    middle = time.perf_counter()
    coords, projected_before = project(vectors, embedding_key(points, engine_name), plan, progress)
    end = time.perf_counter()

    def timing(cached: bool, seconds: float) -> str:
        return "from the cache" if cached else f"computed in {seconds:.1f} s"

    summary = (f"**{len(points.texts):,} sentences** from {markdown_text(points.name, 80)}, "
               f"{METHODS[plan.method]} {plan.dims}D. Embeddings ({ENGINES[engine_name]}, "
               f"{vectors.shape[1]} numbers each): {timing(embedded_before, middle - start)}; "
               f"projection: {timing(projected_before, end - middle)}.")
    return EmbeddingMap(points, vectors, coords, plan, engine_name, summary)


def _hover(number: int, text: str, label: str | None, count: int) -> str:
    head = f"<b>#{number}</b>" + (f" · {plot_text(label, 40)}" if label else "")
    tail = f"<br><i>occurs {count} times</i>" if count > 1 else ""
    return f"{head}<br>{hover_text(text)}{tail}"


def figure(emap: EmbeddingMap) -> go.Figure:
    """Plotly scatter, one point per sentence coloured by label; hover shows number, label, text."""
    points, dims = emap.points, emap.plan.dims
    frame = pd.DataFrame(emap.coords, columns=list(AXES[:dims]))
    distinct = {label for label in points.labels if label}
    colours = [html.escape(label or NO_LABEL) for label in points.labels]
    frame["label"] = colours if 0 < len(distinct) <= MAX_COLOURS else "sentence"
    frame["hover"] = [_hover(i + 1, text, label, count) for i, (text, label, count)
                      in enumerate(zip(points.texts, points.labels, points.counts))]
    if dims == 3:
        fig = px.scatter_3d(frame, x="x", y="y", z="z", color="label", custom_data=["hover"])
    else:
        fig = px.scatter(frame, x="x", y="y", color="label", custom_data=["hover"],
                         render_mode="webgl" if len(frame) >= WEBGL_FROM else "svg")
    fig.update_traces(hovertemplate="%{customdata[0]}<extra></extra>",
                      marker=dict(size=4 if len(frame) >= WEBGL_FROM else 7, opacity=0.8))
    axis = METHODS[emap.plan.method]
    titles = {f"{a}axis_title": f"{axis} {i + 1}" for i, a in enumerate(AXES[:dims])}
    if dims == 3:
        fig.update_layout(scene=titles)
    else:
        fig.update_layout(**titles)
    fig.update_layout(title=f"{plot_text(points.name, 60)}: {len(frame):,} sentences, {axis} {dims}D",
                      legend_title_text="label", height=620, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def coordinates(emap: EmbeddingMap) -> pd.DataFrame:
    """The projected coordinates as a table: point number, x, y (z), label, count, text."""
    frame = pd.DataFrame(np.round(emap.coords.astype(float), 4), columns=list(AXES[:emap.plan.dims]))
    frame.insert(0, "point", range(1, len(frame) + 1))
    frame["label"] = emap.points.labels
    frame["count"] = emap.points.counts
    frame["text"] = emap.points.texts
    return frame


@dataclass
class MapResult:
    """Everything the map shows."""

    figure: go.Figure
    coordinates: pd.DataFrame
    summary: str
    notes: list[str]


def draw(points: PointSet, method: str = "pca", dims: int = 2, engine_name: str = DEFAULT_ENGINE,
         progress: Progress | None = None) -> MapResult:
    """The map of `points`: figure, coordinates table, a summary and notes to show."""
    emap = build_map(points, method, dims, engine_name, progress)
    return MapResult(figure(emap), coordinates(emap), emap.summary, emap.notes)


# ------------------------------------------------------------------------------ neighbours

NEIGHBOUR_COLUMNS = ["rank", "point", "score", "label", "text"]


@dataclass
class NeighbourResult:
    """The k nearest points of a query or of a picked point, and the map with them highlighted."""

    table: pd.DataFrame
    figure: go.Figure
    notes: list[str]


def nearest(points: PointSet, query: str = "", point: int | None = None, k: int = 5,
            method: str = "pca", dims: int = 2, engine_name: str = DEFAULT_ENGINE,
            progress: Progress | None = None) -> NeighbourResult:
    """The `k` points most similar (cosine) to the query sentence, or, when the query is empty, to
    point number `point` (itself left out)."""
    emap = build_map(points, method, dims, engine_name, progress)
    n = len(points.texts)
    picked = None
    query = data.clean_text(query)
    if query:
        target = engine(engine_name).encode([query])
        title = f"Nearest neighbours of “{plot_text(query, 60)}”"
    elif point is not None:  # points are numbered from 1
        picked = int(point) - 1
        if not 0 <= picked < n:
            raise InputError(f"There is no point #{int(point)}: the map has points #1 to #{n}.")
        target = torch.tensor(emap.vectors[picked:picked + 1])
        title = f"Nearest neighbours of point #{picked + 1}"
    else:
        raise InputError("Type a sentence in the query box, or give a point number "
                         "(hover a point to see its number).")
    k = max(1, int(k))
    hits = util.semantic_search(target, torch.tensor(emap.vectors),
                                top_k=k + (picked is not None))[0]
    hits = [hit for hit in hits if hit["corpus_id"] != picked][:k]
    table = pd.DataFrame(
        [[rank, hit["corpus_id"] + 1, round(hit["score"], 3), points.labels[hit["corpus_id"]],
          points.texts[hit["corpus_id"]]] for rank, hit in enumerate(hits, 1)],
        columns=NEIGHBOUR_COLUMNS)
    fig = figure(emap)
    _highlight(fig, emap, [hit["corpus_id"] for hit in hits], [hit["score"] for hit in hits], picked)
    fig.update_layout(title=title)
    return NeighbourResult(table, fig, emap.notes)


def _highlight(fig: go.Figure, emap: EmbeddingMap, ids: list[int], scores: list[float],
               picked: int | None) -> None:
    """Rings around the neighbours (hover: rank and score) and a diamond on the picked point."""
    dims = emap.plan.dims
    trace = go.Scatter3d if dims == 3 else (go.Scattergl if len(emap.coords) >= WEBGL_FROM
                                            else go.Scatter)

    def marked(rows: list[int], name: str, symbol: str, size: int, hover: list[str]):
        axes = {a: emap.coords[rows, i] for i, a in enumerate(AXES[:dims])}
        fig.add_trace(trace(**axes, mode="markers", name=name, customdata=hover,
                            hovertemplate="%{customdata}<extra></extra>",
                            marker=dict(symbol=symbol, size=size, color="black",
                                        line=dict(width=2, color="black"))))

    marked(ids, "nearest neighbours", "circle-open", 16 if dims == 2 else 8,
           [f"<b>neighbour {rank}</b> · score {score:.3f}<br>"
            + _hover(i + 1, emap.points.texts[i], emap.points.labels[i], emap.points.counts[i])
            for rank, (i, score) in enumerate(zip(ids, scores), 1)])
    if picked is not None:
        marked([picked], "picked point", "diamond", 14 if dims == 2 else 7,
               ["<b>picked point</b><br>" + _hover(picked + 1, emap.points.texts[picked],
                                                   emap.points.labels[picked],
                                                   emap.points.counts[picked])])
