"""semdemo.data: the SMS collection (found, cached, downloaded) and every bad-input CSV case."""
import functools
import http.server
import threading
import zipfile

import pytest

from semdemo import data
from semdemo.errors import InputError

ARTICLE_CSV = "SPAM text message 20170820 - Data.csv"


@pytest.fixture
def no_sources(monkeypatch, tmp_path):
    """No data dir and an empty private cache, so only a download can find the collection."""
    monkeypatch.delenv("SEMDEMO_DATA_DIR", raising=False)
    monkeypatch.setenv("SEMDEMO_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        """No access log on stderr."""


@pytest.fixture
def serve(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; gives (URL of a file there, the www folder)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield lambda name: f"http://127.0.0.1:{server.server_port}/{name}", root
    server.shutdown()
    server.server_close()


def make_zip(path, member: str, content: bytes):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(member, content)
        bundle.writestr("readme", b"SMS Spam Collection v.1")


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


# --- the SMS Spam Collection -------------------------------------------------------------------

def test_load_sms_reads_the_uci_file_with_quotes_intact(data_dir):
    frame = data.load_sms(data_dir / "sms_spam" / data.UCI_FILE)
    assert list(frame.columns) == ["text", "label"]
    assert len(frame) == 5574
    assert frame["label"].value_counts().to_dict() == {"ham": 4827, "spam": 747}
    assert frame["text"][68] == (
        'Did you hear about the new "Divorce Barbie"? It comes with all of Ken\'s stuff!')


def test_load_sms_reads_the_article_csv(data_dir):
    frame = data.load_sms(data_dir / "sms_spam" / ARTICLE_CSV)
    assert list(frame.columns) == ["text", "label"]
    assert len(frame) == 5572
    assert frame["label"].value_counts().to_dict() == {"ham": 4825, "spam": 747}
    assert frame["text"][0].startswith("Go until jurong point, crazy..")


def test_find_prefers_explicit_path_then_data_dir_then_cache(data_dir, monkeypatch, tmp_path):
    article = data_dir / "sms_spam" / ARTICLE_CSV
    assert data.find_sms_collection(article) == article
    assert data.find_sms_collection(data_dir) == data_dir / "sms_spam" / data.UCI_FILE
    with pytest.raises(InputError, match="No SMS Spam Collection at"):
        data.find_sms_collection(tmp_path / "missing")

    monkeypatch.setenv("SEMDEMO_DATA_DIR", str(data_dir / "sms_spam"))  # the files themselves
    assert data.find_sms_collection() == data_dir / "sms_spam" / data.UCI_FILE

    monkeypatch.delenv("SEMDEMO_DATA_DIR")
    monkeypatch.delenv("SEMDEMO_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cached = tmp_path / "xdg" / "semdemo" / "sms_spam" / data.UCI_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes((data_dir / "sms_spam" / data.UCI_FILE).read_bytes())
    assert data.find_sms_collection(url="http://127.0.0.1:9/unused") == cached


def test_download_validates_and_caches_the_archive(data_dir, no_sources, serve):
    url, root = serve
    make_zip(root / "sms.zip", "SMSSpamCollection", (data_dir / "sms_spam" / data.UCI_FILE).read_bytes())
    found = data.find_sms_collection(url=url("sms.zip"))
    assert found == no_sources / "sms_spam" / data.UCI_FILE
    assert sorted(p.name for p in found.parent.iterdir()) == [data.UCI_FILE]  # no temp left over
    (root / "sms.zip").unlink()  # now only the cache can answer
    frame = data.load_sms()
    assert frame["label"].value_counts().to_dict() == {"ham": 4827, "spam": 747}


@pytest.mark.parametrize("archive, reason", [
    ("truncated", "has 100 messages labelled ham, spam, not 5574"),
    ("wrong_member", "has no SMSSpamCollection file"),
    ("not_zip", "is not a zip archive"),
])
def test_download_with_wrong_content_stores_nothing(data_dir, no_sources, serve, archive, reason):
    url, root = serve
    lines = (data_dir / "sms_spam" / data.UCI_FILE).read_bytes().splitlines(keepends=True)
    if archive == "truncated":
        make_zip(root / "sms.zip", "SMSSpamCollection", b"".join(lines[:100]))
    elif archive == "wrong_member":
        make_zip(root / "sms.zip", "other.txt", b"".join(lines))
    else:
        (root / "sms.zip").write_bytes(b"<html>Service unavailable</html>")
    with pytest.raises(InputError, match=reason) as caught:
        data.find_sms_collection(url=url("sms.zip"))
    assert "SEMDEMO_DATA_DIR" in str(caught.value)
    assert list((no_sources / "sms_spam").iterdir()) == []


def test_no_source_and_no_download_gives_a_clear_message(no_sources, serve):
    url, _ = serve
    with pytest.raises(InputError, match=r"not found and could not be downloaded \(download of .* failed"):
        data.find_sms_collection(url=url("missing.zip"))  # the server answers 404
    with pytest.raises(InputError, match="connect to the internet. Other tabs keep working."):
        data.find_sms_collection(url="http://127.0.0.1:9/sms.zip")  # nothing listens there


# --- the bad-input cases (shared/cases/README.md) ----------------------------------------------

def test_nan_row_is_skipped_and_reported_with_its_line(cases_dir):
    table = data.read_table(cases_dir / "csv" / "nan_row.csv", min_classes=2)
    assert table.skipped == ["1 row skipped: empty Message, line 3"]
    assert table.frame["text"].tolist() == [
        "See you soon", "Call me when you land", "You have won a free cruise! Reply WIN now"]
    assert table.frame["label"].tolist() == ["ham", "ham", "spam"]


def test_latin1_keeps_pound_and_e_acute(cases_dir):
    frame = data.read_table(cases_dir / "csv" / "latin1.csv").frame
    assert frame["text"].tolist() == [
        "Café at noon?", "Win £100 cash now! Text CLAIM to 80000", "Running late sorry"]


def test_bom_header_is_recognised(cases_dir):
    table = data.read_table(cases_dir / "csv" / "bom.csv")
    assert table.columns == ["Category", "Message"]
    assert table.frame["label"].tolist() == ["ham", "spam", "ham"]


@pytest.mark.parametrize("name", ["semicolon.csv", "UPPER_EXT.CSV"])
def test_semicolon_separator_is_detected(cases_dir, name):
    table = data.read_table(cases_dir / "csv" / name)
    assert table.columns == ["Category", "Message"]
    assert table.frame["text"][1] == "Claim your prize today, call 0900 000 000"
    assert table.name == name


def test_upper_case_extension_is_accepted_by_upload_widgets(cases_dir):
    import gradio as gr
    from gradio.data_classes import FileData

    path = str(cases_dir / "csv" / "UPPER_EXT.CSV")
    for widget in (gr.File(file_types=data.UPLOAD_TYPES), gr.UploadButton(file_types=data.UPLOAD_TYPES)):
        assert widget.preprocess(FileData(path=path)) == path
    with pytest.raises(gr.Error, match="Invalid file type"):  # the check is real
        gr.File(file_types=[".json"]).preprocess(FileData(path=path))


def test_single_class_is_refused_naming_the_class(cases_dir):
    path = cases_dir / "csv" / "single_class.csv"
    with pytest.raises(InputError, match="need at least 2 classes; found only 'ham'"):
        data.read_table(path, min_classes=2)
    assert len(data.read_table(path).frame) == 3  # fine where one class is enough (plots)


def test_wrong_columns_lists_them_and_can_be_picked(cases_dir):
    path = cases_dir / "csv" / "wrong_columns.csv"
    message = "no Message column: pick the text column. Columns found: Label, Text."
    with pytest.raises(InputError, match=message):
        data.read_table(path)
    with pytest.raises(InputError, match="has no column 'Body'; columns found: Label, Text."):
        data.read_table(path, text_col="Body", label_col="Label")
    table = data.read_table(path, text_col="Text", label_col="label")  # any case
    assert table.frame.values.tolist() == [["Hello", "ham"], ["Win now", "spam"]]
    unlabelled = data.read_table(path, text_col="Text", require_label=False).frame
    assert unlabelled["label"].tolist() == [None, None]


@pytest.mark.parametrize("name", ["empty.csv", "header_only.csv"])
def test_no_rows_is_refused(cases_dir, name):
    with pytest.raises(InputError, match=f"{name} has no rows"):
        data.read_table(cases_dir / "csv" / name)


def test_big_upload_is_refused_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "big.csv"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB of NUL bytes, which reading would reject otherwise
    monkeypatch.setattr(data, "MAX_UPLOAD_MB", 20.0)
    with pytest.raises(InputError, match=r"big.csv is 50.0 MB; the limit is 20 MB"):
        data.read_table(big)


# --- other input rules -------------------------------------------------------------------------

def test_labels_are_stripped_and_case_folded(tmp_path):
    path = write(tmp_path / "labels.csv", "Category,Message\n Spam,a\nSPAM ,b\nHam,c\n")
    assert data.read_table(path).frame["label"].tolist() == ["spam", "spam", "ham"]


def test_labels_with_commas_or_spaces_are_one_label_each(tmp_path):
    path = write(tmp_path / "comma.csv", 'Category,Message\nham,a\n"Spam, promo",b\nnot ham,c\n')
    assert data.read_table(path).frame["label"].tolist() == ["ham", "spam, promo", "not ham"]


def test_repeated_column_names_are_numbered_like_pandas_and_read_fast(tmp_path):
    """Numbering repeats once took cubic time: a 16 KB header of one name held a worker 80 s."""
    path = write(tmp_path / "repeats.csv", "a," * 4000 + "Message\n" + "x," * 4000 + "hello\n")
    table = data.read_table(path, require_label=False)
    assert table.columns[:3] == ["a", "a.1", "a.2"] and table.columns[-2:] == ["a.3999", "Message"]
    assert table.frame["text"].tolist() == ["hello"]


def test_a_message_lists_only_the_first_columns_of_a_wide_file(tmp_path):
    path = write(tmp_path / "wide.csv", ",".join(f"c{i}" for i in range(500)) + "\n" + "x," * 499 + "y\n")
    with pytest.raises(InputError, match=r"Columns found: c0, c1, .*, c19, … \(500 in all\)\.$"):
        data.read_table(path)


def test_a_header_of_blank_names_is_a_header_not_a_blank_line(tmp_path):
    path = write(tmp_path / "blank_header.csv", ",\nham,hello\n")
    with pytest.raises(InputError, match="Columns found: column 1, column 2"):
        data.read_table(path)


def test_empty_label_rows_are_skipped_when_labels_are_required(tmp_path):
    path = write(tmp_path / "nolabel.csv", "Category,Message\nham,a\n,b\nspam,c\n  ,d\n")
    assert data.read_table(path).skipped == ["2 rows skipped: empty Category, lines 3, 5"]
    assert data.read_table(path, require_label=False).frame["label"].tolist() == ["ham", None, "spam", None]


def test_too_many_rows_is_refused_but_not_for_the_sms_collection(cases_dir, data_dir, monkeypatch):
    monkeypatch.setattr(data, "MAX_ROWS", 2)
    monkeypatch.setattr(data, "MAX_UPLOAD_MB", 0.1)
    with pytest.raises(InputError, match="more than 2 rows"):
        data.read_table(cases_dir / "csv" / "bom.csv")
    assert len(data.load_sms(data_dir)) == 5574  # the upload limits guard uploads only


def test_no_file_is_a_clear_message():
    with pytest.raises(InputError, match="upload a CSV file first"):
        data.read_table(None)


def test_uci_file_is_read_without_a_header(data_dir):
    table = data.read_table(data_dir / "sms_spam" / data.UCI_FILE)
    assert table.columns == ["Category", "Message"]
    assert len(table.frame) == 5574 and table.skipped == []


def test_line_numbers_count_multi_line_messages_and_blank_lines(tmp_path):
    text = 'Category,Message\nham,"two\nlines"\n\nspam,\nham,ok\n'
    table = data.read_table(write(tmp_path / "multi.csv", text))
    assert table.skipped == ["1 row skipped: empty Message, line 5"]
    assert table.frame["text"].tolist() == ["two\nlines", "ok"]


def test_tab_separated_with_commas_in_text(tmp_path):
    path = write(tmp_path / "msgs.TSV", "label\tsentence\nham\tHi, how are you?\nspam\tWin, win, win\n")
    frame = data.read_table(path, text_col="sentence", label_col="label").frame
    assert frame.values.tolist() == [["Hi, how are you?", "ham"], ["Win, win, win", "spam"]]


def test_one_column_file_keeps_commas(tmp_path):
    path = write(tmp_path / "sentences.txt", "Message\nHello, world\nA cat; a dog\n")
    frame = data.read_table(path, require_label=False).frame
    assert frame["text"].tolist() == ["Hello, world", "A cat; a dog"]


def test_unquoted_separator_names_the_line(tmp_path):
    path = write(tmp_path / "ragged.csv", "Category,Message\nham,fine\nspam,Win, now\n")
    with pytest.raises(InputError, match="line 3: 3 fields but the header has 2"):
        data.read_table(path)


def test_binary_file_is_refused(tmp_path):
    # UTF-16 without a byte-order mark cannot be told from binary (with one, it is read: below)
    path = write(tmp_path / "sheet.csv", "Category,Message\nham,hi\n", encoding="utf-16-le")
    with pytest.raises(InputError, match="not a text CSV"):
        data.read_table(path)


def test_checksum_depends_on_content_not_format(cases_dir):
    semicolon = data.read_table(cases_dir / "csv" / "semicolon.csv")
    assert semicolon.checksum == data.read_table(cases_dir / "csv" / "UPPER_EXT.CSV").checksum
    assert semicolon.checksum != data.read_table(cases_dir / "csv" / "bom.csv").checksum
    assert len(semicolon.checksum) == 64


def test_invisible_characters_around_text_are_stripped_and_alone_count_as_empty():
    assert data.clean_text("\u200b \u202e\ufeff") == ""
    assert data.clean_text("\u200d Hi\u200bthere \u2060\n") == "Hi\u200bthere"  # inner ones kept
    assert data.clean_text(None) == ""


def test_csv_rows_of_invisible_text_are_skipped_like_empty_ones(tmp_path):
    path = tmp_path / "zw.csv"
    path.write_text("Category,Message\nham,Hello\nspam,\u200b\u200d\nspam,Win cash\n", encoding="utf-8")
    table = data.read_table(path)
    assert list(table.frame["text"]) == ["Hello", "Win cash"]
    assert table.skipped == ["1 row skipped: empty Message, line 3"]


def test_utf16_with_bom_is_read_and_other_binaries_get_a_clear_message(tmp_path):
    rows = "Category\tMessage\nham\tCafé £5\nspam\tWin\n"  # Excel's "Unicode Text": UTF-16, tabs
    (tmp_path / "excel.txt").write_text(rows, encoding="utf-16")
    table = data.read_table(tmp_path / "excel.txt")
    assert list(table.frame["text"]) == ["Café £5", "Win"] and list(table.frame["label"]) == ["ham", "spam"]
    with zipfile.ZipFile(tmp_path / "sheet.csv", "w") as bundle:
        bundle.writestr("xl/workbook.xml", rows)
    with pytest.raises(InputError, match="zip archive .*save it as CSV"):
        data.read_table(tmp_path / "sheet.csv")


def test_a_quote_never_closed_is_refused_not_read_as_one_huge_message(tmp_path):
    path = tmp_path / "open_quote.csv"
    path.write_text('Category,Message\nham,Hi\nspam,"Win now\nham,See you\nham,Bye\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 3: a quote .* never closed"):
        data.read_table(path)
    path.write_text('Category,Message\nham,"one\ntwo, ""quoted"""\nspam,Win\n', encoding="utf-8")
    assert list(data.read_table(path).frame["text"]) == ['one\ntwo, "quoted"', "Win"]  # closed: fine
    path.write_text("Category,Message\nham,x\nspam," + "w " * 70_000 + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 3: a value is longer than"):
        data.read_table(path)
