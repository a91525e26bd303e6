"""The app in a real browser: Chromium (Debian's, driven by Playwright) clicks what a person clicks
and reads what a person reads, one test per tab plus one bad input per tab.

Each test leaves a screenshot in artifacts/browser/. With SEMDEMO_SCREENSHOTS=docs the tests also
refresh the README's screenshots in docs/ (small palette PNGs).
"""
import os
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright
from sentence_transformers import util

from semdemo import classify, explain, similarity, visualize
from semdemo.ui import build_demo

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "browser"
DOCS = ROOT / "docs"
# Without the background-networking flags Chromium keeps dialling out, and a closed network
# refuses those connections; --no-sandbox because CI runs as root in a container.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1200, "height": 900}
WAIT_MS = 60_000  # an answer on 2 busy CPU cores; a passing run waits far less


def chromium_path() -> str:
    """Debian's Chromium (Playwright's own browser download is not used), or SEMDEMO_CHROMIUM."""
    path = os.environ.get("SEMDEMO_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    if not path:
        pytest.fail("No Chromium found: `apt-get install chromium`, or set SEMDEMO_CHROMIUM to a "
                    "Chromium or Chrome executable.")
    return path


@pytest.fixture(scope="module")
def app_url():
    """The demo launched on a free port, as `python app.py` serves it (or, with SEMDEMO_APP_URL,
    an app already running there, e.g. a deployed Space)."""
    if os.environ.get("SEMDEMO_APP_URL"):
        yield os.environ["SEMDEMO_APP_URL"]
        return
    demo = build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_port=None, quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (each `launch` gets a fresh temporary profile)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url, request):
    """A fresh page on the app; a screenshot of it lands in artifacts/browser/ whatever happens."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    crashes = []
    page.on("pageerror", lambda error: crashes.append(error))
    page.goto(app_url)
    expect(page.get_by_role("tab").first).to_be_visible()
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
    context.close()
    assert not crashes, f"JavaScript errors in the page: {crashes}"


def open_tab(page, name: str):
    page.get_by_role("tab", name=name).click()
    expect(page.get_by_role("tab", name=name, selected=True)).to_be_visible()


def click_example(page, row: int = 0):
    """Click a row of the visible tab's gr.Examples (a table, or a gallery for a single input)."""
    cells = page.get_by_test_id(f"dataset-cell-{row}-0").filter(visible=True)
    if cells.count():
        cells.click()
    else:
        page.locator("button.gallery-item").filter(visible=True).nth(row).click()


def table_rows(page, name: str) -> list[list[str]]:
    """The body cells of the rendered gr.Dataframe labelled `name`, row by row, as shown."""
    grid = page.get_by_role("grid", name=name)
    return grid.evaluate("""grid => {
        const rows = {};
        for (const cell of grid.querySelectorAll('[role=gridcell][data-row]')) {
            (rows[cell.dataset.row] ??= [])[cell.dataset.col] = cell.innerText.trim();
        }
        return Object.keys(rows).sort((a, b) => a - b).map(r => rows[r]);
    }""")


def expect_error(page, message: str):
    """The error toast a person sees carries `message`."""
    expect(page.get_by_test_id("toast-text").filter(has_text=message)).to_be_visible()


def save_docs_screenshot(page, name: str, width: int = 1000):
    """With SEMDEMO_SCREENSHOTS=docs, the page as shown becomes docs/<name>.png for the README."""
    if os.environ.get("SEMDEMO_SCREENSHOTS") != "docs":
        return
    DOCS.mkdir(exist_ok=True)
    path = DOCS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    image = Image.open(path).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)


