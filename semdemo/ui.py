"""Gradio wiring: one function per tab, each connecting components to its backend module."""
from __future__ import annotations

import functools

import gradio as gr
import pandas as pd
from pandas.io.formats.style import Styler

from semdemo import classify, models, similarity
from semdemo import data, visualize
from semdemo import explain
from semdemo.display import shorten
from semdemo.errors import InputError

TITLE = "semdemo: sentence embeddings, hands on"
INTRO = ("**Start here:** on *Pair similarity*, click an example and press **Compare**. Then draw "
         "sentences on the *Embedding map*, sort *Spam / ham*, and see *Why sentence embeddings* work.")
DECIMALS = 3  # every number in every table is shown with this many decimals


def shown(fn):
    """Wrap a backend call so bad input reaches the user as a `gr.Error`, not a traceback. The
    message stays until closed: a student may read it slowly, or look away. Such input is
    expected, so the server log gets no traceback for it."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as err:
            raise gr.Error(str(err), duration=None, print_exception=False) from err
    return wrapper


def shown_rounded(table: pd.DataFrame, decimals: dict[str, int] | None = None) -> Styler:
    """The table as displayed: numbers with `DECIMALS` decimals (or, for the columns in
    `decimals`, that many), missing values blank. The API still returns the numbers themselves."""
    styler = table.style.format(precision=DECIMALS, na_rep="")
    for column, places in (decimals or {}).items():
        styler = styler.format(precision=places, na_rep="", subset=[column])
    return styler


def pair_labels(examples: list[list[str]], limit: int = 60) -> list[str]:
    """A label per two-column example: its number of pairs and its first pair, joined by ↔ (the
    examples table would run each column's lines together). Gradio cuts labels at 60 characters."""
    labels = []
    for col1, col2 in examples:
        pairs = list(zip(col1.split("\n"), col2.split("\n")))
        a, b = pairs[0]
        start = f"{len(pairs)} pairs: "
        start += f"{shorten(a, max(limit - len(start) - len(b) - 3, limit // 2 - 2))} ↔ "
        labels.append(start + shorten(b, limit - len(start)))
    return labels


@shown
def check_pairs(col1_text: str, col2_text: str, threshold: float) -> None:
    """Refuse, with a message, a request that cannot be scored, before it joins a batch."""
    similarity.check_request(similarity.split_lines(col1_text), similarity.split_lines(col2_text),
                             threshold)


def compare_pairs(col1_texts: list, col2_texts: list, thresholds: list):
    """Score a batch of requests (Gradio merges concurrent clicks into one call) in one forward
    pass. One request's error cannot fail the others: it answers with its message (the button
    already showed it as an error, in `check_pairs`; this reaches API callers).

    The values arrive as sent (the event skips Gradio's preprocessing, whose slider range check
    would fail the whole batch for one bad threshold): texts are made strings here, and
    `similarity` checks each threshold itself."""
    results = similarity.compare_many([
        (similarity.split_lines(as_text(col1)), similarity.split_lines(as_text(col2)), threshold)
        for col1, col2, threshold in zip(col1_texts, col2_texts, thresholds)])
    tables, heatmaps, explanations = [], [], []
    for result in results:
        if isinstance(result, InputError):
            tables.append(pd.DataFrame(columns=similarity.COLUMNS))
            heatmaps.append(None)
            explanations.append(f"**Not scored:** {result}")
        else:  # its notes (empty or truncated sentences) head the explanation
            tables.append(shown_rounded(result.table))
            heatmaps.append(result.heatmap)
            explanations.append(result.explanation)
    return tables, heatmaps, explanations


def as_text(value) -> str:
    """A textbox value as Gradio's preprocessing would pass it: a string ("" for none)."""
    return "" if value is None else str(value)


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
        gr.Examples(similarity.ARTICLE_EXAMPLES, inputs=[col1, col2],
                    example_labels=pair_labels(similarity.ARTICLE_EXAMPLES),
                    label="Examples (click one; ↔ joins the two sentences of a pair)")
        table = gr.Dataframe(headers=similarity.COLUMNS, label="Scores", interactive=False, wrap=True,
                             column_widths=["30%", "30%", "9%", "13%", "18%"])
        explanation = gr.Markdown()
        heatmap = gr.Plot(label="All pairs")
        compare.click(check_pairs, [col1, col2, threshold], None, concurrency_limit=None,
                      api_visibility="private"
                      ).success(compare_pairs, [col1, col2, threshold], [table, heatmap, explanation],
                                api_name="similarity", batch=True, preprocess=False,
                                max_batch_size=similarity.MAX_BATCH,
                                concurrency_limit=similarity.CONCURRENT_BATCHES)


@shown
def draw_map(source, sentences, csv_file, text_col, label_col, method, dims, engine,
             progress=gr.Progress()):
    """Embed and project the chosen sentences: the map, its coordinates and a summary."""
    points = visualize.load_points(source, sentences, csv_file, text_col, label_col)
    result = visualize.draw(points, method, int(dims or 2), engine, progress)
    for note in result.notes:
        gr.Warning(note)
    notes = "".join(f"\n- {note}" for note in result.notes)
    return result.figure, shown_rounded(result.coordinates), result.summary + notes


@shown
def find_neighbours(source, sentences, csv_file, text_col, label_col, method, dims, engine,
                    query, point, k, progress=gr.Progress()):
    """The k nearest sentences of the query (or of a point), highlighted on the map."""
    points = visualize.load_points(source, sentences, csv_file, text_col, label_col)
    result = visualize.nearest(points, query, point_number(point), int(k or 5), method,
                               int(dims or 2), engine, progress)
    for note in result.notes:
        gr.Warning(note)
    return shown_rounded(result.table), result.figure


def point_number(typed) -> int | None:
    """The point number typed in its box (a textbox, so that it can start empty); None if empty."""
    text = str(typed if typed is not None else "").strip()
    if not text:
        return None
    if not text.isdecimal():  # not isdigit: "²" is a digit that int() refuses
        raise InputError(f"A point number is a whole number such as 12, not “{text}”.")
    return int(text)


def pick_columns(csv_file):
    """Offer the uploaded CSV's columns in the text and label pickers."""
    columns = []
    if csv_file:
        try:
            columns = visualize.csv_columns(csv_file)
        except InputError as err:
            gr.Warning(str(err))
    return gr.update(choices=columns, value=None), gr.update(choices=columns, value=None)


def visualize_tab() -> None:
    with gr.Tab("Embedding map"):
        gr.Markdown(
            "Each sentence becomes a vector of hundreds of numbers. **PCA**, **t-SNE** or **UMAP** "
            "squeeze those vectors onto a 2D or 3D map that keeps similar meanings close together. "
            "Hover a point to read it; below the map, find the nearest neighbours of any sentence."
        )
        with gr.Row():
            source = gr.Radio(list(visualize.SOURCES), value=visualize.TEACHING_SET, label="Sentences")
            # t-SNE by default: on the teaching set it separates all 8 topics, PCA only a few.
            method = gr.Radio([(name, key) for key, name in visualize.METHODS.items()], value="tsne",
                              label="Projection")
            dims = gr.Radio([2, 3], value=2, label="Dimensions")
            engine = gr.Radio([(name, key) for key, name in visualize.ENGINES.items()],
                              value=visualize.DEFAULT_ENGINE, label="Embedding engine")
        sentences = gr.Textbox(label="My sentences: one per line", lines=6, visible=False)
        with gr.Row(visible=False) as upload_row:
            csv_file = gr.File(label="CSV file", file_types=data.UPLOAD_TYPES, type="filepath")
            text_col = gr.Dropdown(label="Text column (empty: Message)", allow_custom_value=True)
            label_col = gr.Dropdown(label="Label column, for colours (optional)", allow_custom_value=True)
        draw = gr.Button("Draw the map", variant="primary")
        summary = gr.Markdown()
        plot = gr.Plot(label="Embedding map")
        with gr.Row():
            query = gr.Textbox(label="Nearest neighbours of this sentence", scale=3,
                               placeholder="e.g. The goalkeeper stopped the penalty kick.")
            point = gr.Textbox(label="…or of point # (when the sentence box is empty)",
                               placeholder="e.g. 12")
            k = gr.Slider(1, 20, value=5, step=1, label="How many")
            find = gr.Button("Find neighbours")
        neighbours = gr.Dataframe(headers=visualize.NEIGHBOUR_COLUMNS, label="Nearest neighbours",
                                  interactive=False, wrap=True)
        with gr.Accordion("Projected coordinates", open=False):
            coordinates = gr.Dataframe(label="One row per point", interactive=False)
        source.change(lambda chosen: (gr.update(visible=chosen == visualize.TYPED),
                                      gr.update(visible=chosen == visualize.UPLOADED)),
                      source, [sentences, upload_row], api_visibility="private")
        csv_file.change(pick_columns, csv_file, [text_col, label_col], api_visibility="private")
        inputs = [source, sentences, csv_file, text_col, label_col, method, dims, engine]
        # One projection at a time: t-SNE/UMAP of thousands of points keep the CPU busy.
        draw.click(draw_map, inputs, [plot, coordinates, summary], api_name="visualize",
                   concurrency_limit=1)
        gr.on([find.click, query.submit], find_neighbours, inputs + [query, point, k],
              [neighbours, plot], api_name="neighbours", concurrency_limit=4)


@shown
def check_message(message: str) -> None:
    """Refuse an empty message with a message, before it joins a batch."""
    classify.check_messages([message or ""])


def classify_messages(messages: list[str]):
    """Both class probabilities of each message of a batch (Gradio merges concurrent requests),
    for a `gr.Label`; an empty message (the button refused it already) gets no prediction."""
    return [[None if result is None else result["probabilities"]
             for result in classify.classify_each(messages)]]


@shown
def classify_many(pasted: str, csv_file, text_col):
    """Label many messages (pasted or uploaded): the table and a CSV file of it."""
    table, download, notes = classify.classify_batch(pasted, csv_file, text_col or None)
    for note in notes:
        gr.Warning(note)
    return shown_rounded(table), download


@shown
def train_classifier(source, csv_file, text_col, label_col, strategy, epochs,
                     progress=gr.Progress()):
    """Train on the SMS collection or the upload; show metrics, confusion matrix and loss curve."""
    if source == classify.UPLOADED and not csv_file:
        raise InputError("Upload a CSV file first, or choose the SMS Spam Collection.")
    result = classify.train(
        csv_file if source == classify.UPLOADED else None, text_col=text_col or None,
        label_col=label_col or None, strategy=strategy, epochs=int(epochs) if epochs else None,
        progress=lambda fraction, desc: progress(fraction, desc=desc))
    for note in result.notes:
        gr.Warning(note)
    return (classify.summary(result.record), classify.confusion_figure(result.record),
            classify.loss_figure(result.record))


def serving_summary() -> str:
    return f"Now serving: {classify.summary(classify.serving_model().record)}"


def classify_tab(training: bool = True) -> gr.Markdown:
    """The tab (with its training panel unless `training` is off); returns its "Now serving"
    line, which every page load refreshes."""
    with gr.Tab("Spam / ham"):
        gr.Markdown(
            "A small classifier on top of the sentence embedding decides whether an SMS is "
            "**spam** or **ham**; the line below says which model answers and how it was trained."
            + (" Train your own at the bottom of the tab, on the SMS Spam Collection or on your CSV."
               if training else "")
        )
        serving = gr.Markdown(serving_summary())  # refreshed on every page load, in build_demo
        with gr.Row():
            message = gr.Textbox(label="Message", lines=3, scale=3,
                                 placeholder="e.g. WINNER! Claim your free prize now")
            probabilities = gr.Label(label="Prediction", num_top_classes=2, scale=2)
        check = gr.Button("Classify", variant="primary")
        gr.Examples([[t] for t in classify.EXAMPLES], inputs=message, outputs=probabilities,
                    fn=classify_messages, batch=True, run_on_click=True, cache_examples=False,
                    label="Examples (click one)")
        with gr.Accordion("Many messages", open=False):
            with gr.Row():
                pasted = gr.Textbox(label="Messages, one per line", lines=6)
                with gr.Column():
                    batch_file = gr.File(label="…or a CSV file", file_types=data.UPLOAD_TYPES,
                                         type="filepath")
                    batch_col = gr.Dropdown(label="Text column (empty: Message)",
                                            allow_custom_value=True)
            label_all = gr.Button("Label them")
            labelled = gr.Dataframe(label="Labels", interactive=False, wrap=True)
            download = gr.File(label="Download the labels (CSV)", interactive=False)
        gr.on([check.click, message.submit], check_message, message, None, concurrency_limit=None,
              api_visibility="private"
              ).success(classify_messages, message, probabilities, api_name="classify",
                        batch=True, max_batch_size=classify.MAX_BATCH)
        label_all.click(classify_many, [pasted, batch_file, batch_col], [labelled, download],
                        api_name="classify_batch")
        batch_file.change(lambda path: pick_columns(path)[0], batch_file, batch_col,
                          api_visibility="private")
        if training:
            train_panel(serving)
    return serving


def train_panel(serving: gr.Markdown) -> None:
    """The "Train a classifier" panel; a finished training refreshes the "Now serving" line."""
    with gr.Accordion("Train a classifier", open=False):
        with gr.Row():
            source = gr.Radio([classify.SMS_COLLECTION, classify.UPLOADED],
                              value=classify.SMS_COLLECTION, label="Training data")
            strategy = gr.Radio(
                list(classify.STRATEGIES), value=classify.DEFAULT_STRATEGY, label="Strategy",
                info="freeze: only the head learns (fast). freeze_unfreeze: then the whole "
                     "network, for the last epochs. no_freeze: the whole network throughout "
                     "(slow without a GPU).")
            # Gradio's number box cannot start empty (it shows 0): it shows the chosen
            # strategy's default number of epochs instead, filled in when the strategy changes.
            epochs = gr.Number(classify.DEFAULT_EPOCHS[classify.DEFAULT_STRATEGY],
                               label="Epochs", info="the strategy's default; change it if you like",
                               precision=0, minimum=1, maximum=200)
        with gr.Row(visible=False) as upload_row:
            train_file = gr.File(label="CSV with a text and a label column",
                                 file_types=data.UPLOAD_TYPES, type="filepath")
            text_col = gr.Dropdown(label="Text column (empty: Message)", allow_custom_value=True)
            label_col = gr.Dropdown(label="Label column (empty: Category)",
                                    allow_custom_value=True)
        start = gr.Button("Train", variant="primary")
        metrics = gr.Markdown()
        with gr.Row():
            confusion = gr.Plot(label="Confusion matrix")
            losses = gr.Plot(label="Loss curve")
    source.change(lambda chosen: gr.update(visible=chosen == classify.UPLOADED), source,
                  upload_row, api_visibility="private")
    train_file.change(pick_columns, train_file, [text_col, label_col], api_visibility="private")
    strategy.change(lambda chosen: classify.DEFAULT_EPOCHS[chosen], strategy, epochs,
                    api_visibility="private")
    # One training at a time (others see their place in the queue); classifying goes on.
    start.click(train_classifier, [source, train_file, text_col, label_col, strategy, epochs],
                [metrics, confusion, losses], api_name="train", concurrency_limit=1
                ).success(serving_summary, None, serving, api_visibility="private")


@shown
def walk_through_cosine(sentence_1: str, sentence_2: str):
    """Cosine similarity of two sentences computed step by step, next to `util.cos_sim`."""
    steps = explain.cosine_by_hand(sentence_1, sentence_2)
    # u and v as the explanation quotes them; their tiny products need one decimal more.
    return shown_rounded(steps.components, {"u × v": DECIMALS + 1}), steps.explanation


@shown
def compare_cls_and_sentence(sentence_1: str, sentence_2: str):
    """The built-in labelled pairs (and the typed pair) scored by word vectors, [CLS] and SBERT."""
    result = explain.compare_poolings((sentence_1, sentence_2))
    return (shown_rounded(result.metrics), result.figure, result.explanation,
            shown_rounded(result.table))


@shown
def mine_and_time(source: str, n: float, own_sentences: str, sample_pairs: float,
                  progress=gr.Progress()):
    """Time paraphrase mining on N sentences against a cross-encoder extrapolated to every pair."""
    sentences, notes = explain.mining_sentences(source, int(n), own_sentences)
    result = explain.mining_vs_cross(sentences, int(sample_pairs), progress=progress)
    notes += result.notes
    for note in notes:
        gr.Warning(note)
    shown_notes = "".join(f"**Note:** {note}\n\n" for note in notes)
    return shown_notes + result.explanation, result.figure, shown_rounded(result.top_pairs)


@shown
def compare_strategies():
    """The stored spam classifiers: the frozen model's F1 next to the best strategy's."""
    table, explanation = explain.frozen_vs_finetuned()
    return shown_rounded(table), explanation


def explain_tab() -> None:
    with gr.Tab("Why sentence embeddings"):
        gr.Markdown(
            "The article makes claims about sentence embeddings. Here you can **watch them happen** "
            "on the model this app runs. Open each section and press its button."
        )
        with gr.Row():
            sentence_1 = gr.Textbox(label="Sentence 1", value=explain.PARAPHRASE_PAIRS[0][0])
            sentence_2 = gr.Textbox(label="Sentence 2", value=explain.PARAPHRASE_PAIRS[0][1])
        with gr.Accordion("1. Cosine similarity, by hand and by library", open=True):
            gr.Markdown(
                "Each sentence becomes a vector: a list of numbers. Two sentences are compared by "
                "the angle between their vectors, the **cosine similarity**. Here it is computed by "
                "hand for the two sentences above, next to the library's `util.cos_sim`."
            )
            by_hand = gr.Button("Compute by hand", variant="primary")
            components = gr.Dataframe(headers=explain.COMPONENT_COLUMNS, interactive=False,
                                      label=f"The first {explain.COMPONENTS_SHOWN} components")
            walkthrough = gr.Markdown()
        with gr.Accordion("2. Word vectors and BERT's [CLS] vector vs a sentence embedding", open=False):
            gr.Markdown(
                "Before sentence-transformers, people averaged word vectors or took one vector "
                "straight out of BERT (its [CLS] token, or the *pooled output* the article uses). "
                f"Are those as good? {len(explain.PARAPHRASE_PAIRS)} hand-written pairs, half "
                "paraphrases and half not, plus your two sentences above, scored all three ways."
            )
            compare = gr.Button("Compare the three", variant="primary")
            metrics = gr.Dataframe(label="How well each separates paraphrases from the rest",
                                   interactive=False)
            pooling_plot = gr.Plot(label="Scores per pair")
            pooling_text = gr.Markdown()
            with gr.Accordion("Every pair and its scores", open=False):
                pairs = gr.Dataframe(interactive=False, wrap=True)
        with gr.Accordion("3. The 10,000-sentence claim: sentence embeddings vs a cross-encoder",
                          open=False):
            gr.Markdown(
                "The SBERT paper: finding the most similar pair among 10,000 sentences takes a BERT "
                "**cross-encoder** (which reads both sentences of a pair together) about 65 hours, "
                "and SBERT about 5 seconds. Try it at a size that fits a lesson: pick N, we mine all "
                "pairs with sentence embeddings, time a cross-encoder on a small sample of pairs and "
                "extrapolate to every pair."
            )
            with gr.Row():
                source = gr.Radio([explain.SMS_SOURCE, explain.OWN_SOURCE], value=explain.SMS_SOURCE,
                                  label="Sentences")
                n = gr.Slider(10, explain.MAX_MINING, value=300, step=10, label="N sentences")
                sample_pairs = gr.Slider(8, 256, value=32, step=8,
                                         label="Pairs to time with the cross-encoder")
            own_sentences = gr.Textbox(label="My sentences: one per line", lines=6, visible=False)
            mine = gr.Button("Mine and time", variant="primary")
            timing_text = gr.Markdown()
            timing_plot = gr.Plot(label="Time to find the most similar pairs")
            top_pairs = gr.Dataframe(headers=explain.TOP_COLUMNS, label="Most similar pairs found",
                                     interactive=False, wrap=True,
                                     column_widths=["10%", "45%", "45%"])
        with gr.Accordion("4. Frozen vs fine-tuned spam classifiers", open=False):
            gr.Markdown(
                "The Spam / ham tab's classifier is a small layer on top of the sentence "
                "embeddings, trained with the embedding model frozen or fine-tuned. How much does "
                "fine-tuning add?"
            )
            strategies_button = gr.Button("Compare the stored classifiers")
            strategies_text = gr.Markdown()
            strategies = gr.Dataframe(headers=explain.RECORD_COLUMNS, interactive=False)
        by_hand.click(walk_through_cosine, [sentence_1, sentence_2], [components, walkthrough],
                      api_name="cosine_by_hand")
        compare.click(compare_cls_and_sentence, [sentence_1, sentence_2],
                      [metrics, pooling_plot, pooling_text, pairs], api_name="cls_vs_sentence")
        source.change(lambda chosen: gr.update(visible=chosen == explain.OWN_SOURCE), source,
                      own_sentences, api_visibility="private")
        # One timing at a time: a second run alongside would distort both measurements.
        mine.click(mine_and_time, [source, n, own_sentences, sample_pairs],
                   [timing_text, timing_plot, top_pairs], api_name="paraphrase_mining",
                   concurrency_limit=1)
        strategies_button.click(compare_strategies, None, [strategies, strategies_text],
                                api_name="frozen_vs_finetuned")


def build_demo(model: str | None = None, device: str = "auto", training: bool = True) -> gr.Blocks:
    """Build the app; the models are loaded (once per process) and warmed before it returns.
    Without `training` the Spam / ham tab serves its model but offers no training (no panel, no
    `/train` endpoint): for a public Space, or a class whose teacher trained beforehand."""
    models.configure(model, device)
    embedder = models.get_embedder()
    classify.serving_model()
    # Uploaded temp files older than an hour are deleted every 10 minutes.
    with gr.Blocks(title=TITLE, delete_cache=(600, 3600)) as demo:
        gr.Markdown(f"# {TITLE}\n\n{INTRO}")
        similarity_tab()
        visualize_tab()
        serving = classify_tab(training)
        explain_tab()
        gr.Markdown(f"Model: **{embedder.describe()}**")
        # Another user may have trained a new model since this page was built.
        demo.load(serving_summary, None, serving, api_visibility="private")
    return demo
