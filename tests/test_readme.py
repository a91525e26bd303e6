"""The README's gradio_client snippets run as written against a launched app."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SNIPPETS = [block for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
            if "Client(" in block and "handle_file" not in block]


@pytest.fixture(scope="module")
def url(client):
    return client.src


def test_readme_has_a_snippet_per_tab():
    assert [re.search(r'api_name="(/\w+)"', s).group(1) for s in SNIPPETS] == [
        "/similarity", "/classify", "/visualize", "/cosine_by_hand", "/cls_vs_sentence"]


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: re.search(r'api_name="/(\w+)"', s).group(1))
def test_readme_snippet_runs(snippet, url, capsys):
    exec(snippet.replace("http://127.0.0.1:7860/", url), {})
    printed = capsys.readouterr().out
    assert printed.strip()
    if "/similarity" in snippet:
        assert "0.702, 'Similar'" in printed and "'Not similar'" in printed
    if "/classify" in snippet:
        assert "\nham [{'label': 'ham'" in printed, printed
        assert "['WINNER! Call 09061221066 now', 'spam'" in printed, printed
    if "/visualize" in snippet:
        assert "80 sentences" in printed
    if "/paraphrase_mining" in snippet:
        assert "A man is eating food." in printed and "A man is eating bread." in printed
