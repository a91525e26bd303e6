"""The one place that reads files: the SMS Spam Collection (found, cached or downloaded) and user CSVs.

Every reader here turns bad input into an `InputError` whose message says what to fix, so the UI
can show it and keep serving.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from semdemo.errors import InputError

MAX_UPLOAD_MB = float(os.environ.get("SEMDEMO_MAX_UPLOAD_MB", "20"))
MAX_ROWS = int(os.environ.get("SEMDEMO_MAX_ROWS", "100000"))

# What every upload widget passes as `gr.File(file_types=UPLOAD_TYPES)`. Gradio 6 compares
# extensions in lower case on the server (gradio_client.utils.is_valid_file) and browsers match
# the `accept` attribute case-insensitively, so ".csv" also accepts "UPPER_EXT.CSV".
UPLOAD_TYPES = [".csv", ".tsv", ".txt"]

UCI_URL = "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip"
UCI_FILE = "SMSSpamCollection"  # label<TAB>text, no header, no quoting
ARTICLE_FILE = "SPAM text message 20170820 - Data.csv"  # Category,Message, quoted
UCI_ROWS = 5574
SMS_LABELS = {"ham", "spam"}
MAX_DOWNLOAD_MB = 10  # the official archive is about 0.2 MB

TEXT_COLUMNS = ("message", "v2")  # default text column names (case-insensitive): article, Kaggle
LABEL_COLUMNS = ("category", "v1")  # default label column names
SEPARATORS = (",", ";", "\t")
MAX_COLUMNS_SHOWN = 20  # column names listed in a message
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")  # utf-8-sig also reads plain UTF-8; latin-1 never fails
NO_SEPARATOR = "\x1f"  # ASCII unit separator: splits nothing, for one-column files
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # Excel's "Unicode Text" starts with one
ZIP_MAGIC = b"PK\x03\x04"  # a zip archive, such as an Excel .xlsx renamed .csv
# Whitespace, control characters and invisible format characters (soft hyphen, zero-width space
# and joiners, bidi marks and overrides, word joiner, BOM), stripped from both ends of user text.
_INVISIBLE = r"\s\x00-\x1f\x7f-\x9f\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_INVISIBLE_EDGES = re.compile(f"^[{_INVISIBLE}]+|[{_INVISIBLE}]+$")


@dataclass
class Table:
    """A user table read by `read_table`: the rows kept, and what the user should be told."""

    frame: pd.DataFrame  # columns "text" and "label" (label all None when there is none)
    columns: list[str]  # the columns found in the file, for the column pickers
    skipped: list[str]  # notes such as "1 row skipped: empty Message, line 3"
    checksum: str  # sha256 of the normalised text and labels, for caches
    name: str  # the source file's name


def clean_text(text: str | None) -> str:
    """User text without whitespace or invisible characters at its ends: "" for text that looks
    empty (e.g. only a zero-width space), which every tab then treats as empty, not as a sentence."""
    return _INVISIBLE_EDGES.sub("", text or "")


def cache_dir() -> Path:
    """Where semdemo keeps downloads and models: $SEMDEMO_CACHE_DIR, else $XDG_CACHE_HOME/semdemo,
    else ~/.cache/semdemo."""
    if os.environ.get("SEMDEMO_CACHE_DIR"):
        return Path(os.environ["SEMDEMO_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "semdemo"


def _collection_in(directory: Path) -> Path | None:
    """The SMS collection inside `directory` or its `sms_spam/` folder, UCI file first."""
    for folder in (directory / "sms_spam", directory):
        for name in (UCI_FILE, ARTICLE_FILE):
            if (folder / name).is_file():
                return folder / name
    return None


def find_sms_collection(path: str | Path | None = None, url: str = UCI_URL) -> Path:
    """The SMS Spam Collection file: `path` if given, else in $SEMDEMO_DATA_DIR, else in the user
    cache, else downloaded from the official UCI archive into the cache."""
    if path is not None:
        path = Path(path).expanduser()
        found = path if path.is_file() else _collection_in(path) if path.is_dir() else None
        if found is None:
            raise InputError(f"No SMS Spam Collection at {path}: give the {UCI_FILE} file, "
                             f"the article's CSV, or a folder holding one of them.")
        return found
    for directory in (os.environ.get("SEMDEMO_DATA_DIR"), cache_dir()):
        if directory and (found := _collection_in(Path(directory).expanduser())):
            return found
    try:
        return download_sms_collection(url)
    except InputError as err:
        raise InputError(
            f"The SMS Spam Collection was not found and could not be downloaded ({err}). "
            f"Set SEMDEMO_DATA_DIR to a folder holding sms_spam/{UCI_FILE}, or put that file in "
            f"{cache_dir() / 'sms_spam'}, or connect to the internet. Other tabs keep working."
        ) from err


def fetch_archive(url: str, dest: Path) -> None:
    """Download `url` to the file `dest` (at most MAX_DOWNLOAD_MB)."""
    limit = int(MAX_DOWNLOAD_MB * 1024 * 1024)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            payload = response.read(limit + 1)
    except OSError as err:  # URLError, timeouts, refused connections
        raise InputError(f"download of {url} failed: {getattr(err, 'reason', err)}") from err
    if len(payload) > limit:
        raise InputError(f"download of {url} is larger than {MAX_DOWNLOAD_MB} MB")
    dest.write_bytes(payload)


def download_sms_collection(url: str = UCI_URL) -> Path:
    """Download the UCI archive, check its content and store the collection in the cache atomically.

    The archive is trusted by what it holds (the `SMSSpamCollection` member must parse to 5,574
    ham/spam lines), as nobody here could record a hash of it; a bad archive stores nothing.
    """
    target = cache_dir() / "sms_spam" / UCI_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as scratch:
        archive = Path(scratch) / "archive.zip"
        fetch_archive(url, archive)
        try:
            with zipfile.ZipFile(archive) as bundle:
                member = next((n for n in bundle.namelist() if Path(n).name == UCI_FILE), None)
                if member is None:
                    raise InputError(f"the archive from {url} has no {UCI_FILE} file")
                content = bundle.read(member)
        except zipfile.BadZipFile as err:
            raise InputError(f"what {url} sent is not a zip archive") from err
        staged = Path(scratch) / UCI_FILE
        staged.write_bytes(content)
        try:
            frame = read_table(staged, limits=False).frame
        except InputError as err:
            raise InputError(f"the {UCI_FILE} from {url} is not the SMS collection: {err}") from err
        labels = set(frame["label"])
        if len(frame) != UCI_ROWS or not labels <= SMS_LABELS:
            raise InputError(f"the {UCI_FILE} from {url} has {len(frame)} messages labelled "
                             f"{', '.join(sorted(labels))}, not {UCI_ROWS} labelled ham/spam")
        os.replace(staged, target)
    return target


def load_sms(path: str | Path | None = None) -> pd.DataFrame:
    """The SMS Spam Collection as a DataFrame with columns "text" and "label" ("ham"/"spam"),
    from the UCI tab file or the article's CSV (see `find_sms_collection` for where it looks)."""
    return read_table(find_sms_collection(path), min_classes=2, limits=False).frame


