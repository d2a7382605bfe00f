"""The chat tokeniser: contractions out and back, punctuation, capitals, and the vocabulary."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botwerk.workers.chat.tokens import END, PAD, SPECIALS, UNK, Vocab, detokenize, tokenize


@pytest.mark.parametrize(
    ("text", "tokens", "back"),
    [
        ("I'm fine.", ["i", "am", "fine", "."], "I'm fine."),
        ("Don't you think so?", ["do", "not", "you", "think", "so", "?"], "Don't you think so?"),
        ("I won't go, can't stay!", ["i", "will", "not", "go", ",", "can", "not", "stay", "!"],
         "I won't go, can't stay!"),
        ("It's John's car...", ["it", "is", "john", "'s", "car", "..."], "It's john's car..."),
        ("Let's eat. They'd've known", ["let", "us", "eat", ".", "they", "would", "have", "known"],
         "Let's eat. They'd have known"),
        ("Yes, I am.", ["yes", ",", "i", "am", "."], "Yes, I am."),
        ('He said "hi there" to me', ["he", "said", '"', "hi", "there", '"', "to", "me"],
         'He said "hi there" to me'),
        ("Señor, the café costs 3.50 (roughly).",
         ["señor", ",", "the", "café", "costs", "3.50", "(", "roughly", ")", "."],
         "Señor, the café costs 3.50 (roughly)."),
        ("a well-known e-mail", ["a", "well-known", "e-mail"], "A well-known e-mail"),
        ("It\u2019s \u201cfine\u201d", ["it", "is", '"', "fine", '"'], 'It is "fine"'),
        ("   ", [], ""),
    ],
)  # fmt: skip
def test_tokens_and_the_sentence_they_come_back_as(text, tokens, back):
    assert tokenize(text) == tokens
    assert detokenize(tokens) == back


def test_detokenize_leaves_special_tokens_out():
    assert detokenize(["<s>", "hello", "<unk>", "!", "</s>", "<pad>"]) == "Hello!"


TEXT = st.text(alphabet=st.sampled_from(list("abcdeiIMnot'\".,!?-() 0123456789é")), max_size=60)


@given(TEXT)
def test_tokenizing_the_detokenized_gives_the_same_tokens(text):
    tokens = tokenize(text)
    assert tokenize(detokenize(tokens)) == tokens


def test_the_vocabulary_keeps_the_commonest_words_after_the_specials():
    texts = [["b", "a", "a", "c"], ["a", "b", "d"], ["a", "<unk>"]]
    vocab = Vocab.build(texts, max_size=len(SPECIALS) + 2, min_count=1)
    assert vocab.tokens == (*SPECIALS, "a", "b")  # a x4, b x2; c and d trimmed
    assert Vocab.build(texts, max_size=100, min_count=2).tokens == (*SPECIALS, "a", "b")
    assert vocab.encode(["a", "zyzzyva", "b"]) == [5, UNK, 6]
    assert vocab.decode([5, PAD, 6, END, 5]) == ["a", "b"]  # stops at the end token


def test_a_vocabulary_must_start_with_the_specials_and_have_words():
    with pytest.raises(ValueError, match="starts with"):
        Vocab(("a", "b"))
    with pytest.raises(ValueError, match="no words"):
        Vocab.build([[], []], max_size=100)
