"""The embedding map: projections of the teaching set, clusters, neighbours, engines, caches,
tiny and bad inputs, and the `visualize` / `neighbours` API endpoints."""
import os
from concurrent.futures import ThreadPoolExecutor

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import Client
from sentence_transformers import util

from semdemo import similarity, ui, visualize
from semdemo.errors import InputError


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    """A private cache directory, and caches that start empty."""
    path = tmp_path_factory.mktemp("semdemo-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEMDEMO_CACHE_DIR", str(path))
        for cache in (visualize.embedding_cache, visualize.projection_cache):
            cache.forget()
        yield path


@pytest.fixture(scope="module")
def teaching():
    return visualize.load_points(visualize.TEACHING_SET)


def base_points(figure) -> int:
    """Points drawn by the map's own traces (highlight traces excluded)."""
    return sum(len(trace.x) for trace in figure.data
               if trace.name not in ("nearest neighbours", "picked point"))


def test_teaching_set_has_clear_topics(teaching):
    assert 60 <= len(teaching.texts) <= 100
    assert len(set(teaching.texts)) == len(teaching.texts)
    topics = set(teaching.labels)
    assert len(topics) >= 5
    assert min(teaching.labels.count(t) for t in topics) >= 8


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
def test_every_method_maps_each_unique_sentence_to_one_point(teaching, method, dims):
    result = visualize.draw(teaching, method, dims)
    n = len(teaching.texts)
    assert base_points(result.figure) == n
    expected_trace = "scatter3d" if dims == 3 else "scatter"
    assert {trace.type for trace in result.figure.data} == {expected_trace}
    assert {trace.name for trace in result.figure.data} == set(teaching.labels)
    coords = result.coordinates[list(visualize.AXES[:dims])].to_numpy()
    assert coords.shape == (n, dims) and np.isfinite(coords).all()
    assert coords.std(axis=0).min() > 0  # a real spread, not one stacked point
    assert result.coordinates["text"].tolist() == teaching.texts
    assert result.notes == []


def test_topic_clusters_are_real_in_the_embeddings_and_on_the_map(teaching):
    vectors, _ = visualize.embed(teaching)
    labels = np.array(teaching.labels)
    same = labels[:, None] == labels[None, :]
    scores = util.cos_sim(vectors, vectors).numpy()
    np.fill_diagonal(scores, np.nan)
    own = np.nanmean(np.where(same, scores, np.nan), axis=1)  # each point's mean same-topic score
    others = np.nanmean(np.where(~same, scores, np.nan), axis=1)
    assert (own > others).all(), np.array(teaching.texts)[own <= others]
    assert own.mean() > 3 * others.mean(), (own.mean(), others.mean())
    assert (labels[np.nanargmax(scores, axis=1)] == labels).mean() >= 0.9

    # On the t-SNE map, most points' nearest point is of the same topic.
    coords = visualize.draw(teaching, "tsne", 2).coordinates[["x", "y"]].to_numpy()
    distances = np.linalg.norm(coords[:, None] - coords[None, :], axis=-1)
    np.fill_diagonal(distances, np.inf)
    agreement = (labels[distances.argmin(axis=1)] == labels).mean()
    assert agreement >= 0.8, agreement


@pytest.mark.parametrize("paraphrase, original", [
    ("The soccer player scored two goals after half-time.",
     "The striker scored twice in the second half."),
    ("My puppy always barks when the mailman comes.", "Our dog barks at every delivery driver."),
    ("I can't remember my password so I can't sign in.",
     "I forgot my password and cannot log in to my account."),
    ("It's pouring with rain out there.", "It is raining heavily outside."),
])
def test_nearest_neighbour_of_a_paraphrase_is_its_original(teaching, paraphrase, original):
    result = visualize.nearest(teaching, paraphrase, k=3)
    assert result.table["text"].iloc[0] == original
    assert result.table["score"].is_monotonic_decreasing
    rings = next(t for t in result.figure.data if t.name == "nearest neighbours")
    point = result.table["point"].iloc[0]
    assert f"#{point}</b>" in rings.customdata[0]