def _is_uci(text: str) -> bool:
    """Whether `text` looks like the header-less UCI file: `ham<TAB>...` or `spam<TAB>...` lines."""
    head = [line for line in text.splitlines()[:5] if line.strip()]
    return bool(head) and all(
        line.count("\t") == 1 and line.split("\t")[0].strip().lower() in SMS_LABELS for line in head
    )


def read_table(source: str | Path, text_col: str | None = None, label_col: str | None = None,
               require_label: bool = True, min_classes: int = 0, limits: bool = True) -> Table:
    """Read a user's CSV/TSV (or the UCI file) into a `Table` of text and labels.

    Checks the size before reading; decodes UTF-8 (with or without BOM), else cp1252/latin-1;
    detects the separator (`,` `;` tab) from the header line; takes the picked columns, else
    `Message`/`Category` (any case); skips rows with empty text (noted with their file lines);
    strips and case-folds labels. Anything unusable raises `InputError` saying what to fix.
    `limits=False` lifts MAX_UPLOAD_MB and MAX_ROWS, which guard uploads, for the app's own data.
    """
    if not source:
        raise InputError("No file given: upload a CSV file first.")
    path = Path(source)
    name = path.name
    max_mb, max_rows = (MAX_UPLOAD_MB, MAX_ROWS) if limits else (float("inf"), float("inf"))
    text = _decode(_read_bytes(path, max_mb), name)
    columns, records = _records(text, name, max_rows)
    if not records:
        raise InputError(f"{name} has no rows: it needs a header line (e.g. Category,Message) "
                         "and at least one row below it.")
    require_label = require_label or min_classes > 0
    text_name = _column(columns, text_col, TEXT_COLUMNS, "text", name)
    label_name = _column(columns, label_col, LABEL_COLUMNS, "label", name, required=require_label)
    if label_name == text_name:
        raise InputError(f"Column {text_name!r} cannot be both the text and the label; pick two columns.")

    text_at = columns.index(text_name)
    label_at = columns.index(label_name) if label_name else None

    rows, empty_text, empty_label = [], [], []
    for line, fields in records:
        message, label = _field(fields, text_at), _field(fields, label_at)
        if not message:
            empty_text.append(line)
        elif require_label and not label:
            empty_label.append(line)
        else:
            rows.append((message, label.casefold() if label else None))
    skipped = [_skipped_note(lines, column) for lines, column in
               ((empty_text, text_name), (empty_label, label_name)) if lines]
    if not rows:
        raise InputError(f"{name} has no rows with text in column {text_name!r}.")
    frame = pd.DataFrame(rows, columns=["text", "label"])
    classes = sorted(frame["label"].dropna().unique())
    if len(classes) < min_classes:
        found = ", ".join(repr(c) for c in classes)
        raise InputError(f"need at least {min_classes} classes; found only {found} "
                         f"(column {label_name!r} of {name}).")
    checksum = hashlib.sha256(frame.to_csv(index=False).encode("utf-8")).hexdigest()
    return Table(frame=frame, columns=columns, skipped=skipped, checksum=checksum, name=name)


