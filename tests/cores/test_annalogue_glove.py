"""Annalogue on GloVe, the demo vectors: every example it and the README show answers right.

GloVe is imported once per session into a throwaway store and served by the real worker
model class, in-process: the bot's requests are validated and answered as a worker would,
with no bus. The examples are read out of annalogue's help, its module docstring and
README.md, so an example changed there without a change here fails.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from botwerk.cores import annalogue
from botwerk.cores.annalogue import Annalogue
from botwerk.infra.settings import Settings
from botwerk.schemas import InferReply, validate
from botwerk.testing.canned import context
from botwerk.workers.store import ModelStore
from botwerk.workers.word2vec.glove import GLOVE_CORPUS, import_glove
from botwerk.workers.word2vec.serve import Word2VecModel

README = Path(__file__).parents[2] / "README.md"

# What each example's reply must hold: the right answer.
IN_HELP = {
    "france": "paris",
    "king - man + woman": "= queen (",
    "paris : france :: tokyo : ?": "tokyo is to japan (",
    "paris is to france as tokyo is to ?": "tokyo is to japan (",
    "what is the capital of germany": "germany is berlin (",
    "cat vs dog": "closely related",
    "how similar are cat and dog": "closely related",
    "which doesn't belong: apple, banana, car": "odd one out is car (",
    "how common is cat": "cat is the 5,451st most common word",
    "which doesn't belong: cat, dog, car": "odd one out is car (",  # in NEED_THREE
    "help": annalogue.HELP,  # in NOT_UNDERSTOOD
    "answers=10 france": "paris",
}
IN_README = {
    "king - man + woman": "= queen (",
    "which doesn't belong: police fire water government": "odd one out is water (",
    "paris : france :: tokyo : ?": "tokyo is to japan (",
    "paris is to france as tokyo is to ?": "tokyo is to japan (",
    "what is the capital of germany": "germany is berlin (",
    "cat vs dog": "closely related",
    "how similar are cat and dog": "closely related",
    "which doesn't belong: apple, banana, car": "odd one out is car (",
    "odd one out: red green blue tuesday": "odd one out is tuesday (",
    "france": "paris",
    "words like frog": "toad",
    "how common is cat": "cat is the 5,451st most common word",
}
PERCENT = re.compile(r"(-?\d+)%")


class InProcess:
    """Plays the bot's RPC: each request is validated and answered by ``model``, here."""

    def __init__(self, model: Word2VecModel) -> None:
        self.model = model

    async def infer(self, model: str, inputs: dict[str, Any], deadline_ms: int) -> InferReply:
        [outputs] = self.model.predict([validate(inputs, Word2VecModel.Input, "inputs")])
        return InferReply(model=model, version=self.model.version, outputs=outputs)


@pytest.fixture(scope="session")
def glove(tmp_path_factory: pytest.TempPathFactory) -> Word2VecModel:
    root = tmp_path_factory.mktemp("glove")
    result = import_glove(root / "built")
    store = ModelStore(str(root / "models"))
    store.publish("word2vec", "word2vec", result.folder, metrics=result.metrics,
                  corpus=GLOVE_CORPUS, config=result.config)  # fmt: skip
    model = Word2VecModel(Settings.load(namespace="unit", models=str(root / "models")))
    model.load()
    return model


async def ask(glove: Word2VecModel, text: str) -> str:
    bot = Annalogue(Settings.load(namespace="unit"))
    reply = await bot.dispatch(context("annalogue", text, InProcess(glove)))  # type: ignore[arg-type]
    percents = [int(p) for p in PERCENT.findall(reply)]
    assert all(0 <= p <= 100 for p in percents), f"{text!r} -> {reply!r}"
    return reply


def backticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def readme_examples() -> dict[str, str]:
    """``you> @annalogue X`` lines (X -> the reply shown) and the annalogue table's examples."""
    text = README.read_text(encoding="utf-8")
    shown = {}
    for asked, following in re.findall(r"^you> @annalogue (.+)\n(.*)$", text, re.MULTILINE):
        shown[asked] = following.removeprefix("annalogue> ")
    table = text.split("- **annalogue**", 1)[1].split("\n- **", 1)[0]
    for row in re.findall(r"^\s*\| [^|]+ \| (.+) \|$", table, re.MULTILINE):
        shown.update(dict.fromkeys(backticked(row), "..."))
    return shown


def docstring_examples() -> list[tuple[str, str]]:
    """``you: X    annalogue: Y`` lines of annalogue's module docstring."""
    return re.findall(r"you: (.+?)\s{2,}annalogue: (.+)", annalogue.__doc__ or "")


def test_the_examples_in_help_and_readme_are_exactly_the_tested_ones() -> None:
    user_sentences = [annalogue.HELP, annalogue.NOT_UNDERSTOOD, annalogue.NEED_THREE]
    assert set(backticked("\n".join(user_sentences))) == set(IN_HELP)
    assert set(readme_examples()) == set(IN_README)
    lines = [line for line in (annalogue.__doc__ or "").splitlines() if "you: " in line]
    assert len(docstring_examples()) == len(lines) >= 5


@pytest.mark.parametrize("text", sorted(set(IN_HELP) | set(IN_README)))
async def test_every_example_answers_right(glove: Word2VecModel, text: str) -> None:
    reply = await ask(glove, text)
    assert (IN_HELP.get(text) or IN_README[text]) in reply
    assert "probably" not in reply, f"hedged: {reply!r}"
    shown = readme_examples().get(text, "...")
    assert shown in ("...", reply)  # a reply the README shows is the real one


@pytest.mark.parametrize(("text", "expected"), docstring_examples())
async def test_the_docstring_shows_the_real_replies(
    glove: Word2VecModel, text: str, expected: str
) -> None:
    assert await ask(glove, text) == expected


@pytest.mark.parametrize(
    "text",
    ["quantum is to king as woman is to ?",  # 3CosMul scores lady 183%
     "car : apple :: dog : ?",  # 132%
     "cat vs accords",  # a cosine of -0.39
     "odd one out: cat, dog, accords, tbilisi", "king - the"],
)  # fmt: skip
async def test_no_percent_is_above_100_or_below_0(glove: Word2VecModel, text: str) -> None:
    reply = await ask(glove, text)
    assert PERCENT.search(reply), reply


async def test_nonsense_analogies_are_hedged(glove: Word2VecModel) -> None:
    reply = await ask(glove, "car : apple :: dog : ?")
    assert "is to probably " in reply, reply


def test_imported_glove_says_how_good_it_is(glove: Word2VecModel) -> None:
    manifest = ModelStore.from_settings(glove.settings).latest("word2vec")
    assert manifest.corpus == GLOVE_CORPUS
    assert manifest.metrics["vocab_size"] == 400_000 and manifest.metrics["vector_size"] == 50
    assert manifest.metrics["analogy_accuracy"] >= 0.6
