"""Gradio wiring: one function per tab, each connecting components to its backend module."""
from __future__ import annotations

import functools

import gradio as gr

from semdemo import models, similarity
from semdemo.errors import InputError

TITLE = "semdemo: sentence embeddings, hands on"


def shown(fn):
    """Wrap a backend call so bad input reaches the user as a `gr.Error`, not a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as err:
            raise gr.Error(str(err)) from err
    return wrapper


@shown
def compare_pairs(col1_text: str, col2_text: str, threshold: float):
    """Score the pairs typed one per line in each column."""
    result = similarity.compare(similarity.split_lines(col1_text),
                                similarity.split_lines(col2_text), threshold)
    for note in result.notes:
        gr.Warning(note)
    return result.table, result.heatmap, result.explanation


def similarity_tab() -> None:
    with gr.Tab("Pair similarity"):
        gr.Markdown(
            "Type sentences one per line in each column; line *i* of column 1 is compared with "
            "line *i* of column 2. Each sentence becomes a vector, and the **cosine similarity** of "
            "two vectors says how close their meanings are."
        )
        with gr.Row():
            col1 = gr.Textbox(label="Column 1: one sentence per line", lines=5)
            col2 = gr.Textbox(label="Column 2: one sentence per line", lines=5)
        with gr.Row():
            threshold = gr.Slider(-1, 1, value=0.5, step=0.01, label="Threshold: at or above it, Similar")
            compare = gr.Button("Compare", variant="primary")
        gr.Examples(similarity.ARTICLE_EXAMPLES, inputs=[col1, col2], label="Examples (click one)")
        table = gr.Dataframe(headers=similarity.COLUMNS, label="Scores", interactive=False, wrap=True)
        explanation = gr.Markdown()
        heatmap = gr.Plot(label="All pairs")
        compare.click(compare_pairs, [col1, col2, threshold], [table, heatmap, explanation],
                      api_name="similarity", concurrency_limit=similarity.CONCURRENCY)


def build_demo(model: str | None = None, device: str = "auto") -> gr.Blocks:
    """Build the app; the models are loaded (once per process) and warmed before it returns."""
    models.configure(model, device)
    embedder = models.get_embedder()
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}")
        similarity_tab()
        gr.Markdown(f"Model: **{embedder.describe()}**")
    return demo