def _field(fields: list[str], index: int | None) -> str:
    """The stripped value at `index`; "" for no column or a short row."""
    return clean_text(fields[index]) if index is not None and index < len(fields) else ""


def _read_bytes(path: Path, max_mb: float) -> bytes:
    """The file's bytes, refusing a missing file or one over `max_mb` before reading it."""
    if not path.is_file():
        raise InputError(f"No file at {path}.")
    size_mb = path.stat().st_size / 1024 / 1024
    if size_mb > max_mb:
        raise InputError(f"{path.name} is {size_mb:.1f} MB; the limit is {max_mb:g} MB "
                         "(SEMDEMO_MAX_UPLOAD_MB). Upload a smaller file.")
    return path.read_bytes()


def _decode(raw: bytes, name: str) -> str:
    """Text from UTF-16 with a BOM (Excel's "Unicode Text"), else UTF-8 (BOM dropped), else
    cp1252, else latin-1, so £ and é survive either way; binary files are refused."""
    if raw.startswith(UTF16_BOMS):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as err:
            raise InputError(f"{name} starts like a UTF-16 text file but is not one ({err}). "
                             "Save it as CSV (UTF-8).") from err
    if raw.startswith(ZIP_MAGIC):
        raise InputError(f"{name} is a zip archive (an Excel .xlsx file?), not a CSV. In your "
                         "spreadsheet program, save it as CSV (UTF-8).")
    if b"\x00" in raw:
        raise InputError(f"{name} is not a text CSV (it holds NUL bytes: a binary or UTF-16 file?). "
                         "Save it as CSV (UTF-8).")
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def _records(text: str, name: str, max_rows: float) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Column names and (file line, fields) of each non-blank row; the header is line 1.

    csv.reader rather than pandas.read_csv because it tells each row's line in the file, which
    the skipped-row notes need (a quoted message may span lines).
    """
    if _is_uci(text):  # header-less, unquoted: quotes inside messages are plain characters
        records = [(number, list(line.partition("\t")[::2]))
                   for number, line in enumerate(text.splitlines(), 1) if line.strip()]
        _check_row_count(len(records), max_rows, name)
        return ["Category", "Message"], records
    delimiter = _separator(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header, records, start = None, [], 1
    try:
        while True:
            start = reader.line_num + 1
            fields = next(reader, None)
            if fields is None:
                break
            if not any(f.strip() for f in fields) and (header is not None or len(fields) < 2):
                continue  # a blank line is not a row (but "," is a header of two blank names)
            if header is None:
                header = fields
                continue
            if len(fields) > len(header) and any(f.strip() for f in fields[len(header):]):
                raise InputError(
                    f"{name}, line {start}: {len(fields)} fields but the header has {len(header)}. "
                    "Put quotes around values that contain the separator."
                )
            records.append((start, fields))
            _check_row_count(len(records), max_rows, name)
    except csv.Error as err:
        if "field larger than field limit" in str(err):
            raise InputError(f"{name}, line {start}: a value is longer than "
                             f"{csv.field_size_limit():,} characters (a quote that is never "
                             "closed?). Shorten it or close the quote.") from err
        raise InputError(f"{name} is not valid CSV near line {reader.line_num}: {err}") from err
    if records and _unclosed_quote(text, records[-1][0], delimiter):
        raise InputError(f"{name}, line {records[-1][0]}: a quote (\") opens a value that is never "
                         "closed, so everything after it would be read as one message. Close the "
                         "quote, or remove it.")
    return _column_names(header or []), records


def _unclosed_quote(text: str, line: int, delimiter: str) -> bool:
    """Whether the row starting at file line `line` opens a quoted value that runs to the end of
    the file (the lenient reader above would take the rest of the file as that one value)."""
    rest = "".join(io.StringIO(text, newline="").readlines()[line - 1:])
    try:
        for _ in csv.reader(io.StringIO(rest, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as err:
        return "unexpected end of data" in str(err)
    return False


def _separator(text: str) -> str:
    """The separator among `,` `;` tab that splits the header line into the most columns."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: len(next(csv.reader([header], delimiter=sep))) for sep in SEPARATORS}
    best = max(counts, key=counts.get)
    return best if counts[best] > 1 else NO_SEPARATOR


