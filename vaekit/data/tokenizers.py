"""Tokenizers: text (or any string of symbols) <-> token ids, with a vocabulary saved as JSON.

Every tokenizer has the same four special tokens at ids 0..3 (``<pad>``, ``<bos>``, ``<eos>``,
``<unk>``), so a model only needs ``len(tokenizer)`` and ``tokenizer.pad_index``. A subclass
says how a string splits into token strings (:meth:`Tokenizer.split`) and how token strings
join back (:meth:`Tokenizer.join`); the base does the vocabulary, unknown tokens, the end
token, batch padding and saving. A SMILES-regex, SELFIES or MIDI-event tokenizer is one such
small subclass registered with ``@register("tokenizer", name)``.

Tokenizers are registered parts (:mod:`vaekit.registry`): ``tokenizer.config()`` is a plain
JSON-able mapping that holds the whole vocabulary, and ``build("tokenizer", config)`` (or
:func:`tokenizer_from_json`) brings the same tokenizer back.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from vaekit.data.errors import DataError
from vaekit.registry import ConfigError, build, register, registered

if TYPE_CHECKING:
    from vaekit.decoding import TokenGrammar

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


class UnknownSymbolError(DataError):
    """A text holds symbols outside the vocabulary of a tokenizer that refuses them (SMILES, SELFIES)."""


@dataclass
class EncodedBatch:
    """Token ids of several texts padded to one length.

    Attributes:
        ids: (B, T) long tensor; positions after each sequence hold the pad id.
        lengths: (B,) number of real tokens per row (the end token included).
        truncated: how many rows were cut to ``max_length``.
        unknown: how many tokens were mapped to ``<unk>``.
    """

    ids: Tensor
    lengths: Tensor
    truncated: int = 0
    unknown: int = 0


class Tokenizer:
    """Base of the tokenizers: a vocabulary whose first four entries are :data:`SPECIALS`.

    Args:
        vocabulary: token strings in id order, starting with the four specials.
    """

    def __init__(self, vocabulary: Sequence[str]):
        vocabulary = list(vocabulary)
        if tuple(vocabulary[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with the special tokens {list(SPECIALS)}")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("a vocabulary must not repeat a token")
        self.vocabulary = vocabulary
        self.index = {token: i for i, token in enumerate(vocabulary)}

    # ------------------------------------------------------------ subclass hooks
    def split(self, text: str) -> list[str]:  # pragma: no cover - abstract
        """Token strings of one text."""
        raise NotImplementedError

    def join(self, tokens: Sequence[str]) -> str:  # pragma: no cover - abstract
        """The text of a sequence of token strings (the inverse of :meth:`split`)."""
        raise NotImplementedError

    @classmethod
    def train(cls, texts: Iterable[str], **options: Any) -> Tokenizer:  # pragma: no cover - abstract
        """Build the vocabulary from a corpus."""
        raise NotImplementedError

    # ------------------------------------------------------------------ specials
    # A tokenizer whose unknown symbols would change what a text means (an atom of a molecule) raises
    # UnknownSymbolError at encode time instead of reading them as <unk>.
    unknown_is_error = False
    pad_index = 0
    bos_index = 1
    eos_index = 2
    unk_index = 3

    def __len__(self) -> int:
        return len(self.vocabulary)

    def never_first(self) -> tuple[int, ...]:
        """Ids that cannot begin a valid text, for :attr:`~vaekit.decoding.DecodeOptions.never_first` (none here;
        a molecule tokenizer names its non-atom symbols)."""
        return ()

    def grammar(self) -> TokenGrammar | None:
        """The syntax a decoder of this tokenizer's texts can keep to (:attr:`DecodeOptions.grammar
        <vaekit.decoding.DecodeOptions>`); None: none (SMILES has one)."""
        return None

    @property
    def name(self) -> str:
        """The registered name (``"char"``, ``"word"``, ``"bpe"``, ...)."""
        return type(self)._registry_name  # type: ignore[attr-defined]

    # ------------------------------------------------------------ encode/decode
    def encode(self, text: str, add_end: bool = True) -> list[int]:
        """Token ids of ``text``; unknown tokens become ``<unk>``; the end token is appended.

        Raises:
            UnknownSymbolError: a tokenizer with ``unknown_is_error`` met symbols outside its vocabulary.
        """
        tokens = self.split(text)
        ids = [self.index.get(token, self.unk_index) for token in tokens]
        if self.unknown_is_error and self.unk_index in ids:
            missing = sorted({t for t in tokens if t not in self.index})[:5]
            raise UnknownSymbolError(f"{text!r} has symbols outside the {self.name} vocabulary: {missing}")
        return ids + [self.eos_index] if add_end else ids

    def unknown_tokens(self, text: str) -> list[str]:
        """The tokens of ``text`` that are outside the vocabulary."""
        return [token for token in self.split(text) if token not in self.index]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of token ids: stops at the end token, skips padding and the start token."""
        tokens = []
        for i in ids:
            i = int(i)
            if i == self.eos_index:
                break
            if i in (self.pad_index, self.bos_index) or not 0 <= i < len(self.vocabulary):
                continue
            tokens.append(self.vocabulary[i])
        return self.join(tokens)

    def encode_batch(self, texts: Sequence[str], max_length: int | None = None, truncate: bool = True) -> EncodedBatch:
        """Encode and pad texts to one length (the longest, or ``max_length``).

        Args:
            texts: the texts.
            max_length: tokens per row, the end token included (None: the longest row).
            truncate: cut longer rows to ``max_length`` (their end token is lost; the count is
                returned); if False a longer row raises ValueError.
        """
        rows = [self.encode(text) for text in texts]
        unknown = sum(row.count(self.unk_index) for row in rows)
        length = max((len(r) for r in rows), default=1) if max_length is None else int(max_length)
        too_long = [i for i, r in enumerate(rows) if len(r) > length]
        if too_long and not truncate:
            raise ValueError(
                f"{len(too_long)} text(s) have more than {length} tokens (the first is #{too_long[0]}); "
                "raise max_length or allow truncation"
            )
        ids = torch.full((len(rows), length), self.pad_index, dtype=torch.long)
        lengths = torch.zeros(len(rows), dtype=torch.long)
        for i, row in enumerate(rows):
            row = row[:length]
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            lengths[i] = len(row)
        return EncodedBatch(ids, lengths, len(too_long), unknown)

    def decode_batch(self, ids: Tensor) -> list[str]:
        """Texts of a (B, T) tensor of token ids."""
        return [self.decode(row.tolist()) for row in ids]

    # ---------------------------------------------------------------------- json
    def to_json(self) -> str:
        """The tokenizer as a JSON document (type and vocabulary)."""
        return json.dumps(self.config())  # type: ignore[attr-defined]


def tokenizer_from_config(config: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from ``tokenizer.config()``."""
    return build("tokenizer", config)


def tokenizer_from_json(text: str) -> Tokenizer:
    """Rebuild a tokenizer from :meth:`Tokenizer.to_json`."""
    return tokenizer_from_config(json.loads(text))


def train_tokenizer(spec: str | dict[str, Any], texts: Sequence[str]) -> Tokenizer:
    """Train a tokenizer named by ``spec`` (``"word"`` or ``{"type": "word", "max_vocab": 10000}``) on ``texts``.

    Raises:
        ConfigError: unknown tokenizer (the valid ones are listed) or an option it does not take.
    """
    spec = {"type": spec} if isinstance(spec, str) else dict(spec)
    name = spec.pop("type", None)
    table = registered("tokenizer")
    if name not in table:
        raise ConfigError(f"unknown tokenizer {name!r}; valid tokenizers: {sorted(table)}")
    try:
        return table[name].train(texts, **spec)
    except TypeError as error:
        raise ConfigError(f"tokenizer {name!r}: {error}") from error


def _ranked(counts: Counter, max_vocab: int | None, min_count: int) -> list[str]:
    """Tokens by falling count (ties by the token itself, so vocabularies are reproducible)."""
    if max_vocab is not None and int(max_vocab) <= len(SPECIALS):
        raise ConfigError(
            f"max_vocab counts the {len(SPECIALS)} special tokens ({', '.join(SPECIALS)}): it must exceed "
            f"{len(SPECIALS)} to leave room for any symbol; got {max_vocab}"
        )
    ranked = sorted(
        (t for t, c in counts.items() if c >= min_count and t not in SPECIALS), key=lambda t: (-counts[t], t)
    )
    return ranked if max_vocab is None else ranked[: max(0, int(max_vocab) - len(SPECIALS))]


@register("tokenizer", "char")
class CharTokenizer(Tokenizer):
    """One token per character; characters outside the vocabulary become ``<unk>``."""

    def split(self, text: str) -> list[str]:
        return list(text)

    def join(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)

    @classmethod
    def train(cls, texts: Iterable[str], max_vocab: int | None = None, min_count: int = 1) -> CharTokenizer:
        """Vocabulary of the characters in ``texts`` (the ``max_vocab`` most frequent, specials counted)."""
        counts: Counter = Counter()
        for text in texts:
            counts.update(text)
        return cls([*SPECIALS, *_ranked(counts, max_vocab, min_count)])


@register("tokenizer", "word")
class WordTokenizer(Tokenizer):
    """Whitespace-separated words; words outside the vocabulary become ``<unk>``.

    Args:
        vocabulary: token strings in id order (specials first).
        lowercase: lower-case text before splitting.
    """

    def __init__(self, vocabulary: Sequence[str], lowercase: bool = False):
        super().__init__(vocabulary)
        self.lowercase = bool(lowercase)

    def split(self, text: str) -> list[str]:
        return (text.lower() if self.lowercase else text).split()

    def join(self, tokens: Sequence[str]) -> str:
        # A corpus that spells unknown words "<unk>" (as PTB does) maps them to the special token.
        return " ".join(tokens)

    @classmethod
    def train(
        cls, texts: Iterable[str], max_vocab: int | None = 10000, min_count: int = 1, lowercase: bool = False
    ) -> WordTokenizer:
        """Vocabulary of the ``max_vocab`` most frequent words (specials counted), each seen ``min_count`` times."""
        counts: Counter = Counter()
        for text in texts:
            counts.update((text.lower() if lowercase else text).split())
        return cls([*SPECIALS, *_ranked(counts, max_vocab, min_count)], lowercase)


@register("tokenizer", "bpe")
class BPETokenizer(Tokenizer):
    """Byte-level byte-pair encoding trained with the ``tokenizers`` library (``pip install vaekit[text]``).

    Byte-level pieces cover every string, so encoding never produces ``<unk>`` and decoding
    gives back the exact text. The library's own JSON is stored inside this tokenizer's config.

    Args:
        model: the ``tokenizers`` library's JSON (``Tokenizer.to_str()``).
    """

    def __init__(self, model: str):
        from tokenizers import Tokenizer as Backend

        self.model = model
        self.backend = Backend.from_str(model)
        vocab = self.backend.get_vocab()
        super().__init__([token for token, _ in sorted(vocab.items(), key=lambda item: item[1])])

    def split(self, text: str) -> list[str]:
        return self.backend.encode(text, add_special_tokens=False).tokens

    def join(self, tokens: Sequence[str]) -> str:
        return self.backend.decoder.decode(list(tokens))

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 2000, min_frequency: int = 2) -> BPETokenizer:
        """Learn ``vocab_size`` byte-level BPE tokens (specials included) from ``texts``."""
        from tokenizers import Tokenizer as Backend
        from tokenizers import decoders, models, pre_tokenizers, trainers

        backend = Backend(models.BPE(unk_token=UNK))
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=int(vocab_size),
            min_frequency=int(min_frequency),
            special_tokens=list(SPECIALS),  # first, so they get ids 0..3
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        backend.train_from_iterator(list(texts), trainer)
        return cls(backend.to_str())


_SPACES = re.compile(r"\s+")


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends."""
    return _SPACES.sub(" ", text).strip()
