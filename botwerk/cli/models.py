"""``botwerk`` commands that work on models locally, with no broker: train, store, try.

    botwerk corpus wiki enwiki-latest-pages-articles.xml.bz2 wiki.txt
    botwerk train charrnn wiki.txt --name bard --epochs 5
    botwerk train word2vec wiki.txt --name wiki-vectors
    botwerk models import GoogleNews-vectors-negative300.bin --kind word2vec --name news
    botwerk models list
    botwerk generate bard "To be or not"
    botwerk similar news king --negative man --positive woman

Everything lands in the model store (``BOTWERK_MODELS``, ``file://./models`` by default) as
a new version; running workers of that name take the latest version when they start. Heavy
libraries (torch, gensim) are imported only by the command that needs them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click

from botwerk.schemas import validate

from .chat import corpus_cornell, reply, train_chat
from .kit import EXISTING, friendly, publish, store
from .kit import command_settings as _settings


@click.group()
def train() -> None:
    """Train a model on a corpus and store it as the next version of --name."""


@train.command("charrnn")
@click.argument("corpus", type=EXISTING)
@click.option("--name", required=True, help="Store it under this name (workers serve it by name).")
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--hidden", type=int, default=512, show_default=True, help="LSTM units per layer.")
@click.option("--layers", type=int, default=2, show_default=True)
@click.option("--embed", type=int, default=64, show_default=True, help="Character embedding size.")
@click.option("--dropout", type=float, default=0.2, show_default=True)
@click.option("--seq-len", type=int, default=128, show_default=True, help="BPTT window.")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--max-minutes", type=float, help="Stop after this long, keeping the best so far.")
@click.option(
    "--workdir", type=click.Path(path_type=Path),
    help="Checkpoints; training resumes from the latest one here  [default: ./runs/NAME]",
)  # fmt: skip
@friendly
def train_charrnn(corpus: Path, name: str, workdir: Path | None, max_minutes: float | None,
                  **sizes: Any) -> None:  # fmt: skip
    """A character-level LSTM language model, by truncated backpropagation through time.

    CORPUS is a text file or a folder of them. Each epoch prints validation loss and
    perplexity and samples at several temperatures; a checkpoint is kept every epoch, and
    running the same command again resumes from it.
    """
    from botwerk.workers.charrnn.model import CharRNNConfig
    from botwerk.workers.charrnn.train import train as run
    from botwerk.workers.corpora import load_text

    settings = _settings()
    config = CharRNNConfig(**sizes)
    result = run(
        load_text(corpus), workdir or Path("runs") / name, config, device=settings.device,
        max_seconds=max_minutes * 60 if max_minutes else None,
    )  # fmt: skip
    publish(settings, name, "charrnn", result, corpus.name)


@train.command("word2vec")
@click.argument("corpus", type=EXISTING)
@click.option("--name", required=True, help="Store it under this name (workers serve it by name).")
@click.option("--vector-size", type=int, default=100, show_default=True)
@click.option("--window", type=int, default=5, show_default=True)
@click.option("--min-count", type=int, default=5, show_default=True)
@click.option("--epochs", type=int, default=5, show_default=True)
@click.option("--sg/--cbow", default=False, show_default=True, help="Skip-gram or CBOW.")
@click.option("--phrases/--no-phrases", default=False, show_default=True,
              help="Join frequent word pairs into phrase tokens (new_york).")  # fmt: skip
@friendly
def train_word2vec(corpus: Path, name: str, **options: Any) -> None:
    """Word vectors with gensim's Word2Vec; CORPUS has one sentence per line."""
    from botwerk.workers.word2vec.train import Word2VecConfig
    from botwerk.workers.word2vec.train import train as run

    settings = _settings()
    with tempfile.TemporaryDirectory() as out:
        result = run(corpus, Path(out), Word2VecConfig(**options))
        publish(settings, name, "word2vec", result, corpus.name)


@click.group()
def models() -> None:
    """List stored models and import pre-trained ones."""


