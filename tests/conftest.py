"""Shared fixtures: offline hub, the warm embedder, and the data directory from SEMDEMO_DATA_DIR."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def embedder():
    """The registry's default embedder, loaded once for the whole test session."""
    from semdemo.models import get_embedder

    return get_embedder()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data directory; CI sets SEMDEMO_DATA_DIR=../shared/data."""
    value = os.environ.get("SEMDEMO_DATA_DIR")
    if not value:
        pytest.fail("SEMDEMO_DATA_DIR is not set: point it at the shared data directory.")
    path = Path(value)
    assert path.is_dir(), f"SEMDEMO_DATA_DIR={value} is not a directory"
    return path


@pytest.fixture(scope="session")
def cases_dir(data_dir) -> Path:
    """The bad-input cases, which live beside the data directory (shared/cases)."""
    path = data_dir.parent / "cases"
    assert path.is_dir(), f"no bad-input cases at {path}"
    return path


@pytest.fixture(scope="session")
def client():
    """The app served on a free port, reached as gradio_client users reach it (`python app.py`
    serves the same demo)."""
    from gradio_client import Client

    from semdemo.ui import build_demo

    demo = build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_port=None, quiet=True)
    yield Client(url, verbose=False)
    demo.close()