def test_similarity_article_example_shows_scores_and_labels(page):
    open_tab(page, "Pair similarity")
    # Each example's label shows its pairs (a table cell would run the lines together).
    expect(page.get_by_role("button", name="2 pairs: I like to watch tv ↔ Watching")).to_be_visible()
    click_example(page, 0)
    expect(page.get_by_label("Column 1: one sentence per line")).to_have_value(
        similarity.ARTICLE_EXAMPLES[0][0])
    page.get_by_role("button", name="Compare").click()
    grid = page.get_by_role("grid", name="Scores")
    expect(grid.get_by_test_id("cell-1-3")).to_have_text("Not similar")

    rows = table_rows(page, "Scores")
    assert [row[:2] for row in rows] == [
        ["I like to watch tv", "Watching Television is my favorite time pass"],
        ["The cat was running after the butterfly", "It is so windy today"]]
    assert float(rows[0][2]) == pytest.approx(0.70, abs=0.01) and rows[0][3] == "Similar"
    assert float(rows[1][2]) == pytest.approx(0.13, abs=0.01) and rows[1][3] == "Not similar"
    assert [len(row[2].split(".")[1]) for row in rows] == [3, 3]  # 0.130, not 0.13
    for width in (1000, 1200):  # every column, the last (Note) included, fits the window
        page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})
        grid = page.get_by_role("grid", name="Scores")
        grid.get_by_role("gridcell").first.scroll_into_view_if_needed()
        expect(grid.get_by_role("columnheader").filter(has_text="Note")).to_be_in_viewport(ratio=1)
    page.set_viewport_size(VIEWPORT)
    expect(page.get_by_text("How the first score is computed")).to_be_visible()
    heatmap = page.locator(".js-plotly-plot").filter(visible=True)
    expect(heatmap.locator(".heatmaplayer")).to_have_count(1)
    # The sentences label the axes, in full view (looked up afresh: plotly redraws its ticks).
    page.wait_for_function("""label => {
        const plot = [...document.querySelectorAll('.js-plotly-plot')].find(p => p.offsetParent);
        const tick = [...plot.querySelectorAll('.ytick text')].find(t => t.textContent === label);
        return tick && tick.getBoundingClientRect().left >= plot.getBoundingClientRect().left;
    }""", arg="1. I like to watch tv", timeout=10_000)
    save_docs_screenshot(page, "similarity")


def test_similarity_mismatched_columns_show_both_counts(page):
    open_tab(page, "Pair similarity")
    page.get_by_label("Column 1: one sentence per line").fill("One\nTwo\nThree")
    page.get_by_label("Column 2: one sentence per line").fill("Uno\nDos")
    page.get_by_role("button", name="Compare").click()
    expect_error(page, "Column 1 has 3 sentences but column 2 has 2")


def test_embedding_map_pca_of_the_teaching_set_plots_one_point_per_sentence(page):
    points = visualize.load_points(visualize.TEACHING_SET)
    per_label = {label: points.labels.count(label) for label in dict.fromkeys(points.labels)}
    open_tab(page, "Embedding map")
    expect(page.get_by_label(visualize.TEACHING_SET)).to_be_checked()
    expect(page.get_by_label("t-SNE")).to_be_checked()  # the default: it shows the 8 topics apart
    page.get_by_role("button", name="Draw the map").click()
    expect(page.get_by_text(f"{len(points.texts)} sentences from {visualize.TEACHING_SET}, t-SNE 2D")
           ).to_be_visible()
    assert points_per_trace(page, "t-SNE 2D", len(points.texts)) == per_label
    save_docs_screenshot(page, "embeddings")

    page.get_by_label("PCA").check()  # the same points, a linear projection
    page.get_by_role("button", name="Draw the map").click()
    expect(page.get_by_text(f"{len(points.texts)} sentences from {visualize.TEACHING_SET}, PCA 2D")
           ).to_be_visible()
    assert points_per_trace(page, "PCA 2D", len(points.texts)) == per_label


def points_per_trace(page, projection: str, total: int) -> dict[str, int]:
    """Once the visible map is the `projection` one with `total` points: the number drawn in each
    trace (by legend name)."""
    plot = page.locator(".js-plotly-plot").filter(visible=True)
    expect(plot.locator(".gtitle")).to_contain_text(projection)
    expect(plot.locator(".scatterlayer .point")).to_have_count(total)
    return plot.evaluate("""plot => Object.fromEntries(
        [...plot.querySelectorAll('.scatterlayer .trace')].map((trace, i) =>
            [plot._fullData[i].name, trace.querySelectorAll('.point').length]))""")


def test_embedding_map_of_blank_sentences_says_so(page):
    open_tab(page, "Embedding map")
    page.get_by_label(visualize.TYPED, exact=True).check()
    page.get_by_label("My sentences: one per line").fill("   \n\n  ")
    page.get_by_role("button", name="Draw the map").click()
    expect_error(page, "every line is empty")


def test_embedding_map_neighbours_of_nothing_say_what_to_give(page):
    open_tab(page, "Embedding map")
    expect(page.get_by_label("…or of point #")).to_have_value("")  # empty, not 0
    page.get_by_role("button", name="Find neighbours").click()
    expect_error(page, "Type a sentence in the query box, or give a point number")