@models.command("list")
@friendly
def list_models() -> None:
    """Every stored version, with its kind, corpus and metrics."""
    settings = _settings()
    found = store(settings).manifests()
    if not found:
        click.echo(f"no models in {settings.models} yet: `botwerk train ...` or `botwerk up`")
    for m in found:
        figures = " ".join(f"{k}={v:.4g}" for k, v in sorted(m.metrics.items()))
        click.echo(f"{m.spec:24} {m.kind:9} {m.corpus[:24]:24} {figures}")


@models.command("demo")
@click.option(
    "--seconds", type=float, help="Training time cap of each  [default: charrnn 75, chat 60]"
)
@friendly
def demo_models(seconds: float | None) -> None:
    """Train the demo models that `botwerk up` uses, unless the store has them already."""
    from botwerk.workers.demo import TRAINERS, ensure_demo_models

    settings = _settings()
    trained = ensure_demo_models(settings, list(TRAINERS), seconds=seconds)
    click.echo(f"demo models in {settings.models}: " + ("trained " + ", ".join(trained)
               if trained else "already there"))  # fmt: skip


@models.command("import")
@click.argument("file", type=EXISTING)
@click.option("--kind", type=click.Choice(["word2vec"]), required=True)
@click.option("--name", required=True)
@click.option("--binary/--text", default=None, help="The file's format  [default: detect]")
@click.option("--limit", type=int, help="Keep only the first N (most frequent) words.")
@friendly
def import_model(file: Path, kind: str, name: str, binary: bool | None, limit: int | None) -> None:
    """Store pre-trained vectors in word2vec text or binary format (GoogleNews-style)."""
    from botwerk.workers.word2vec.train import import_vectors

    settings = _settings()
    with tempfile.TemporaryDirectory() as out:
        result = import_vectors(file, Path(out), binary=binary, limit=limit)
        publish(settings, name, kind, result, file.name)


@click.command()
@click.argument("name")
@click.argument("prime", default="")
@click.option("--length", type=int, default=300, show_default=True)
@click.option("--temperature", type=float, default=0.8, show_default=True)
@click.option("--top-k", type=int, default=0, help="Sample from the K likeliest only.")
@click.option("--seed", type=int, help="Repeatable output.")
@friendly
def generate(name: str, prime: str, **options: Any) -> None:
    """Continue PRIME with the char-RNN stored as NAME[@VERSION], here, with no broker."""
    from botwerk.workers.charrnn.serve import CharRNNInput, CharRNNModel

    request = validate({"prime": prime, **options}, CharRNNInput, "option")
    model = CharRNNModel(_settings(), name)
    model.load()
    [output] = model.predict([request])
    click.echo(prime + output["text"])


@click.command()
@click.argument("name")
@click.argument("words", nargs=-1, required=True)
@click.option("--negative", multiple=True, help="Subtract this word; repeat for more.")
@click.option("--topn", type=int, default=10, show_default=True)
@friendly
def similar(name: str, words: tuple[str, ...], negative: tuple[str, ...], topn: int) -> None:
    """Words nearest to WORDS (minus --negative ones) in the vectors stored as NAME."""
    from botwerk.workers.word2vec.serve import Word2VecInput, Word2VecModel

    query = validate(
        {"op": "most_similar", "positive": words, "negative": negative, "topn": topn},
        Word2VecInput, "option",
    )  # fmt: skip
    model = Word2VecModel(_settings(), name)
    model.load()
    [output] = model.predict([query])
    if output["unknown"]:
        raise click.ClickException(f"not in {model.version}: {', '.join(output['unknown'])}")
    for term, score in output["results"]:
        click.echo(f"{score:7.3f}  {term}")


@click.group()
def corpus() -> None:
    """Turn raw corpora into plain text for training."""


@corpus.command("wiki")
@click.argument("dump", type=EXISTING)
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--headings/--no-headings", default=True, show_default=True,
              help="Keep section headings in the text.")  # fmt: skip
@friendly
def corpus_wiki(dump: Path, out: Path, headings: bool) -> None:
    """Extract the articles of a Wikipedia XML dump (.xml.bz2) as plain text into OUT."""
    from botwerk.workers.corpora import write_wiki_text

    count = write_wiki_text(dump, out, headings=headings)
    click.echo(f"wrote {count} articles to {out}")


train.add_command(train_chat)
corpus.add_command(corpus_cornell)

COMMANDS = (train, models, generate, similar, reply, corpus)
