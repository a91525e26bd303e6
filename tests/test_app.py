"""The app as users reach it: flags, a launched server, and the `similarity` API endpoint."""
import statistics
from concurrent.futures import ThreadPoolExecutor

import gradio as gr
import pandas as pd
import pytest
from gradio_client import Client
from scipy.stats import spearmanr

from semdemo import classify, models, similarity
from semdemo.ui import build_demo

SEED = ("I like to watch tv\nThe cat was running after the butterfly",
        "Watching Television is my favorite time pass\nIt is so windy today")


def test_default_flags_bind_localhost_without_share(monkeypatch):
    monkeypatch.setattr("sys.argv", ["app.py"])
    import app

    assert app.args.host == "127.0.0.1"
    assert app.args.port == 7860
    assert app.args.share is False
    assert app.args.device == "auto"
    assert app.args.training is True
    assert isinstance(app.demo, type(build_demo()))


def test_no_training_serves_the_classifier_without_a_train_panel_or_endpoint(monkeypatch, capsys):
    """For a public Space, or a class whose teacher trained beforehand: nobody can replace the model."""
    import app

    assert app.parse_args(["--no-training"]).training is False
    for value in ("0", "False", " OFF ", "no"):
        monkeypatch.setenv("SEMDEMO_TRAINING", value)
        assert app.parse_args([]).training is False
    assert app.parse_args(["--training"]).training is True  # the flag wins over the variable
    monkeypatch.setenv("SEMDEMO_TRAINING", "disabled")  # not a clear "off": refused, not ignored
    with pytest.raises(SystemExit):
        app.parse_args([])
    assert "SEMDEMO_TRAINING='disabled'" in capsys.readouterr().err
    demo = build_demo(training=False)
    endpoints = demo.get_api_info()["named_endpoints"]
    assert "/classify" in endpoints and "/classify_batch" in endpoints and "/train" not in endpoints
    labels = [block.label for block in demo.blocks.values() if hasattr(block, "label")]
    assert "Prediction" in labels and "Train a classifier" not in labels
    assert "Train a classifier" in [block.label for block in build_demo().blocks.values()
                                    if hasattr(block, "label")]


def test_build_demo_twice_reuses_the_warm_model(embedder, monkeypatch):
    """Notebook use: `build_demo()` gives Blocks without launching, and a second call (re-running a
    cell) loads no model again."""
    build_demo()
    loads = []
    for owner, name in [(models.Embedder, "__init__"), (classify, "load")]:
        original = getattr(owner, name)
        monkeypatch.setattr(owner, name, lambda *args, _original=original, _name=name, **kwargs:
                            loads.append(_name) or _original(*args, **kwargs))
    demo = build_demo()
    assert isinstance(demo, gr.Blocks) and not demo.is_running
    assert loads == []
    assert models.get_embedder() is embedder


def test_similarity_endpoint_equals_in_process_backend(client):
    table, _heatmap, explanation = client.predict(*SEED, 0.5, api_name="/similarity")
    expected = similarity.compare(*(similarity.split_lines(s) for s in SEED), threshold=0.5).table
    assert table["headers"] == similarity.COLUMNS
    assert table["data"] == expected.values.tolist()
    assert table["data"][0][2:4] == [pytest.approx(0.70, abs=0.01), "Similar"]
    assert table["data"][1][2:4] == [pytest.approx(0.13, abs=0.01), "Not similar"]
    assert "util.cos_sim" in explanation


def test_bad_input_through_the_api_answers_with_its_message(client):
    """The endpoint is a batch function: a bad request answers with its message (it cannot fail
    the requests batched with it); in the UI the button shows it as an error first."""
    table, heatmap, explanation = client.predict("a\nb\nc", "a\nb", 0.5, api_name="/similarity")
    assert table["data"] == [] and heatmap is None
    assert explanation.startswith("**Not scored:** Column 1 has 3 sentences but column 2 has 2")
    assert client.predict("   ", api_name="/classify") == {}  # no prediction for an empty message


def test_sts_spearman_through_the_app_keeps_the_bare_model_score(client, data_dir):
    sts = pd.read_csv(data_dir / "sts" / "sts_subset.tsv", sep="\t", quoting=3)
    table, _, _ = client.predict("\n".join(sts.sent1), "\n".join(sts.sent2), 0.5,
                                 api_name="/similarity")
    scores = [row[2] for row in table["data"]]
    assert len(scores) == len(sts) == 864
    rho = spearmanr(scores, sts.score).statistic
    assert rho >= 0.866, rho  # bare all-MiniLM-L6-v2: 0.868 (scores rounded to 3 decimals here)