def test_neighbours_of_a_picked_point_leave_the_point_out(teaching):
    index = teaching.texts.index("It is raining heavily outside.")
    result = visualize.nearest(teaching, point=index + 1, k=4, method="pca", dims=3)
    vectors, _ = visualize.embed(teaching)
    scores = util.cos_sim(vectors[index], vectors)[0].numpy()
    expected = [i + 1 for i in np.argsort(-scores) if i != index][:4]
    assert result.table["point"].tolist() == expected
    assert set(result.table["label"]) == {"weather"}
    picked = next(t for t in result.figure.data if t.name == "picked point")
    assert picked.type == "scatter3d"
    assert "raining heavily" in picked.customdata[0]
    with pytest.raises(InputError, match="no point #81"):
        visualize.nearest(teaching, point=81)
    with pytest.raises(InputError, match="Type a sentence"):
        visualize.nearest(teaching, query="  ", point=None)
    with pytest.raises(InputError, match="no point #0: the map has points #1 to #80"):
        visualize.nearest(teaching, query="  ", point=0)


def test_flash_engine_gives_the_same_vectors_as_sentence_transformers():
    texts = ["I like to watch tv", "Watching Television is my favorite time pass",
             "word " * 200 + "A long message beyond flash's default 128 tokens."]
    flash_vectors = visualize.engine("lightning-flash").encode_bulk(texts)
    st_vectors = visualize.engine("sentence-transformers").encode_bulk(texts)
    assert flash_vectors.shape == st_vectors.shape == (3, 384)
    assert torch.allclose(flash_vectors, st_vectors, atol=1e-5)
    assert os.environ.get("TOKENIZERS_PARALLELISM") == "false"  # flash's override undone


def test_tiny_sets_adapt_with_a_note_or_refuse_clearly():
    five = visualize.unique_points("five", ["a cat", "a dog", "rain", "sun", "a bird"])
    tsne = visualize.draw(five, "tsne", 2)
    assert base_points(tsne.figure) == 5
    assert any("perplexity lowered from 30 to 4" in note for note in tsne.notes)

    two = visualize.unique_points("two", ["a cat", "rain"])
    pca = visualize.draw(two, "pca", 3)
    assert base_points(pca.figure) == 2 and pca.figure.data[0].type == "scatter"
    assert any("3D needs at least 3" in note for note in pca.notes)

    three = visualize.unique_points("three", ["a cat", "a dog", "rain"])
    for dims in (2, 3):
        umap_map = visualize.draw(three, "umap", dims)
        assert base_points(umap_map.figure) == 3
        assert any("neighbours lowered from 15 to 2" in note for note in umap_map.notes)
    with pytest.raises(InputError, match="UMAP needs at least 3 different sentences; got 2"):
        visualize.draw(two, "umap", 2)
    one = visualize.unique_points("one", ["a cat", "a cat"])
    with pytest.raises(InputError, match="at least 2 different sentences; got 1"):
        visualize.draw(one, "tsne", 2)


@pytest.mark.parametrize("lines", [["Hello world", "hello world", "HELLO WORLD"], ["\U0001F600", "\U0001F389", "\u2603"]])
@pytest.mark.parametrize("method", sorted(visualize.METHODS))
def test_sentences_with_one_same_embedding_get_a_message_not_a_crash(lines, method):
    """Different texts the model cannot tell apart (case, emoji): t-SNE crashed the whole server
    (a segfault in scikit-learn) on such a set; every method now says why it cannot map them."""
    points = visualize.unique_points("same", lines)
    assert len(points.texts) == len(lines)
    with pytest.raises(InputError, match=f"All {len(lines)} sentences get the same embedding"):
        visualize.draw(points, method, 2)
    mixed = visualize.unique_points("mixed", lines + ["The weather is lovely today."])
    assert base_points(visualize.draw(mixed, method, 2).figure) == len(lines) + 1


