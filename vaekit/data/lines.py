"""Examples stored one per line (sentences, SMILES strings, event strings) and their encoding as
padded token-id tensors, with every kind of bad input named.

Handling of bad input (each is reported in :class:`LineReport` or raised as :class:`DataError`):

- a missing, empty, or binary (NUL bytes / not UTF-8) file: DataError naming the file;
- empty (or whitespace-only) lines: skipped and counted;
- symbols outside a tokenizer's vocabulary: encoded as ``<unk>`` and counted (``on_unknown="refuse"``
  raises instead, naming the first such line);
- lines longer than ``max_length`` tokens: truncated and counted (``on_long="refuse"`` raises, ``"drop"``
  leaves them out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from vaekit.data.errors import DataError
from vaekit.data.tokenizers import Tokenizer, UnknownSymbolError

LONG_LINE_POLICIES = ("truncate", "drop", "refuse")
UNKNOWN_POLICIES = ("unk", "refuse")


@dataclass
class LineReport:
    """What happened to the lines of a source (shown to the user and kept in run metrics).

    Attributes:
        lines: non-empty lines read.
        empty: empty lines skipped.
        truncated: lines cut to the maximum length.
        dropped: lines left out for being too long.
        unknown: tokens outside the vocabulary (encoded as ``<unk>``).
    """

    lines: int = 0
    empty: int = 0
    truncated: int = 0
    dropped: int = 0
    unknown: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line naming everything that was not used as given (empty if nothing)."""
        parts = []
        if self.empty:
            parts.append(f"{self.empty} empty line(s) skipped")
        if self.truncated:
            parts.append(f"{self.truncated} line(s) truncated to the maximum length")
        if self.dropped:
            parts.append(f"{self.dropped} over-long line(s) dropped")
        if self.unknown:
            parts.append(f"{self.unknown} token(s) outside the vocabulary read as <unk>")
        return "; ".join(parts + self.notes)


def read_lines(path: str | Path, report: LineReport | None = None, keep_empty: bool = False) -> list[str]:
    """The non-empty lines of a UTF-8 text file, stripped of surrounding whitespace (every line, the empty ones
    as "", with ``keep_empty``: for outputs that keep one row per line of the file).

    Raises:
        DataError: no such file, a folder, an empty file, a binary file, or no non-empty line.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such text file: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; a text file with one example per line is needed")
    raw = path.read_bytes()
    if not raw:
        raise DataError(f"{path} is empty; a text file with one example per line is needed")
    if b"\x00" in raw[:65536]:
        raise DataError(f"{path} looks like a binary file (it holds NUL bytes), not text with one example per line")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path} is not UTF-8 text (byte {error.start} cannot be decoded); is it a binary file?"
        ) from None
    lines = [line.strip() for line in text.splitlines()]
    kept = [line for line in lines if line]
    if report is not None:
        report.lines += len(kept)
        report.empty += len(lines) - len(kept)
    if not kept:
        raise DataError(f"{path} has no non-empty line")
    return lines if keep_empty else kept


def encode_lines(
    tokenizer: Tokenizer,
    lines: list[str],
    max_length: int,
    on_long: str = "truncate",
    on_unknown: str = "unk",
    report: LineReport | None = None,
    source: str = "the data",
) -> Tensor:
    """Token ids of ``lines`` (end token appended), padded with the pad id to (N, max_length).

    Args:
        tokenizer: the tokenizer.
        lines: the examples.
        max_length: tokens per row, the end token included.
        on_long: "truncate" (count them), "drop" (leave them out, counted) or "refuse" (DataError).
        on_unknown: "unk" (count them) or "refuse" (DataError naming the first line).
        report: where the counts go.
        source: how errors name the data.

    Raises:
        DataError: a refused line, a bad policy, or no line left.
    """
    if on_long not in LONG_LINE_POLICIES:
        raise DataError(f"unknown policy for long lines {on_long!r}; valid: {list(LONG_LINE_POLICIES)}")
    if on_unknown not in UNKNOWN_POLICIES:
        raise DataError(f"unknown policy for unknown symbols {on_unknown!r}; valid: {list(UNKNOWN_POLICIES)}")
    report = report if report is not None else LineReport()
    rows = []
    for number, line in enumerate(lines, 1):
        # the line's start too: a split of a shuffled file does not keep the file's line numbers
        where = f"line {number} of {source} ({line[:40]!r}{'...' if len(line) > 40 else ''})"
        try:
            ids = tokenizer.encode(line)
        except UnknownSymbolError as error:
            raise UnknownSymbolError(f"{where}: {error}") from None
        unknown = ids.count(tokenizer.unk_index)
        if unknown and on_unknown == "refuse":
            missing = sorted(set(tokenizer.unknown_tokens(line)))[:5]
            raise DataError(f"{where} has symbols outside the vocabulary: {missing}")
        if len(ids) > max_length:
            if on_long == "refuse":
                raise DataError(f"{where} has {len(ids)} tokens (end token included); the maximum is {max_length}")
            if on_long == "drop":
                report.dropped += 1
                continue
            report.truncated += 1
            ids = ids[:max_length]
        report.unknown += unknown
        rows.append(ids)
    if not rows:
        raise DataError(f"no line of {source} is left to use (all longer than {max_length} tokens)")
    out = torch.full((len(rows), max_length), tokenizer.pad_index, dtype=torch.long)
    for i, ids in enumerate(rows):
        out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out