def test_concurrent_clients_get_exactly_the_sequential_results(client, monkeypatch):
    """20 students at once, some with a bad request (columns of different lengths, a threshold
    out of range) and some leaving the threshold out: they are batched into shared forward
    passes, and each gets exactly what it gets alone (a bad one its own message)."""
    thresholds = {1: None, 2: 2.0}  # by i % 5; the rest 0.5
    requests = [(f"Student {i} likes to watch tv\nIt rains on day {i}",
                 f"Pupil {i} enjoys television" + ("" if i % 5 == 4 else "\nThe cat sleeps"),
                 thresholds.get(i % 5, 0.5)) for i in range(20)]
    sequential = [client.predict(*r, api_name="/similarity") for r in requests]
    batch_sizes = []
    compare_many = similarity.compare_many
    monkeypatch.setattr(similarity, "compare_many", lambda requests, *args: batch_sizes.append(
        len(requests)) or compare_many(requests, *args))
    url = client.src

    def call(request):
        return Client(url, verbose=False).predict(*request, api_name="/similarity")

    with ThreadPoolExecutor(20) as pool:
        concurrent = list(pool.map(call, requests))
    assert [(table["data"], text) for table, _, text in concurrent] == [
        (table["data"], text) for table, _, text in sequential]
    assert sum(batch_sizes) == 20 and max(batch_sizes) > 1, batch_sizes
    scored = [table["data"][0][2] for table, _, _ in sequential if table["data"]]
    assert len(scored) == 12 and statistics.mean(scored) > 0.4
    refused = [text for table, _, text in sequential if not table["data"]]
    assert len(refused) == 8
    assert sum(text.startswith("**Not scored:** Column 1 has 2 sentences but column 2 has 1")
               for text in refused) == 4
    assert sum(text.startswith("**Not scored:** The threshold must be from -1 to 1")
               for text in refused) == 4


def test_concurrent_single_messages_share_a_forward_pass(client, monkeypatch):
    messages = [text for text in classify.EXAMPLES for _ in range(4)] + [" "]
    sequential = [client.predict(m, api_name="/classify") for m in messages]
    batch_sizes = []
    classify_each = classify.classify_each
    monkeypatch.setattr(classify, "classify_each", lambda batch: batch_sizes.append(len(batch))
                        or classify_each(batch))
    url = client.src
    with ThreadPoolExecutor(len(messages)) as pool:
        concurrent = list(pool.map(lambda m: Client(url, verbose=False).predict(
            m, api_name="/classify"), messages))
    assert concurrent == sequential and max(batch_sizes) > 1, batch_sizes
    assert [p["label"] for p in sequential[:12:4]] == [label for _, label in classify.ARTICLE_EXAMPLES]
    assert sequential[-1] == {}


def test_similarity_keeps_answering_while_a_training_runs(client, data_dir, tmp_path, monkeypatch):
    import time

    from gradio_client import handle_file

    from semdemo import classify, data

    monkeypatch.setenv("SEMDEMO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(classify._serving, "model", None)
    sms = data.load_sms(data_dir / "sms_spam" / "SMSSpamCollection")
    sample = pd.concat([sms[sms.label == "spam"].head(60), sms[sms.label == "ham"].head(240)])
    csv = tmp_path / "slice.csv"
    sample.rename(columns={"label": "Category", "text": "Message"}).to_csv(csv, index=False)
    training = client.submit(classify.UPLOADED, handle_file(str(csv)), None, None, "freeze", 200,
                             api_name="/train")
    while training.status().code.name not in ("PROCESSING", "FINISHED"):
        time.sleep(0.2)
    started = time.perf_counter()
    table, _, _ = client.predict(*SEED, 0.5, api_name="/similarity")
    answered = time.perf_counter() - started
    assert not training.done(), "the training ended before the similarity request was answered"
    assert answered < 5, answered
    assert table["data"][0][2] == pytest.approx(0.70, abs=0.01)
    assert "**freeze** model trained on *slice\\.csv*" in training.result()[0]


def test_upload_over_the_size_limit_is_refused_with_a_message(client, tmp_path, monkeypatch):
    from gradio_client import handle_file

    from semdemo import data

    monkeypatch.setattr(data, "MAX_UPLOAD_MB", 1)
    big = tmp_path / "big.csv"
    big.write_text("Category,Message\n" + "ham,hello there\n" * 80_000)
    with pytest.raises(Exception, match=r"big\.csv is 1\.\d MB; the limit is 1 MB"):
        client.predict("", handle_file(str(big)), None, api_name="/classify_batch")


def test_the_api_lists_exactly_the_documented_endpoints(client):
    """Every endpoint in the README, and no helper (such as the "Now serving" refresh)."""
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert sorted(endpoints) == sorted(
        ["/similarity", "/visualize", "/neighbours", "/classify", "/classify_batch", "/train",
         "/cosine_by_hand", "/cls_vs_sentence", "/paraphrase_mining", "/frozen_vs_finetuned"])


@pytest.mark.parametrize("point, message", [("²", "whole number such as 12, not “²”"),
                                            ("0", "no point #0")])
def test_bad_input_is_a_ui_message_without_a_traceback_in_the_log(point, message):
    from semdemo import ui, visualize

    with pytest.raises(gr.Error, match=message) as shown:
        ui.find_neighbours(visualize.TEACHING_SET, "", None, None, None, "pca", 2,
                           visualize.DEFAULT_ENGINE, "", point, 3)
    assert shown.value.print_exception is False and shown.value.duration is None