def test_empty_lines_are_ignored_and_all_empty_input_gets_a_message():
    points = visualize.load_points(visualize.TYPED, "\n  a cat\n\n\t\nrain\n")
    assert points.texts == ["a cat", "rain"]
    with pytest.raises(InputError, match="every line is empty"):
        visualize.load_points(visualize.TYPED, " \n\t\n\n")
    with pytest.raises(InputError, match="every line is empty"):  # invisible characters only
        visualize.load_points(visualize.TYPED, "\u200b\n\u200d\ufeff\n\u202e")


def test_duplicates_are_one_point_with_a_count_in_the_hover():
    points = visualize.load_points(visualize.TYPED, "a cat\nrain\na cat\n\na cat\nsun")
    assert points.texts == ["a cat", "rain", "sun"] and points.counts == [3, 1, 1]
    assert any("2 repeated sentence(s) merged" in note for note in points.notes)
    result = visualize.draw(points, "pca", 2)
    hovers = [h[0] for trace in result.figure.data for h in trace.customdata]
    assert base_points(result.figure) == 3
    assert sum("occurs 3 times" in h for h in hovers) == 1
    assert result.coordinates["count"].tolist() == [3, 1, 1]


def test_html_in_text_and_labels_is_shown_literally(tmp_path):
    upload = tmp_path / "html.csv"
    upload.write_text('Message,Category\n"<b>bold</b> claim",<i>tag</i>\n3<5 is true,x\n'
                      "plain words,x\n", encoding="utf-8")
    points = visualize.load_points(visualize.UPLOADED, csv_path=str(upload), label_col="Category")
    result = visualize.draw(points, "pca", 2)
    hovers = " ".join(h[0] for trace in result.figure.data for h in trace.customdata)
    assert "&lt;b&gt;bold&lt;/b&gt; claim" in hovers and "3&lt;5 is true" in hovers
    assert "<b>bold" not in hovers and "<i>" not in hovers
    assert "&lt;i&gt;tag&lt;/i&gt;" in {trace.name for trace in result.figure.data}
    named = visualize.draw(visualize.unique_points("<a href='x'>f</a>.csv", ["a cat", "rain"]))
    assert named.figure.layout.title.text.startswith("&lt;a href=") and "\\<a href" in named.summary
    long = visualize.unique_points("long", ["word " * 200, "short"])
    long_hover = visualize.draw(long, "pca", 2).figure.data[0].customdata[0][0]
    assert "…" in long_hover and len(long_hover) < 400


def test_uploaded_csv_columns_can_be_picked_and_skipped_rows_are_noted(cases_dir):
    wrong = str(cases_dir / "csv" / "wrong_columns.csv")
    with pytest.raises(InputError, match="Columns found: Label, Text"):
        visualize.load_points(visualize.UPLOADED, csv_path=wrong)
    points = visualize.load_points(visualize.UPLOADED, csv_path=wrong, text_col="Text",
                                   label_col="Label")
    assert points.texts == ["Hello", "Win now"] and points.labels == ["ham", "spam"]
    skipped = visualize.load_points(visualize.UPLOADED, csv_path=str(cases_dir / "csv" / "nan_row.csv"))
    assert any("1 row skipped: empty Message, line 3" in note for note in skipped.notes)
    upper = visualize.load_points(visualize.UPLOADED, csv_path=str(cases_dir / "csv" / "UPPER_EXT.CSV"))
    assert upper.texts
    with pytest.raises(InputError, match="Upload a CSV"):
        visualize.load_points(visualize.UPLOADED, csv_path=None)


def test_big_sets_are_sampled_by_label_with_a_note(teaching):
    sample = visualize.unique_points("big", teaching.texts, teaching.labels, max_points=40)
    assert len(sample.texts) == 40
    assert {sample.labels.count(t) for t in set(teaching.labels)} == {5}
    assert any("random sample of 40 of 80 sentences, each label keeping its share" in note
               for note in sample.notes)


