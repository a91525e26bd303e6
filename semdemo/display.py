"""Text shown inside plots: escaped (so `<b>` or `3<5` show literally) and shortened."""
import html
import re


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def hover_text(text: str, limit: int = 300) -> str:
    """Safe hover text for plotly: shortened, HTML-escaped, long lines wrapped."""
    escaped = html.escape(shorten(text, limit))
    words, lines, line = escaped.split(" "), [], ""
    for word in words:
        if line and len(line) + len(word) > 60:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "<br>".join(lines)


def plot_text(text: str, limit: int) -> str:
    """Safe text for plotly titles and axis labels (which render tags such as <a> and <br>):
    shortened and HTML-escaped, so the user's text shows literally."""
    return html.escape(shorten(text, limit))


def markdown_text(text: str, limit: int) -> str:
    """User text inside Markdown, shown literally on one line: whitespace runs (newlines
    included) become one space, it is shortened, and every ASCII punctuation character is
    backslash-escaped (CommonMark allows that for all of them), so `![x](url)`, `**`, `<img>`,
    `# heading`, an entity such as `&lt;`, `$$x$$` (LaTeX) or a bare URL (an autolink) stay text."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", shorten(" ".join(text.split()), limit))
