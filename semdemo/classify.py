"""Spam / ham classification with lightning-flash: train, evaluate, store and serve a classifier.

Training is the article's path, `TextClassificationData` + `TextClassifier` + `flash.Trainer.finetune`,
with the backbone plugged in through flash's own registry: the head sits on the mean-pooled,
normalised sentence embedding that makes all-MiniLM-L6-v2 good (not on BERT's CLS pooler), each
batch is padded only to its longest message and holds messages of similar length, and a frozen
backbone runs in eval mode and embeds each message once instead of once per epoch. Everything
flash-specific lives in this module.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Callable

import datasets
import flash
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
import transformers
from flash.core.data.io.input import DataKeys
from flash.core.data.io.input_transform import InputTransform
from flash.core.data.utilities.classification import SingleLabelTargetFormatter
from flash.core.finetuning import FinetuningStrategies, FlashBaseFinetuning
from flash.text import TextClassificationData, TextClassifier
from flash.text.classification.adapters import GenericAdapter
from pytorch_lightning import Callback, seed_everything
from safetensors.torch import load_file, save_file
from sentence_transformers import SentenceTransformer
from sklearn.metrics import (accuracy_score, confusion_matrix, matthews_corrcoef,
                             precision_recall_fscore_support)
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import Sampler

from semdemo import data, models
from semdemo.display import markdown_text, plot_text
from semdemo.errors import InputError

STRATEGIES = ("freeze", "freeze_unfreeze", "no_freeze")
DEFAULT_STRATEGY = "freeze"
# Epochs per strategy: frozen epochs cost almost nothing once every message is embedded.
DEFAULT_EPOCHS = {"freeze": 40, "freeze_unfreeze": 14, "no_freeze": 3}
UNFROZEN_EPOCHS = 4  # freeze_unfreeze trains the whole network for its last this-many epochs
HEAD_LR = 1e-2  # a linear head on unit-length embeddings needs large steps to reach confident logits
BACKBONE_LR = 5e-5  # the usual rate for fine-tuning a pretrained transformer
BATCH_SIZE = 32
SEED = 42
TEST_FRACTION, VAL_FRACTION = 0.2, 0.1
MIN_PER_CLASS = 3  # a stratified train/validation/test split needs this many rows of each class
MAX_MESSAGES = int(os.environ.get("SEMDEMO_MAX_MESSAGES", "5000"))  # per prediction request
MAX_BATCH = 32  # concurrent single-message requests classified in one forward pass
DOWNLOAD_MAX_AGE_S = 3600  # label downloads older than this are deleted
FORMULA_STARTS = ("=", "+", "-", "@")  # what spreadsheets read as the start of a formula
BACKBONE = "sentence_embedding"  # our name in flash's TextClassifier.backbones registry
DEFAULT_BACKBONE = "all-MiniLM-L6-v2"  # stored in records instead of the machine-specific path
SHIPPED_DIR = Path(__file__).parent / "assets" / "spam_head"

SMS_COLLECTION, UPLOADED = "SMS Spam Collection", "My CSV upload"  # training sources in the tab

ARTICLE_EXAMPLES = [  # the article's three, with their labels
    ("Can you spill the secret?", "ham"),
    ("Camera - You are awarded a SiPix Digital Camera! call 09061221066 fromm landline. "
     "Delivery within 28 days.", "spam"),
    ("How are you? We have reached India.", "ham"),
]
EXAMPLES = [text for text, _ in ARTICLE_EXAMPLES] + [
    "URGENT! Your mobile number has won a £2000 bonus. Call 09050000327 to claim now",
    "Sorry, I'll call you later, I'm in a meeting",
]

for _name in ("pytorch_lightning", "lightning_fabric", "flash"):
    logging.getLogger(_name).setLevel(logging.ERROR)
datasets.disable_progress_bars()  # flash maps every split through `datasets`; keep the CLI output clean
transformers.utils.logging.disable_progress_bar()


# ---------------------------------------------------------------- the backbone, in flash's registry

class SentenceEmbedding(nn.Module):
    """A sentence-transformers model as a flash backbone: input ids in, sentence embedding out.

    While its weights are frozen it runs in eval mode (no dropout) without gradients, and inside
    `caching()` it remembers each message's embedding, so frozen epochs after the first cost
    almost nothing.
    """

    def __init__(self, model_path: str):
        super().__init__()
        self.model = SentenceTransformer(model_path, device="cpu")
        self._cache: dict[tuple[int, ...], torch.Tensor] | None = None

    @property
    def frozen(self) -> bool:
        return not any(p.requires_grad for p in self.parameters())

    @contextlib.contextmanager
    def caching(self):
        """Remember the embeddings the frozen backbone computes until the block exits."""
        self._cache = {}
        try:
            yield
        finally:
            self._cache = None

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        if not self.frozen:
            return self.model(dict(features))["sentence_embedding"]
        if self._cache is None:
            return self._embed_frozen(features)
        ids, mask = features["input_ids"], features["attention_mask"].bool()
        keys = [tuple(row[keep].tolist()) for row, keep in zip(ids, mask)]
        missing = list({k: i for i, k in enumerate(keys) if k not in self._cache}.values())
        if missing:
            width = int(mask[missing].sum(1).max())
            subset = {name: value[missing, :width] for name, value in features.items()}
            for i, vector in zip(missing, self._embed_frozen(subset)):
                self._cache[keys[i]] = vector
        return torch.stack([self._cache[k] for k in keys])

    def _embed_frozen(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        mode = self.model.training
        self.model.eval()
        with torch.no_grad():
            vectors = self.model(dict(features))["sentence_embedding"]
        self.model.train(mode)
        return vectors


@dataclass
class SentenceCollate:
    """Tokenise a batch, padding only to its longest message (flash's collate pads to 128)."""

    tokenizer: Callable
    max_length: int

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer(list(texts), padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")
        return dict(encoded)

    def __call__(self, samples: list[dict]) -> dict:
        batch = {DataKeys.INPUT: self.tokenize([s[DataKeys.INPUT] for s in samples])}
        if DataKeys.TARGET in samples[0]:
            batch[DataKeys.TARGET] = torch.tensor([s[DataKeys.TARGET] for s in samples])
        return batch


def _load_sentence_backbone(model_path: str):
    """Registry entry: (backbone module, tokenizer, embedding size), as flash's GenericAdapter wants."""
    backbone = SentenceEmbedding(model_path)
    return backbone, backbone.model.tokenizer, backbone.model.get_embedding_dimension()


class SentenceEmbeddingAdapter(GenericAdapter):
    """flash's adapter for sentence-vector backbones (used for CLIP), given a model path and our collate."""

    def __init__(self, backbone, num_classes: int, max_length: int = 128, head="linear",
                 model_path: str | None = None):
        super().__init__(partial(backbone, model_path), num_classes, max_length=max_length, head=head)
        self.collate_fn = SentenceCollate(self.backbone.model.tokenizer,
                                          min(max_length, self.backbone.model.max_seq_length))


if BACKBONE not in TextClassifier.backbones.available_keys():
    TextClassifier.backbones(_load_sentence_backbone, name=BACKBONE, adapter=SentenceEmbeddingAdapter)


class LengthBuckets(Sampler):
    """Training order in which each batch holds messages of similar length (less padding), while
    the batches themselves come in a new random order every epoch."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int = SEED):
        self.lengths, self.batch_size, self.seed, self.epoch = lengths, batch_size, seed, 0

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        rng = np.random.default_rng(self.seed + self.epoch)
        self.epoch += 1
        order = rng.permutation(len(self.lengths))
        pool = self.batch_size * 50
        chunks = [sorted(order[i:i + pool], key=self.lengths.__getitem__)
                  for i in range(0, len(order), pool)]
        batches = [chunk[i:i + self.batch_size] for chunk in chunks
                   for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(batches)
        return iter([int(i) for batch in batches for i in batch])


class _UnfreezeWithOwnRate(FlashBaseFinetuning):
    """flash's freeze_unfreeze, but the backbone joins the optimizer as its own parameter group at
    a fine-tuning rate: the head's large rate would wreck pretrained weights. Unfreezing at epoch 0
    is `no_freeze` with that same split of rates."""

    def __init__(self, unfreeze_epoch: int, backbone_lr: float):
        super().__init__(FinetuningStrategies.FREEZE_UNFREEZE, unfreeze_epoch)
        self.backbone_lr = backbone_lr

    def unfreeze_and_extend_param_group(self, modules, optimizer, train_bn: bool = True) -> None:
        self.unfreeze_and_add_param_group(modules, optimizer, lr=self.backbone_lr,
                                          initial_denom_lr=1.0, train_bn=train_bn)


class _Progress(Callback):
    """Report training progress and record the loss per epoch (for the loss curve)."""

    def __init__(self, report: Callable[[float, str], None] | None):
        self.report = report
        self.history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.report:
            done = trainer.current_epoch * trainer.num_training_batches + batch_idx + 1
            self.report(done / (trainer.max_epochs * trainer.num_training_batches),
                        f"epoch {trainer.current_epoch + 1} of {trainer.max_epochs}")

    def on_train_epoch_end(self, trainer, pl_module):
        loss = trainer.callback_metrics.get("train_cross_entropy_epoch")
        if loss is not None:
            self.history["train_loss"].append(round(float(loss), 5))

    def on_validation_epoch_end(self, trainer, pl_module):
        loss = trainer.callback_metrics.get("val_cross_entropy")
        if loss is not None and not trainer.sanity_checking:
            self.history["val_loss"].append(round(float(loss), 5))


# ---------------------------------------------------------------- serving

class SpamClassifier:
    """A trained classifier ready to serve: the flash task in eval mode, its labels and its record."""

    def __init__(self, task: TextClassifier, record: dict, path: Path | None = None):
        self.task = task.eval()
        self.record = record
        self.path = path
        self.labels: list[str] = list(record["labels"])
        self.lock = threading.Lock()

    @property
    def device(self) -> torch.device:
        return next(self.task.parameters()).device

    def warm(self) -> SpamClassifier:
        """Move to the embedder's device (fp16 weights on cuda, as the embedder) and run one
        forward pass, so that the first request to classify is not slow."""
        device = models.get_embedder().device
        self.task.to(device)
        if device == "cuda":
            self.task.half()
        self.predict_proba(["Warm-up message."])
        return self

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Class probabilities, one row per text, columns in the order of `self.labels`."""
        collate = self.task.adapter.collate_fn
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        rows = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        with self.lock, torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                features = {k: v.to(self.device) for k, v in
                            collate.tokenize([texts[i] for i in chunk]).items()}
                rows[chunk] = torch.softmax(self.task(features).float(), dim=-1).cpu().numpy()
        return rows

    def predict(self, texts: list[str]) -> list[dict]:
        """For each text: the predicted label and the probability of every label."""
        return [{"label": self.labels[int(np.argmax(p))],
                 "probabilities": {label: round(float(v), 4) for label, v in zip(self.labels, p)}}
                for p in self.predict_proba(texts)]


def _backbone_path(name: str) -> str:
    return models.default_model_path() if name == DEFAULT_BACKBONE else name


def _backbone_name(path: str) -> str:
    return DEFAULT_BACKBONE if path == models.default_model_path() else path


def _new_task(labels: list[str], backbone_path: str, learning_rate: float = HEAD_LR) -> TextClassifier:
    return TextClassifier(labels=labels, backbone=BACKBONE, model_path=backbone_path,
                          learning_rate=learning_rate)


def load(path: str | Path) -> SpamClassifier:
    """Load a stored classifier: a record JSON, or the newest record in a model directory.

    Weights are read with safetensors (never unpickled), so a model directory cannot run code.
    """
    record_path = _newest_record(Path(path))
    if record_path is None:
        raise InputError(f"No trained model in {path}: train one first, or leave out --model.")
    try:
        record = json.loads(record_path.read_text())
        weights = load_file(record_path.parent / record["weights"])
        task = _new_task(record["labels"], _backbone_path(record["backbone"]))
        target = task.adapter.head if record["weights_scope"] == "head" else task.adapter
        target.load_state_dict(weights)
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        raise InputError(f"The model at {record_path} could not be loaded: {err}") from err
    return SpamClassifier(task, record, record_path).warm()


def model_dir() -> Path:
    """Where trained classifiers are stored: `<semdemo cache>/classifier/`."""
    return data.cache_dir() / "classifier"


def _records(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json")) if directory.is_dir() else []


def _newest_record(path: Path) -> Path | None:
    if path.is_file():
        return path
    stamped = []
    for record in _records(path):
        try:
            stamped.append((json.loads(record.read_text()).get("trained_at", ""), record))
        except (OSError, ValueError):
            continue
    return max(stamped)[1] if stamped else None


def trained_models() -> list[dict]:
    """The records of the trained models in `model_dir()` (one per strategy and data), then the shipped
    default; each has strategy, labels, metrics, data, trained_at and `path`."""
    found = []
    for record_path in _records(model_dir()) + _records(SHIPPED_DIR):
        try:
            found.append({**json.loads(record_path.read_text()), "path": str(record_path)})
        except (OSError, ValueError):
            continue
    return found


_serving: dict[str, SpamClassifier | None] = {"model": None}
_serving_lock = threading.Lock()
_training_lock = threading.Lock()


def serving_model() -> SpamClassifier:
    """The warm classifier the app serves: the last one trained, else the shipped default."""
    with _serving_lock:
        if _serving["model"] is None:
            try:
                _serving["model"] = load(model_dir()) if _newest_record(model_dir()) else None
            except InputError as err:
                logging.getLogger(__name__).warning("%s; serving the shipped default", err)
            if _serving["model"] is None:
                _serving["model"] = load(SHIPPED_DIR)
        return _serving["model"]


def check_messages(texts: list[str]) -> list[str]:
    """The messages, cleaned; none, an empty one or too many are refused with a message."""
    texts = [data.clean_text(t) for t in texts]
    if not texts or not any(texts):
        raise InputError("Type a message to classify.")
    if not all(texts):
        raise InputError(f"Message {texts.index('') + 1} is empty: give every message some text.")
    if len(texts) > MAX_MESSAGES:
        raise InputError(f"{len(texts)} messages is more than the limit of {MAX_MESSAGES} per request.")
    return texts


def classify(texts: list[str], model: SpamClassifier | None = None) -> list[dict]:
    """Label each message; empty messages are refused with a message, not guessed."""
    return (model or serving_model()).predict(check_messages(texts))


def classify_each(messages: list[str]) -> list[dict | None]:
    """Concurrent single-message requests (a Gradio batch) in one forward pass: each message's
    label and probabilities, or None for an empty one, so one user's empty box fails no other."""
    texts = [data.clean_text(message) for message in messages]
    present = [text for text in texts if text]
    predictions = iter(classify(present) if present else [])
    return [next(predictions) if text else None for text in texts]


def classify_batch(pasted: str = "", csv_path: str | None = None,
                   text_col: str | None = None) -> tuple[pd.DataFrame, str, list[str]]:
    """Label many messages, pasted one per line or from an uploaded CSV's text column: the table
    (message, label, probability of each label), a CSV file of it to download, and notes."""
    notes: list[str] = []
    if csv_path:
        table = data.read_table(csv_path, text_col=text_col, require_label=False)
        texts, notes = list(table.frame["text"]), table.skipped
    else:
        lines = (pasted or "").rstrip().splitlines()  # blank lines at the end are no omission
        texts = [line for line in map(data.clean_text, lines) if line]
        if not texts:
            raise InputError("Paste messages, one per line, or upload a CSV file.")
        if len(texts) < len(lines):
            notes.append(f"{len(lines) - len(texts)} empty line(s) skipped.")
    model = serving_model()
    frame = pd.DataFrame([{"message": t, "label": r["label"],
                           **{f"p({label})": r["probabilities"][label] for label in model.labels}}
                          for t, r in zip(texts, classify(texts, model))])
    handle, download = tempfile.mkstemp(dir=_downloads_dir(), prefix="spam-labels-", suffix=".csv")
    with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
        frame.assign(message=frame["message"].map(_as_spreadsheet_text),
                     label=frame["label"].map(_as_spreadsheet_text)).to_csv(out, index=False)
    return frame, download, notes


def _as_spreadsheet_text(text: str) -> str:
    """Text (a message, or a label from the training data) that a spreadsheet opening the
    download shows as text: one starting like a formula (`=HYPERLINK(...)`) gets a leading
    apostrophe, so it is never run (OWASP's CSV injection)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _downloads_dir(max_age_s: float = DOWNLOAD_MAX_AGE_S) -> Path:
    """The folder for label downloads, emptied of files older than `max_age_s` (by then the web
    server has long copied them to its own cache), so repeated requests do not fill the disk."""
    folder = Path(tempfile.gettempdir()) / "semdemo-downloads"
    folder.mkdir(exist_ok=True)
    cutoff = time.time() - max_age_s
    for old in folder.glob("spam-labels-*.csv"):
        with contextlib.suppress(OSError):  # another request may have removed it already
            if old.stat().st_mtime < cutoff:
                old.unlink()
    return folder


def summary(record: dict) -> str:
    """Markdown describing a stored model: what it was trained on, how, and how well it scored."""
    m = record["metrics"]
    scored = f"{markdown_text(m['positive_label'], 40)} " if m.get("positive_label") else "macro "
    source = markdown_text(record.get("data", {}).get("name", "?"), 80)
    return (f"**{record['strategy']}** model trained on *{source}* ({record['rows']['train']} "
            f"training messages, {record['epochs']} epochs, {m['train_seconds']} s). On "
            f"{m['test_rows']} {'held-out' if record.get('held_out', True) else 'training'} "
            f"messages: accuracy **{m['accuracy']:.3f}**, {scored}"
            f"precision {m['precision']:.3f}, recall {m['recall']:.3f}, **F1 {m['f1']:.3f}**, "
            f"MCC {m['mcc']:.3f}.")


# ---------------------------------------------------------------- training

@dataclass
class Split:
    """Rows to train on, to follow the validation loss per epoch, and to measure the model on."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    note: str = ""  # set when nothing could be held out

    @property
    def held_out(self) -> bool:
        return not self.note


def split(frame: pd.DataFrame, test: pd.DataFrame | None = None, seed: int = SEED) -> Split:
    """A stratified train / validation / test split with a fixed seed (no test split when `test` is
    given). Too few rows of a class to hold some out: everything trains and metrics are on the
    training rows, with a note saying so."""
    counts = frame["label"].value_counts()
    if len(counts) < 2:
        found = counts.index[0] if len(counts) else "none"
        raise InputError(f"need at least 2 classes; found only {found!r}")
    if counts.min() < MIN_PER_CLASS:
        if test is not None:  # validation loss on the training rows; metrics on the given test
            return Split(frame, frame, test)
        note = (f"Only {counts.min()} row(s) of {counts.idxmin()!r}: too few to hold some out "
                f"(need {MIN_PER_CLASS} per class), so the metrics are measured on the training rows.")
        return Split(frame, frame, frame, note)
    if test is None:
        frame, test = train_test_split(frame, test_size=_held_out_rows(frame, TEST_FRACTION),
                                       stratify=frame["label"], random_state=seed)
    train, val = train_test_split(frame, test_size=_held_out_rows(frame, VAL_FRACTION / (1 - TEST_FRACTION)),
                                  stratify=frame["label"], random_state=seed)
    return Split(*(part.reset_index(drop=True) for part in (train, val, test)))


def _held_out_rows(frame: pd.DataFrame, fraction: float) -> int:
    """Rows to hold out: the fraction (rounded up, as scikit-learn does), but at least one per
    class, which a stratified split needs (a small CSV of 6 rows would otherwise get 1 or 2)."""
    return max(math.ceil(fraction * len(frame)), frame["label"].nunique())


def evaluate(model: SpamClassifier, frame: pd.DataFrame) -> dict:
    """Test metrics: accuracy, precision / recall / F1 of the positive class ("spam", else the
    rarest; macro averages for more than two classes), MCC and the confusion matrix."""
    labels = model.labels
    predicted = [labels[i] for i in model.predict_proba(list(frame["text"])).argmax(1)]
    truth = list(frame["label"])
    binary = len(labels) == 2
    positive = ("spam" if "spam" in labels else frame["label"].value_counts().idxmin()) if binary else None
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, labels=labels, average="binary" if binary else "macro",
        pos_label=positive if binary else 1, zero_division=0)
    return {
        "accuracy": round(accuracy_score(truth, predicted), 4),
        "positive_label": positive,
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "f1": round(float(f1), 4),
        "mcc": round(float(matthews_corrcoef(truth, predicted)), 4),
        "confusion_matrix": confusion_matrix(truth, predicted, labels=labels).tolist(),
        "test_rows": len(truth),
    }


@dataclass
class TrainResult:
    """A finished training: the stored record (labels, metrics, …) and the model now serving."""

    record: dict
    model: SpamClassifier
    notes: list[str]


def _strategy(name: str, epochs: int):
    """What `Trainer.finetune` gets: the article's "freeze" string, or our unfreezing callback."""
    if name == "freeze":
        return "freeze"
    unfreeze_epoch = 0 if name == "no_freeze" else max(epochs - UNFROZEN_EPOCHS, 1)
    return _UnfreezeWithOwnRate(unfreeze_epoch, BACKBONE_LR)


def fit(parts: Split, strategy: str = DEFAULT_STRATEGY, epochs: int | None = None,
        batch_size: int = BATCH_SIZE, learning_rate: float = HEAD_LR,
        progress: Callable[[float, str], None] | None = None) -> tuple[SpamClassifier, dict]:
    """Fine-tune a classifier on `parts.train` with flash and measure it on `parts.test`."""
    if strategy not in STRATEGIES:
        raise InputError(f"Unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    epochs = epochs or DEFAULT_EPOCHS[strategy]
    if epochs < 1 or batch_size < 1 or learning_rate <= 0:
        raise InputError("Epochs and batch size must be at least 1 and the learning rate positive.")
    seed_everything(SEED, workers=False)
    batch_size = min(batch_size, len(parts.train))
    # Told the labels, flash reads each as one class; left to guess, it would read "not spam"
    # or "a,b" as several labels of a multi-label task.
    labels = sorted(set(parts.train["label"]) | set(parts.val["label"]))
    datamodule = TextClassificationData.from_data_frame(
        "text", "label", train_data_frame=parts.train, val_data_frame=parts.val,
        transform=InputTransform(),
        target_formatter=SingleLabelTargetFormatter(labels=labels, num_classes=len(labels)),
        batch_size=batch_size, num_workers=0, pin_memory=torch.cuda.is_available(),
        sampler=partial(_bucket_sampler, [len(t) for t in parts.train["text"]], batch_size))
    backbone_path = models.get_embedder().name_or_path
    task = _new_task(datamodule.labels, backbone_path, learning_rate)
    recorder = _Progress(progress)
    with tempfile.TemporaryDirectory(prefix="semdemo-train-") as scratch:
        trainer = flash.Trainer(
            max_epochs=epochs, accelerator="auto", devices=1, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, callbacks=[recorder], default_root_dir=scratch)
        started = time.perf_counter()
        with task.adapter.backbone.caching():
            trainer.finetune(task, datamodule=datamodule, strategy=_strategy(strategy, epochs))
            seconds = time.perf_counter() - started
            model = SpamClassifier(task, {"labels": datamodule.labels})
            metrics = evaluate(model, parts.test)
    record = {
        "strategy": strategy, "labels": datamodule.labels,
        "metrics": {**metrics, "train_seconds": round(seconds, 1)},
        "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
        "backbone_learning_rate": None if strategy == "freeze" else BACKBONE_LR,
        "backbone": _backbone_name(backbone_path),
        "rows": {"train": len(parts.train), "val": len(parts.val), "test": len(parts.test)},
        "held_out": parts.held_out,
        "history": recorder.history,
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    model.record = record
    return model, record


def _bucket_sampler(lengths: list[int], batch_size: int, dataset) -> LengthBuckets:
    return LengthBuckets(lengths, batch_size)


def save(model: SpamClassifier, directory: Path) -> Path:
    """Store the weights (only the head when the backbone stayed frozen) and then the record JSON,
    each through a temporary file and an atomic rename; the record names its weights file, so a
    crash at any point leaves the previous model of that strategy and data whole."""
    directory.mkdir(parents=True, exist_ok=True)
    record = model.record
    scope = "head" if record["strategy"] == "freeze" else "full"
    module = model.task.adapter.head if scope == "head" else model.task.adapter
    stamp = record["trained_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    weights = f"{record['strategy']}-{stamp}.safetensors"
    state = {k: v.detach().float().cpu().contiguous() for k, v in module.state_dict().items()}
    _atomic_write(directory / weights, lambda p: save_file(state, str(p)))
    record.update(weights=weights, weights_scope=scope)
    # One record per strategy and data set: training on a student's small CSV keeps the model
    # trained on the SMS collection (or any other data) on disk.
    record_path = directory / f"{record['strategy']}-{record['data']['checksum'][:12]}.json"
    previous = _previous_weights(record_path)
    _atomic_write(record_path, lambda p: p.write_text(json.dumps(record, indent=1)))
    if previous and previous != weights:
        (directory / previous).unlink(missing_ok=True)
    model.path = record_path
    return record_path


def _previous_weights(record_path: Path) -> str | None:
    try:
        return json.loads(record_path.read_text()).get("weights")
    except (OSError, ValueError):
        return None


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temp))
        os.chmod(temp, 0o644)  # mkstemp makes files private; a model is not a secret
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)


def train(source: str | Path | None = None, *, train_file: str | Path | None = None,
          test_file: str | Path | None = None, text_col: str | None = None,
          label_col: str | None = None, strategy: str = DEFAULT_STRATEGY,
          epochs: int | None = None, batch_size: int = BATCH_SIZE, learning_rate: float = HEAD_LR,
          out_dir: str | Path | None = None, serve: bool = True, limits: bool = True,
          progress: Callable[[float, str], None] | None = None) -> TrainResult:
    """Train on the SMS collection (no source), a CSV, or given train and test CSVs; store the
    model in `out_dir` (default `model_dir()`) and, with `serve`, make it the serving model.
    `limits=False` lifts the upload size limits (for local files given on the command line).

    Bad input is refused before any training; one training runs at a time; the serving model is
    replaced only once the new one is trained, measured and stored.
    """
    if not _training_lock.acquire(blocking=False):
        raise InputError("Another training is running; try again when it has finished.")
    try:
        notes: list[str] = []
        if train_file is not None:
            train_table = _read(train_file, text_col, label_col, notes, limits)
            test = _read(test_file, text_col, label_col, notes, limits, 1) if test_file else None
            parts = split(train_table, test)
            checksum = train_table.attrs.get("checksum", "")
            name = Path(train_file).name
        else:
            frame = _read(source or data.find_sms_collection(), text_col, label_col, notes,
                          limits and source is not None)
            name, checksum = Path(source).name if source else SMS_COLLECTION, frame.attrs["checksum"]
            parts = split(frame)
        if parts.note:
            notes.append(parts.note)
        if test_file is not None and set(parts.test["label"]) - set(parts.train["label"]):
            unseen = sorted(set(parts.test["label"]) - set(parts.train["label"]))
            raise InputError(f"The test file has label(s) {unseen} that the training file lacks.")
        model, record = fit(parts, strategy, epochs, batch_size, learning_rate, progress)
        record["data"] = {"name": name, "checksum": checksum, "notes": notes}
        save(model, Path(out_dir) if out_dir else model_dir())
        if serve:
            with _serving_lock:
                _serving["model"] = model.warm()
        return TrainResult(record, model, notes)
    finally:
        _training_lock.release()


def _read(path, text_col, label_col, notes: list[str], limits: bool,
          min_classes: int = 2) -> pd.DataFrame:
    table = data.read_table(path, text_col=text_col, label_col=label_col, require_label=True,
                            min_classes=min_classes, limits=limits)
    notes.extend(table.skipped)
    table.frame.attrs["checksum"] = table.checksum
    return table.frame


# ---------------------------------------------------------------- figures

def confusion_figure(record: dict) -> go.Figure:
    """Heatmap of the test confusion matrix (rows: true label, columns: predicted)."""
    labels = [plot_text(label, 30) for label in record["labels"]]
    counts = record["metrics"]["confusion_matrix"]
    figure = go.Figure(go.Heatmap(
        z=counts, x=[f"predicted {l}" for l in labels], y=[f"true {l}" for l in labels],
        text=counts, texttemplate="%{text}", colorscale="Blues", showscale=False,
        hovertemplate="%{y}, %{x}: %{z}<extra></extra>"))
    figure.update_layout(title=f"Confusion matrix on {record['metrics']['test_rows']} test messages",
                         yaxis_autorange="reversed", margin=dict(l=10, r=10, t=50, b=10))
    return figure


def loss_figure(record: dict) -> go.Figure:
    """Training and validation loss per epoch."""
    figure = go.Figure()
    for key, name in (("train_loss", "training"), ("val_loss", "validation")):
        values = record.get("history", {}).get(key, [])
        figure.add_scatter(x=list(range(1, len(values) + 1)), y=values, mode="lines+markers", name=name)
    figure.update_layout(title="Cross-entropy loss per epoch", xaxis_title="epoch",
                         yaxis_title="loss", margin=dict(l=10, r=10, t=50, b=10))
    return figure


# ---------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    """`python -m semdemo.classify train|predict ...`; see `--help`."""
    parser = argparse.ArgumentParser(prog="python -m semdemo.classify", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit_cmd = commands.add_parser("train", help="train, store and print the test metrics as JSON")
    fit_cmd.add_argument("--data", help="CSV or SMS collection file (default: the SMS collection)")
    fit_cmd.add_argument("--train", dest="train_file", help="training CSV (with --test)")
    fit_cmd.add_argument("--test", dest="test_file", help="test CSV (with --train)")
    fit_cmd.add_argument("--text-col")
    fit_cmd.add_argument("--label-col")
    fit_cmd.add_argument("--strategy", choices=STRATEGIES, default=DEFAULT_STRATEGY)
    fit_cmd.add_argument("--epochs", type=int, help=f"default {DEFAULT_EPOCHS}")
    fit_cmd.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    fit_cmd.add_argument("--lr", type=float, default=HEAD_LR, help="learning rate of the head")
    fit_cmd.add_argument("--out", help=f"model directory (default {model_dir()})")
    use_cmd = commands.add_parser("predict", help="print one JSON line per message")
    use_cmd.add_argument("--model", help="model directory or record JSON (default: what the app serves)")
    given = use_cmd.add_mutually_exclusive_group(required=True)
    given.add_argument("--text", action="append", help="a message (repeatable)")
    given.add_argument("--input", help="CSV of messages: its Message column, or the one --text-col names")
    use_cmd.add_argument("--text-col")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            if bool(args.train_file) != bool(args.test_file) or (args.train_file and args.data):
                parser.error("give --data, or --train with --test")
            result = train(args.data, train_file=args.train_file, test_file=args.test_file,
                           text_col=args.text_col, label_col=args.label_col,
                           strategy=args.strategy, epochs=args.epochs, batch_size=args.batch_size,
                           learning_rate=args.lr, out_dir=args.out, serve=False, limits=False)
            print(json.dumps({**result.record["metrics"], "labels": result.record["labels"],
                              "strategy": result.record["strategy"], "notes": result.notes,
                              "model": str(result.model.path)}))
        else:
            model = load(args.model) if args.model else serving_model()
            texts = args.text or _messages_in(args.input, args.text_col)
            for text, result in zip(texts, classify(texts, model)):
                print(json.dumps({"text": text, **result}))
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _messages_in(path: str, text_col: str | None) -> list[str]:
    table = data.read_table(path, text_col=text_col, require_label=False, limits=False)
    for note in table.skipped:
        print(f"note: {note}", file=sys.stderr)
    return list(table.frame["text"])


if __name__ == "__main__":
    sys.exit(main())