def test_large_2d_maps_use_webgl_with_one_point_per_sentence():
    n = visualize.WEBGL_FROM + 200
    points = visualize.unique_points("many", [f"message {i}" for i in range(n)],
                                     ["spam" if i % 7 == 0 else "ham" for i in range(n)])
    coords = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
    emap = visualize.EmbeddingMap(points, coords, coords, visualize.plan_projection(n, "pca", 2),
                                  visualize.DEFAULT_ENGINE, "")
    fig = visualize.figure(emap)
    assert {trace.type for trace in fig.data} == {"scattergl"}
    assert {trace.name: len(trace.x) for trace in fig.data} == {"ham": n - 172, "spam": 172}


def test_sms_collection_loads_as_unique_ham_and_spam_points(data_dir):
    points = visualize.load_points(visualize.SMS_SET)
    assert set(points.labels) == {"ham", "spam"}
    assert 5000 < len(points.texts) < 5574 and sum(points.counts) == 5574
    assert any("repeated sentence(s) merged" in note for note in points.notes)


def test_caches_survive_a_restart_and_skip_damaged_files(cache_dir):
    points = visualize.unique_points("cache", ["a cat sleeps", "rain tomorrow", "stocks fell",
                                               "pasta with basil"])
    first = visualize.build_map(points, "tsne", 2)
    assert "computed" in first.summary
    visualize.embedding_cache.forget()
    visualize.projection_cache.forget()  # as after a restart: only the .npy files remain
    again = visualize.build_map(points, "tsne", 2)
    assert again.summary.count("from the cache") == 2
    np.testing.assert_array_equal(again.coords, first.coords)
    files = sorted((cache_dir / "projections").glob("*.npy"))
    assert files and all(np.load(f, allow_pickle=False).dtype == np.float32 for f in files)

    key = visualize.embedding_key(points, visualize.DEFAULT_ENGINE)
    (cache_dir / "embeddings" / f"{key}.npy").write_bytes(b"damaged")
    visualize.embedding_cache.forget()
    vectors, cached = visualize.embed(points)
    assert not cached
    np.testing.assert_allclose(vectors, first.vectors, atol=1e-6)


def test_pair_similarity_is_unchanged_while_a_projection_runs(teaching):
    distinct = [(f"Student {i} likes to watch tv", f"Pupil {i} enjoys television") for i in range(10)]
    sequential = [similarity.compare([a], [b]).table.values.tolist() for a, b in distinct] * 3
    pairs = distinct * 3  # 30 clicks
    reordered = visualize.unique_points("reordered", teaching.texts[::-1], teaching.labels[::-1])
    with ThreadPoolExecutor(31) as pool:  # embeds and projects (nothing cached) during the clicks
        projection = pool.submit(visualize.draw, reordered, "tsne", 3)
        concurrent = list(pool.map(lambda p: similarity.compare([p[0]], [p[1]]).table.values.tolist(),
                                   pairs))
        assert "computed" in projection.result().summary
        assert base_points(projection.result().figure) == len(teaching.texts)
    assert concurrent == sequential


@pytest.fixture(scope="module")
def client():
    """The embedding-map tab alone, launched on a free port, as gradio_client users reach it."""
    with gr.Blocks() as demo:
        ui.visualize_tab()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_port=None, quiet=True)
    yield Client(url, verbose=False)
    demo.close()


def test_visualize_and_neighbours_endpoints(client, teaching):
    inputs = (visualize.TEACHING_SET, "", None, None, None, "pca", 2, "sentence-transformers")
    plot, coords, summary = client.predict(*inputs, api_name="/visualize")
    assert len(coords["data"]) == len(teaching.texts)
    assert coords["headers"][:3] == ["point", "x", "y"]
    assert "80 sentences" in summary
    table, _plot = client.predict(*inputs, "It's pouring with rain out there.", None, 3,
                                  api_name="/neighbours")
    assert table["data"][0][-1] == "It is raining heavily outside."
    with pytest.raises(Exception, match="every line is empty"):
        client.predict(visualize.TYPED, "\n \n", None, None, None, "pca", 2,
                       "sentence-transformers", api_name="/visualize")