def test_spam_ham_labels_the_article_messages(page):
    open_tab(page, "Spam / ham")
    message = page.get_by_label("Message", exact=True)
    prediction = page.get_by_test_id("label-output-value")
    for row, (text, label) in enumerate(classify.ARTICLE_EXAMPLES):
        click_example(page, row)
        expect(message).to_have_value(text)
        page.get_by_role("button", name="Classify", exact=True).click()
        expect(prediction).to_have_text(label)
        shares = [float(share.inner_text().rstrip("%")) for share in
                  page.locator("[data-testid$=-confidence-set] dd").filter(visible=True).all()]
        assert len(shares) == 2 and sum(shares) == pytest.approx(100, abs=1.5), shares
        assert max(shares) > 50
    save_docs_screenshot(page, "spam")


def test_spam_ham_empty_message_asks_for_one(page):
    open_tab(page, "Spam / ham")
    page.get_by_label("Message", exact=True).fill("   ")
    page.get_by_role("button", name="Classify", exact=True).click()
    expect_error(page, "Type a message to classify.")


def test_spam_ham_batch_shows_both_probabilities_and_notes_a_skipped_blank_line(page):
    open_tab(page, "Spam / ham")
    page.get_by_text("Many messages").click()
    texts = [text for text, _ in classify.ARTICLE_EXAMPLES]
    page.get_by_label("Messages, one per line").fill(f"{texts[0]}\n\n{texts[1]}")
    page.get_by_role("button", name="Label them").click()
    expect(page.get_by_test_id("toast-text").filter(has_text="1 empty line(s) skipped.")
           ).to_be_visible()
    expect(page.get_by_role("grid", name="Labels").get_by_role("gridcell")).not_to_have_count(0)
    rows = table_rows(page, "Labels")
    assert [row[:2] for row in rows] == [list(pair) for pair in classify.ARTICLE_EXAMPLES[:2]]
    for row in rows:  # both probabilities with 3 decimals, adding up to 1
        assert all(re.fullmatch(r"[01]\.[0-9]{3}", share) for share in row[2:]), row
        assert sum(map(float, row[2:])) == pytest.approx(1, abs=0.002)


def test_spam_ham_epochs_show_the_strategy_default(page):
    open_tab(page, "Spam / ham")
    page.get_by_text("Train a classifier", exact=True).click()
    epochs = page.get_by_label("Epochs")
    expect(epochs).to_have_value(str(classify.DEFAULT_EPOCHS[classify.DEFAULT_STRATEGY]))
    page.get_by_label("no_freeze").check()
    expect(epochs).to_have_value(str(classify.DEFAULT_EPOCHS["no_freeze"]))


def test_why_tab_computes_the_cosine_by_hand_like_the_library(page, embedder):
    sentence_1, sentence_2 = explain.PARAPHRASE_PAIRS[0][:2]
    expected = float(util.cos_sim(*embedder.encode([sentence_1, sentence_2])))
    open_tab(page, "Why sentence embeddings")
    expect(page.get_by_label("Sentence 1", exact=True)).to_have_value(sentence_1)
    components_grid = page.get_by_role("grid", name=f"The first {explain.COMPONENTS_SHOWN} components")
    expect(components_grid.get_by_role("columnheader")).to_contain_text(explain.COMPONENT_COLUMNS)
    page.get_by_role("button", name="Compute by hand").click()
    shown = page.get_by_text("(library util.cos_sim:").filter(visible=True)
    expect(shown).to_be_visible()
    library = float(re.search(r"util\.cos_sim: (-?[0-9.]+)", shown.inner_text()).group(1))
    assert library == pytest.approx(expected, abs=1e-4)
    components = table_rows(page, f"The first {explain.COMPONENTS_SHOWN} components")
    assert [row[0] for row in components] == [str(i) for i in range(1, explain.COMPONENTS_SHOWN + 1)]
    # The table shows u's first components as the text quotes them ("… starts 0.007, -0.063, …").
    walkthrough = page.locator("p").filter(has_text="Step by step").filter(visible=True)
    quoted = re.search(r"starts (-?[0-9.]+), (-?[0-9.]+), (-?[0-9.]+)", walkthrough.inner_text()
                       ).groups()
    assert [row[1] for row in components[:3]] == list(quoted)
    save_docs_screenshot(page, "why")


def test_why_tab_with_an_empty_sentence_asks_for_two(page):
    open_tab(page, "Why sentence embeddings")
    page.get_by_label("Sentence 1", exact=True).fill("")
    page.get_by_role("button", name="Compute by hand").click()
    expect_error(page, "Type two sentences: both need text.")