def _check_row_count(count: int, max_rows: float, name: str) -> None:
    if count > max_rows:
        raise InputError(f"{name} has more than {max_rows:,} rows, the limit (SEMDEMO_MAX_ROWS). "
                         "Upload fewer rows.")


def _column_names(header: list[str]) -> list[str]:
    """Header names stripped, blanks named "column N", repeats suffixed ".1", ".2" like pandas."""
    names: list[str] = []
    taken: set[str] = set()
    repeats: dict[str, int] = {}  # the last suffix given to each name, so each lookup is O(1)
    for number, raw in enumerate(header, 1):
        base = candidate = raw.strip() or f"column {number}"
        while candidate in taken:
            repeats[base] = repeats.get(base, 0) + 1
            candidate = f"{base}.{repeats[base]}"
        names.append(candidate)
        taken.add(candidate)
    return names


def _column(columns: list[str], picked: str | None, defaults: tuple[str, ...], role: str,
            name: str, required: bool = True) -> str | None:
    """The picked column (exact, else any case), else the first default name present."""
    found = ", ".join(columns[:MAX_COLUMNS_SHOWN]) + (
        f", … ({len(columns):,} in all)" if len(columns) > MAX_COLUMNS_SHOWN else "")
    if picked:
        match = next((c for c in columns if c == picked), None) or next(
            (c for c in columns if c.lower() == picked.strip().lower()), None)
        if match is None:
            raise InputError(f"{name} has no column {picked!r}; columns found: {found}.")
        return match
    match = next((c for d in defaults for c in columns if c.lower() == d), None)
    if match is None and required:
        raise InputError(f"{name} has no {defaults[0].capitalize()} column: pick the {role} column. "
                         f"Columns found: {found}.")
    return match


def _skipped_note(lines: list[int], column: str | None) -> str:
    """'1 row skipped: empty Message, line 3' (the first 10 lines listed)."""
    shown = ", ".join(map(str, lines[:10])) + (", …" if len(lines) > 10 else "")
    plural = "s" if len(lines) > 1 else ""
    return f"{len(lines)} row{plural} skipped: empty {column}, line{plural} {shown}"
