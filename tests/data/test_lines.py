"""Files of one example per line: every kind of bad input is named or counted."""

from __future__ import annotations

import pytest

from vaekit.data import DataError
from vaekit.data.lines import LineReport, encode_lines, read_lines
from vaekit.data.tokenizers import CharTokenizer, WordTokenizer


def test_empty_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("one two\n\n   \nthree\n", encoding="utf-8")
    report = LineReport()
    assert read_lines(path, report) == ["one two", "three"]
    assert report.empty == 2 and report.lines == 2 and "2 empty line(s) skipped" in report.summary()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\n\n  \n", "no non-empty line"),
        (b"abc\x00\x01\x02", "binary file"),
        (b"\xff\xfe\xfa text", "not UTF-8"),
    ],
)
def test_unusable_files_raise_named_errors(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_lines(path)


def test_missing_file_and_folder_are_named(tmp_path):
    with pytest.raises(DataError, match="no such text file"):
        read_lines(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="is a folder"):
        read_lines(tmp_path)


def test_long_lines_are_truncated_dropped_or_refused():
    tokenizer = WordTokenizer.train(["a b c d e"])
    lines = ["a b", "a b c d e"]  # 3 and 6 tokens with the end token
    report = LineReport()
    ids = encode_lines(tokenizer, lines, 4, "truncate", report=report)
    assert ids.shape == (2, 4) and report.truncated == 1
    assert tokenizer.decode(ids[1]) == "a b c d"
    report = LineReport()
    assert encode_lines(tokenizer, lines, 4, "drop", report=report).shape == (1, 4) and report.dropped == 1
    with pytest.raises(DataError, match=r"line 2 of the data \('a b c d e'\) has 6 tokens"):
        encode_lines(tokenizer, lines, 4, "refuse")
    with pytest.raises(DataError, match="no line"):
        encode_lines(tokenizer, ["a b c d e"], 2, "drop")
    with pytest.raises(DataError, match="unknown policy"):
        encode_lines(tokenizer, lines, 4, "shorten")


def test_symbols_outside_the_vocabulary_are_counted_or_refused():
    tokenizer = CharTokenizer.train(["abc"])
    report = LineReport()
    ids = encode_lines(tokenizer, ["abx", "yyc"], 5, report=report)
    assert report.unknown == 3 and int((ids == tokenizer.unk_index).sum()) == 3
    with pytest.raises(DataError, match=r"line 1 of the data \('abx'\) has symbols outside the vocabulary: \['x'\]"):
        encode_lines(tokenizer, ["abx"], 5, on_unknown="refuse")
