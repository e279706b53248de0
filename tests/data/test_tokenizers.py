"""Tokenizers: round trips, unknown symbols, the end token, padding, JSON and the registry."""

from __future__ import annotations

import json

import pytest
import torch

from vaekit.data.tokenizers import (
    SPECIALS,
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    WordTokenizer,
    tokenizer_from_json,
    train_tokenizer,
)
from vaekit.registry import ConfigError, register

CORPUS = ["the cat sat on the mat", "a dog ran to the door", "the cat ran, the dog sat!", "naïve café déjà vu"]


@pytest.mark.parametrize("spec", ["char", "word", {"type": "bpe", "vocab_size": 300, "min_frequency": 1}])
def test_every_tokenizer_round_trips_its_corpus_and_its_json(spec):
    tokenizer = train_tokenizer(spec, CORPUS)
    assert tuple(tokenizer.vocabulary[:4]) == SPECIALS
    again = tokenizer_from_json(tokenizer.to_json())
    assert type(again) is type(tokenizer) and again.vocabulary == tokenizer.vocabulary
    for text in CORPUS:
        ids = tokenizer.encode(text)
        assert ids[-1] == tokenizer.eos_index and tokenizer.unk_index not in ids
        assert tokenizer.decode(ids) == text
        assert again.encode(text) == ids


def test_bpe_is_byte_level_and_merges_frequent_pairs():
    tokenizer = train_tokenizer({"type": "bpe", "vocab_size": 300, "min_frequency": 1}, CORPUS)
    unseen = "zebra ∑ 🙂"  # never seen: byte pieces still cover it exactly
    assert tokenizer.decode(tokenizer.encode(unseen)) == unseen
    assert tokenizer.unk_index not in tokenizer.encode(unseen)
    # "the" is frequent: it is one token, shorter than its characters.
    assert len(tokenizer.encode("the", add_end=False)) == 1
    assert isinstance(tokenizer, BPETokenizer)


def test_word_tokenizer_caps_the_vocabulary_by_frequency_and_reads_unknown_words_as_unk():
    tokenizer = WordTokenizer.train(["a a a b b c", "a b d"], max_vocab=len(SPECIALS) + 2)
    assert tokenizer.vocabulary[4:] == ["a", "b"]
    ids = tokenizer.encode("a c b")
    assert ids == [4, tokenizer.unk_index, 5, tokenizer.eos_index]
    assert tokenizer.decode(ids) == "a <unk> b"
    assert tokenizer.unknown_tokens("a c d") == ["c", "d"]
    # A corpus that already spells unknown words <unk> (PTB) maps them to the special token.
    assert tokenizer.encode("<unk> a", add_end=False) == [tokenizer.unk_index, 4]


def test_char_tokenizer_reads_unseen_characters_as_unk():
    tokenizer = CharTokenizer.train(["abc"])
    assert tokenizer.encode("abz", add_end=False) == [tokenizer.index["a"], tokenizer.index["b"], tokenizer.unk_index]


def test_decode_stops_at_the_end_token_and_skips_padding():
    tokenizer = WordTokenizer.train(["x y z"])
    x, y = tokenizer.index["x"], tokenizer.index["y"]
    assert tokenizer.decode([tokenizer.bos_index, x, tokenizer.pad_index, y, tokenizer.eos_index, x]) == "x y"


def test_batches_are_padded_with_lengths_and_truncation_is_counted_or_refused():
    tokenizer = WordTokenizer.train(["a b c d"])
    batch = tokenizer.encode_batch(["a b", "a b c d", "q"])
    assert batch.ids.shape == (3, 5) and batch.lengths.tolist() == [3, 5, 2] and batch.unknown == 1
    assert bool((batch.ids[0, 3:] == tokenizer.pad_index).all())
    assert tokenizer.decode_batch(batch.ids) == ["a b", "a b c d", "<unk>"]
    cut = tokenizer.encode_batch(["a b", "a b c d"], max_length=3)
    assert cut.ids.shape == (2, 3) and cut.truncated == 1 and cut.lengths.tolist() == [3, 3]
    with pytest.raises(ValueError, match="more than 3 tokens"):
        tokenizer.encode_batch(["a b c d"], max_length=3, truncate=False)


def test_unknown_tokenizer_and_bad_vocabulary_are_named():
    with pytest.raises(ConfigError, match="valid tokenizers"):
        train_tokenizer("nope", CORPUS)
    with pytest.raises(ConfigError, match="tokenizer 'word'"):
        train_tokenizer({"type": "word", "colour": 1}, CORPUS)
    with pytest.raises(ValueError, match="special tokens"):
        WordTokenizer(["a", "b"])
    with pytest.raises(ValueError, match="repeat"):
        WordTokenizer([*SPECIALS, "a", "a"])


def test_a_new_tokenizer_is_a_small_registered_subclass():
    @register("tokenizer", "test-pairs")
    class PairTokenizer(Tokenizer):
        """Two characters per token (as a SMILES-regex or MIDI-event tokenizer would be written)."""

        def split(self, text):
            return [text[i : i + 2] for i in range(0, len(text), 2)]

        def join(self, tokens):
            return "".join(tokens)

        @classmethod
        def train(cls, texts):
            return cls([*SPECIALS, *sorted({t for text in texts for t in cls.split(None, text)})])

    tokenizer = train_tokenizer("test-pairs", ["abcd", "cdab"])
    assert tokenizer.decode(tokenizer.encode("cdabcd")) == "cdabcd"
    assert json.loads(tokenizer.to_json())["type"] == "test-pairs"
    assert tokenizer_from_json(tokenizer.to_json()).vocabulary == tokenizer.vocabulary
    assert torch.equal(tokenizer.encode_batch(["ab"]).ids, torch.tensor([[tokenizer.index["ab"], 2]]))
