"""Pair-similarity backend: the article's seed scores, the matrix, and every bad-input case."""
import math

import pytest

from semdemo import similarity
from semdemo.errors import InputError

SEED_1 = ["I like to watch tv", "The cat was running after the butterfly"]
SEED_2 = ["Watching Television is my favorite time pass", "It is so windy today"]


def test_article_seed_scores_and_labels(embedder):
    result = similarity.compare(SEED_1, SEED_2, threshold=0.5, embedder=embedder)
    rows = result.table.to_dict("records")
    assert rows[0]["Score"] == pytest.approx(0.70, abs=0.01)
    assert rows[0]["Result"] == "Similar"
    assert rows[1]["Score"] == pytest.approx(0.13, abs=0.01)
    assert rows[1]["Result"] == "Not similar"
    assert result.notes == []


def test_threshold_moves_the_verdict(embedder):
    result = similarity.compare(SEED_1, SEED_2, threshold=0.75, embedder=embedder)
    assert list(result.table["Result"]) == ["Not similar", "Not similar"]


def test_heatmap_is_the_full_cross_matrix_with_sentence_labels(embedder):
    result = similarity.compare(SEED_1, SEED_2, embedder=embedder)
    trace = result.heatmap.data[0]
    assert trace.z.shape == (2, 2)
    assert trace.z[0][0] == pytest.approx(result.table["Score"][0], abs=1e-3)
    assert trace.z[1][0] < trace.z[0][0]  # cat sentence vs TV sentence is less similar
    assert trace.y[0].endswith("I like to watch tv")
    assert "Watching Television is my favorite time pass" in trace.customdata[0][0]


def test_explanation_shows_dot_product_and_norms_equal_to_library(embedder):
    text = similarity.compare(SEED_1, SEED_2, embedder=embedder).explanation
    assert "u·v / (|u| |v|)" in text
    assert "**0.70" in text and "util.cos_sim`: 0.70" in text


@pytest.mark.parametrize("blank", ["", "  \n\t"])
def test_empty_sentence_row_not_scored_and_others_are(embedder, blank):
    result = similarity.compare(["The train is late", SEED_1[0]], [blank, SEED_2[0]], embedder=embedder)
    empty, scored = result.table.to_dict("records")
    assert empty["Score"] is None and empty["Result"] == ""
    assert "both sentences need text" in empty["Note"]
    assert scored["Score"] == pytest.approx(0.70, abs=0.01)
    assert any("both sentences need text" in note for note in result.notes)
    assert not any(isinstance(s, float) and math.isnan(s) for s in result.table["Score"])


def test_all_empty_pairs_give_a_message(embedder):
    with pytest.raises(InputError, match="both sentences"):
        similarity.compare(["", " "], ["x", ""], embedder=embedder)


def test_over_long_sentence_is_scored_with_a_truncation_note(embedder):
    long_text = "word " * 400 + "The train is late."
    result = similarity.compare([long_text], ["The train is late."], embedder=embedder)
    row = result.table.to_dict("records")[0]
    assert isinstance(row["Score"], float)
    assert f"truncated to {embedder.max_tokens} tokens" in row["Note"]
    assert any("truncated" in note for note in result.notes)


def test_mismatched_columns_name_both_counts(embedder):
    with pytest.raises(InputError, match="Column 1 has 3 sentences but column 2 has 2"):
        similarity.compare(["a", "b", "c"], ["a", "b"], embedder=embedder)


def test_pair_limit_is_enforced(embedder):
    with pytest.raises(InputError, match="more than the limit of 2"):
        similarity.compare(["a"] * 3, ["b"] * 3, embedder=embedder, max_pairs=2)


def test_split_lines_keeps_inner_blank_rows_and_drops_trailing_ones():
    assert similarity.split_lines("a\n\nb\n \n") == ["a", "", "b"]
    assert similarity.split_lines("") == []


@pytest.mark.parametrize("threshold, message", [(float("nan"), "from -1 to 1"), (1.5, "from -1 to 1"),
                                                ("high", "a number")])
def test_threshold_outside_cosine_range_gets_a_message(embedder, threshold, message):
    with pytest.raises(InputError, match=message):
        similarity.compare(SEED_1, SEED_2, threshold=threshold, embedder=embedder)


def test_no_threshold_means_the_default(embedder):
    result = similarity.compare(SEED_1, SEED_2, threshold=None, embedder=embedder)
    assert list(result.table["Result"]) == ["Similar", "Not similar"]


def test_text_the_model_cannot_read_is_scored_with_a_note(embedder):
    """Emoji (or an unknown script) become the one unknown token: such texts score as the same,
    and the table says why instead of showing a silent perfect match."""
    result = similarity.compare(["\U0001F600", SEED_1[0], "x" * 200], ["\U0001F389", SEED_2[0], "rain"],
                                embedder=embedder)
    emoji, scored, long_word = result.table.to_dict("records")
    assert emoji["Score"] == pytest.approx(1.0, abs=1e-3)
    assert emoji["Note"] == similarity.UNKNOWN_NOTE == long_word["Note"]
    assert scored["Note"] == "" and scored["Score"] == pytest.approx(0.70, abs=0.01)
    assert any("does not know" in note for note in result.notes)


def test_invisible_only_sentence_is_empty_not_a_perfect_match(embedder):
    result = similarity.compare(["\u200b", SEED_1[0]], ["\u200b\u200d", SEED_2[0]], embedder=embedder)
    empty, scored = result.table.to_dict("records")
    assert empty["Score"] is None and "both sentences need text" in empty["Note"]
    assert scored["Score"] == pytest.approx(0.70, abs=0.01)


def test_one_empty_column_names_it_rather_than_counting_lines():
    col1, col2 = similarity.split_lines("The train is late"), similarity.split_lines("  \t")
    with pytest.raises(InputError, match="Column 2 has no text: both sentences of a pair need text"):
        similarity.check_pairs(col1, col2)


def test_user_text_is_shown_literally_in_the_heatmap_and_explanation(embedder):
    result = similarity.compare(["![i](http://x/i.png) <a href='x'>click</a>"], ["**bold**"],
                                embedder=embedder)
    assert "<a href" not in str(result.heatmap.data[0].y) and "&lt;a href" in result.heatmap.data[0].y[0]
    assert "\\!\\[i\\]\\(http\\:\\/\\/x\\/i\\.png\\) \\<a" in result.explanation and "![i]" not in result.explanation
