"""Corpora: plain text files and folders, compressed text, bad bytes, Wikipedia dumps."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import pytest
from gensim.test.utils import datapath

from botwerk.workers.corpora.text import Sentences, iter_sentences, load_text
from botwerk.workers.corpora.wiki import (
    WikiArticle,
    clean_wiki,
    read_wiki_text,
    wiki_articles,
    write_wiki_text,
)

DUMP = Path(datapath("enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"))


@pytest.fixture(scope="module")
def articles() -> list[WikiArticle]:
    return list(wiki_articles(DUMP))


def test_a_plain_file(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Hello, World!\nSecond line.\n", encoding="utf-8")
    assert load_text(tmp_path / "a.txt") == "Hello, World!\nSecond line.\n"
    assert load_text(str(tmp_path / "a.txt")).startswith("Hello")


def test_a_folder_is_read_sorted_recursive_without_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("bee")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("sea")
    (tmp_path / "a.txt").write_text("ay")
    (tmp_path / ".hidden.txt").write_text("secret")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    assert load_text(tmp_path) == "ay\nbee\nsea"


def test_compressed_text_is_read_transparently(tmp_path: Path) -> None:
    text = "zipped words\nmore zipped words\n"
    (tmp_path / "a.txt.bz2").write_bytes(bz2.compress(text.encode()))
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress(text.encode()))
    assert load_text(tmp_path / "a.txt.bz2") == text
    assert load_text(tmp_path / "b.txt.gz") == text
    expected = [["zipped", "words"], ["more", "zipped", "words"]]
    assert list(iter_sentences(tmp_path / "a.txt.bz2")) == expected


def test_undecodable_bytes_are_replaced(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_bytes(b"caf\xc3\xa9 \xff\xfe ok")
    assert load_text(tmp_path / "bad.txt") == "café \ufffd\ufffd ok"


def test_a_missing_corpus_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="give a text file or a folder"):
        load_text(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="give a text file or a folder"):
        Sentences(tmp_path / "nope")


def test_sentences_are_lines_of_words(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("The cat sat, on 2 mats.\n\n  \nI saw New_York!\n")
    assert list(iter_sentences(tmp_path)) == [
        ["the", "cat", "sat", "on", "mats"],
        ["i", "saw", "new_york"],
    ]
    kept = list(iter_sentences(tmp_path, lowercase=False))
    assert kept[1] == ["I", "saw", "New_York"]


def test_sentences_can_be_read_again(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one two\nthree\n")
    sentences = Sentences(tmp_path / "a.txt")
    assert list(sentences) == list(sentences) == [["one", "two"], ["three"]]


def test_wiki_articles_skip_redirects_and_keep_headings(articles: list[WikiArticle]) -> None:
    titles = [a.title for a in articles]
    assert titles[:3] == ["Anarchism", "Autism", "Albedo"]
    assert "AccessibleComputing" not in titles  # a redirect
    anarchism = articles[0].text
    assert anarchism.startswith("Anarchism is a political philosophy")
    assert "\n== Etymology and terminology ==\n" in anarchism
    assert "'''" not in anarchism and "{{" not in anarchism and "[[" not in anarchism
    assert "\n\n" not in anarchism and all(len(a.text) >= 200 for a in articles)


def test_wiki_articles_without_headings() -> None:
    first = next(wiki_articles(DUMP, headings=False))
    assert first.title == "Anarchism"
    assert "Etymology and terminology" not in first.text
    assert not any(line.startswith("=") for line in first.text.splitlines())


def test_empty_sections_lose_their_headings() -> None:
    raw = "Intro.\n==Empty==\n==History==\n===Origins===\nOld.\n==See also==\n* [[x]]\n==Notes==\n"
    assert clean_wiki(raw) == "Intro.\n== History ==\n=== Origins ===\nOld.\n== See also ==\nx"


def test_write_wiki_text_writes_what_the_readers_read(
    articles: list[WikiArticle], tmp_path: Path
) -> None:
    out = tmp_path / "wiki" / "wiki.txt"
    assert write_wiki_text(DUMP, out, headings=True, progress=False) == len(articles)
    assert list(read_wiki_text(out)) == articles
    text = load_text(out)
    assert text.startswith("= Anarchism =\nAnarchism is a political philosophy")
    assert text.count("\n\n") == len(articles)
    first = next(iter_sentences(out))
    assert first == ["anarchism"]
