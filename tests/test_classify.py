"""Spam / ham: flash training on a slice of the SMS collection, storage and reload, the shipped
default model, the serving swap, the command line and every bad-input CSV case."""
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semdemo import classify, data
from semdemo.errors import InputError

METRICS = {"accuracy", "positive_label", "precision", "recall", "f1", "mcc", "confusion_matrix",
           "test_rows", "train_seconds"}
EMPTY_CASES = ["empty.csv", "header_only.csv"]
READABLE_CASES = {  # case -> what training on it must report
    "nan_row.csv": "1 row skipped: empty Message, line 3",
    "latin1.csv": None, "bom.csv": None, "semicolon.csv": None, "UPPER_EXT.CSV": None,
}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Every test gets an empty model cache and a fresh serving slot."""
    monkeypatch.setenv("SEMDEMO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(classify._serving, "model", None)


@pytest.fixture(scope="module")
def sms_slice(data_dir, tmp_path_factory):
    """800 messages of the SMS collection (its ham/spam ratio kept), as a CSV file."""
    frame = data.load_sms(data_dir)
    sample = frame.groupby("label", group_keys=False).sample(frac=800 / len(frame), random_state=0)
    path = tmp_path_factory.mktemp("slice") / "sms_slice.csv"
    sample.rename(columns={"text": "Message", "label": "Category"}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(sms_slice, tmp_path_factory):
    """One `freeze` training on the slice, stored in its own model directory."""
    out = tmp_path_factory.mktemp("model")
    return classify.train(sms_slice, out_dir=out, serve=False), out


def test_training_reports_every_metric_on_a_held_out_split(trained):
    result, _ = trained
    record = result.record
    metrics = record["metrics"]
    assert set(metrics) == METRICS
    assert record["labels"] == ["ham", "spam"] and metrics["positive_label"] == "spam"
    rows = record["rows"]
    assert rows["train"] + rows["val"] + rows["test"] == 800 and rows["test"] == 160
    assert np.sum(metrics["confusion_matrix"]) == metrics["test_rows"] == 160
    assert metrics["f1"] >= 0.85 and metrics["accuracy"] >= 0.95 and metrics["mcc"] >= 0.8
    assert len(record["history"]["train_loss"]) == record["epochs"] == classify.DEFAULT_EPOCHS["freeze"]
    assert record["history"]["train_loss"][-1] < record["history"]["train_loss"][0] / 2


def test_record_beside_weights_and_the_reload_predicts_the_same(trained, sms_slice):
    result, out = trained
    stored = json.loads(next(out.glob("freeze-*.json")).read_text())
    assert stored["strategy"] == "freeze" and stored["labels"] == ["ham", "spam"]
    assert stored["metrics"] == result.record["metrics"]
    assert stored["data"]["checksum"] == data.read_table(sms_slice).checksum
    weights = out / stored["weights"]
    assert stored["weights_scope"] == "head" and weights.stat().st_size < 10_000  # not the backbone
    assert not list(out.glob("*.tmp"))
    texts = list(pd.read_csv(sms_slice)["Message"][:50])
    reloaded = classify.load(out)
    assert np.allclose(reloaded.predict_proba(texts), result.model.predict_proba(texts), atol=1e-5)


def test_shipped_default_labels_the_article_examples():
    model = classify.load(classify.SHIPPED_DIR)
    results = model.predict([text for text, _ in classify.ARTICLE_EXAMPLES])
    assert [r["label"] for r in results] == [label for _, label in classify.ARTICLE_EXAMPLES]
    for result in results:
        assert sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-3)
        assert result["probabilities"][result["label"]] > 0.6
    assert model.record["metrics"]["f1"] >= 0.9  # as measured when it was trained


def test_serving_starts_with_the_shipped_default_and_lists_it():
    assert classify.serving_model().path.parent == classify.SHIPPED_DIR
    assert [r["strategy"] for r in classify.trained_models()] == ["freeze"]


def test_empty_messages_get_a_message_not_a_prediction():
    with pytest.raises(InputError, match="Type a message"):
        classify.classify(["  \n"])
    with pytest.raises(InputError, match="Message 2 is empty"):
        classify.classify(["Hello", ""])


def test_batch_mode_labels_pasted_lines_and_offers_a_csv(tmp_path):
    pasted = "\n".join(text for text, _ in classify.ARTICLE_EXAMPLES) + "\n\n"
    table, download, notes = classify.classify_batch(pasted)
    assert list(table["label"]) == [label for _, label in classify.ARTICLE_EXAMPLES]
    assert list(table.columns) == ["message", "label", "p(ham)", "p(spam)"]
    assert pd.read_csv(download).equals(table) and notes == []


@pytest.mark.parametrize("case", ["single_class.csv", "wrong_columns.csv", *EMPTY_CASES])
def test_unusable_csv_is_refused_before_training_and_serving_is_unchanged(cases_dir, tmp_path, case):
    before = classify.serving_model()
    with pytest.raises(InputError) as refused:
        classify.train(cases_dir / "csv" / case, out_dir=tmp_path)
    message = str(refused.value)
    if case == "single_class.csv":
        assert "need at least 2 classes; found only 'ham'" in message
    if case == "wrong_columns.csv":
        assert "Label" in message and "Text" in message
    assert list(tmp_path.iterdir()) == []
    assert classify.serving_model() is before


@pytest.mark.parametrize("case", sorted(READABLE_CASES))
def test_odd_but_readable_csv_trains_and_is_served(cases_dir, tmp_path, case):
    result = classify.train(cases_dir / "csv" / case, out_dir=tmp_path, epochs=1)
    assert result.record["labels"] == ["ham", "spam"]
    if READABLE_CASES[case]:
        assert READABLE_CASES[case] in result.notes
    assert any("measured on the training rows" in note for note in result.notes)
    assert classify.serving_model() is result.model
    assert len(list(tmp_path.glob("freeze-*.json"))) == 1


def test_picked_columns_make_wrong_columns_usable(cases_dir, tmp_path):
    result = classify.train(cases_dir / "csv" / "wrong_columns.csv", text_col="Text",
                            label_col="Label", out_dir=tmp_path, epochs=1, serve=False)
    assert result.record["labels"] == ["ham", "spam"]


def test_cli_refuses_bad_csvs_with_a_message_and_no_traceback(cases_dir, tmp_path, capsys):
    for case, expected in [("single_class.csv", "need at least 2 classes; found only 'ham'"),
                           ("empty.csv", "empty.csv"), ("header_only.csv", "no rows"),
                           ("wrong_columns.csv", "Label")]:
        code = classify.main(["train", "--data", str(cases_dir / "csv" / case), "--out", str(tmp_path)])
        captured = capsys.readouterr()
        assert code != 0 and expected in captured.err and "Traceback" not in captured.err
        assert captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_cli_predict_prints_one_json_line_per_message(capsys):
    texts = [text for text, _ in classify.ARTICLE_EXAMPLES]
    args = ["predict", "--model", str(classify.SHIPPED_DIR)]
    for text in texts:
        args += ["--text", text]
    assert classify.main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == texts
    assert [line["label"] for line in lines] == [label for _, label in classify.ARTICLE_EXAMPLES]
    assert set(lines[0]["probabilities"]) == {"ham", "spam"}


def test_cli_train_prints_metrics_and_labels_as_one_json_object(cases_dir, tmp_path, capsys):
    code = classify.main(["train", "--data", str(cases_dir / "csv" / "nan_row.csv"), "--epochs", "1",
                          "--out", str(tmp_path)])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["labels"] == ["ham", "spam"] and METRICS <= set(printed)
    assert "1 row skipped: empty Message, line 3" in printed["notes"]
    assert classify.load(tmp_path).record["metrics"] == {k: printed[k] for k in METRICS}


def test_cli_train_measures_on_the_given_test_file(cases_dir, tmp_path, capsys):
    code = classify.main(["train", "--train", str(cases_dir / "csv" / "nan_row.csv"),
                          "--test", str(cases_dir / "csv" / "bom.csv"), "--epochs", "1",
                          "--out", str(tmp_path)])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["test_rows"] == 3  # bom.csv's three rows, not the training rows
    assert printed["notes"] == ["1 row skipped: empty Message, line 3"]
    assert classify.load(tmp_path).record["held_out"] is True
    assert len(classify.trained_models()) == 1  # the shipped default: --out kept it elsewhere


def test_classify_and_train_endpoints(client, cases_dir, tmp_path):
    from gradio_client import handle_file

    for text, label in classify.ARTICLE_EXAMPLES:
        assert client.predict(text, api_name="/classify")["label"] == label
    assert client.predict(" ", api_name="/classify") == {}  # an empty message: no prediction
    summary, confusion, losses = client.predict(
        classify.UPLOADED, handle_file(str(cases_dir / "csv" / "UPPER_EXT.CSV")), None, None,
        "freeze", 2, api_name="/train")
    assert "**freeze** model trained on *UPPER\\_EXT\\.CSV*" in summary  # the name escaped for Markdown
    assert classify.serving_model().record["data"]["name"] == "UPPER_EXT.CSV"


def test_one_training_at_a_time(sms_slice):
    assert classify._training_lock.acquire(blocking=False)
    try:
        with pytest.raises(InputError, match="Another training is running"):
            classify.train(sms_slice)
    finally:
        classify._training_lock.release()


def test_invisible_only_message_is_refused_not_classified():
    with pytest.raises(InputError, match="Type a message"):
        classify.classify(["\u200b\u200d"])
    with pytest.raises(InputError, match="Paste messages"):
        classify.classify_batch("\u200b\n\ufeff\n")


def test_batch_downloads_go_to_one_folder_pruned_of_old_files():
    _, first, _ = classify.classify_batch("Hello there")
    os.utime(first, (1, 1))  # make it look hours old
    _, second, _ = classify.classify_batch("See you soon")
    assert Path(second).parent == Path(first).parent and Path(second).is_file()
    assert not Path(first).exists()


def test_summary_shows_an_uploaded_file_name_literally():
    record = json.loads(next(classify.SHIPPED_DIR.glob("*.json")).read_text())
    record["data"] = {"name": "![x](http://e/x.png) <img src=x onerror=alert(1)>.csv"}
    text = classify.summary(record)
    assert "\\!\\[x\\]" in text and "\\<img" in text and "![x]" not in text


def test_user_labels_show_literally_in_the_summary_and_the_confusion_matrix():
    """The "Now serving" line reaches every visitor: a label must not load an image there."""
    record = json.loads(next(classify.SHIPPED_DIR.glob("*.json")).read_text())
    record["labels"] = ["ham", "![x](http://e/x) <b>spam</b>"]
    record["metrics"]["positive_label"] = record["labels"][1]
    text = classify.summary(record)
    assert "\\!\\[x\\]" in text and "\\<b\\>" in text and "![x]" not in text
    figure = classify.confusion_figure(record)
    assert figure.data[0].x[1] == "predicted ![x](http://e/x) &lt;b&gt;spam&lt;/b&gt;"
    record["labels"][1] = record["metrics"]["positive_label"] = "&lt;i&gt;"
    assert "\\&lt\\;i\\&gt\\;" in classify.summary(record)  # the entity as typed, not decoded to <i>
    assert classify.confusion_figure(record).data[0].x[1] == "predicted &amp;lt;i&amp;gt;"
    # LaTeX, a bare URL (autolinked) and a newline (a heading underline) stay one line of text.
    record["labels"][1] = record["metrics"]["positive_label"] = "$$x^2$$ http://e.example\n===\n# h"
    assert "\\$\\$x\\^2\\$\\$ http\\:\\/\\/e\\.example \\=\\=\\= \\# h" in classify.summary(record)


def test_labels_with_spaces_or_commas_train_as_one_class_each(tmp_path):
    """Left to guess, flash read "not spam" as two labels of a multi-label task and training
    crashed; told the labels, it learns one class per label."""
    rows = ([("not spam", f"See you at {hour} o'clock, love") for hour in range(1, 7)]
            + [("spam, promo", f"WIN a £{n}000 prize! Call 0906{n}0{n} now") for n in range(1, 7)])
    path = tmp_path / "labels.csv"
    pd.DataFrame(rows, columns=["Category", "Message"]).to_csv(path, index=False)
    result = classify.train(path, out_dir=tmp_path / "model", epochs=30, serve=False)
    assert result.record["labels"] == ["not spam", "spam, promo"]
    predicted = result.model.predict(["See you at 9 o'clock, love", "WIN a £9000 prize! Call 09069"])
    assert [p["label"] for p in predicted] == ["not spam", "spam, promo"]


def test_the_download_keeps_formula_like_messages_as_text():
    """A spreadsheet opening the labels must not run `=HYPERLINK(...)` sent as a message."""
    table, download, _ = classify.classify_batch('=HYPERLINK("http://e/x","win")\n@SUM(A1)\nHello')
    assert table["message"].tolist() == ['=HYPERLINK("http://e/x","win")', "@SUM(A1)", "Hello"]
    assert pd.read_csv(download)["message"].tolist() == [
        '\'=HYPERLINK("http://e/x","win")', "'@SUM(A1)", "Hello"]


def test_the_download_keeps_formula_like_labels_as_text(tmp_path):
    rows = [("=1+1", f"See you at {hour} o'clock") for hour in range(1, 5)] + [
        ("ok", f"Lunch at {hour}?") for hour in range(1, 5)]
    path = tmp_path / "formula_labels.csv"
    pd.DataFrame(rows, columns=["Category", "Message"]).to_csv(path, index=False)
    classify.train(path, out_dir=tmp_path / "model", epochs=30)
    table, download, _ = classify.classify_batch("See you at 2 o'clock\nLunch at 2?")
    assert table["label"].tolist() == ["=1+1", "ok"]
    assert pd.read_csv(download)["label"].tolist() == ["'=1+1", "ok"]


@pytest.mark.parametrize("per_class, classes", [(3, 2), (6, 3), (4, 5)])
def test_small_csvs_split_with_every_class_held_out_instead_of_crashing(per_class, classes):
    labels = [f"class{i}" for i in range(classes)] * per_class  # e.g. 6 rows: sklearn alone refuses
    frame = pd.DataFrame({"text": [f"message {i}" for i in range(len(labels))], "label": labels})
    parts = classify.split(frame)
    assert parts.held_out
    for part in (parts.train, parts.val, parts.test):
        assert set(part["label"]) == set(labels)
    assert len(parts.train) + len(parts.val) + len(parts.test) == len(frame)
