"""The word2vec commands: train vectors, import pre-trained ones, and ask them here.

    botwerk train word2vec wiki.txt --name wiki-vectors --phrases
    botwerk models import GoogleNews-vectors-negative300.bin --kind word2vec --name news
    botwerk models import glove-6b-50d                     # GloVe, from its package
    botwerk similar news king --negative man --positive woman
    botwerk train word2vec s3://corpora/wiki.txt --name wiki-vectors --submit   # a job

``train word2vec``'s settings are :class:`~.config.Word2VecConfig`'s fields, with its
defaults and help; ``similar`` asks the stored vectors directly, with no broker or worker.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from botwerk.infra.settings import Settings
from botwerk.schemas import validate
from botwerk.workers.commands import EXISTING, command_settings, friendly, publish
from botwerk.workers.jobs.commands import SUBMIT, submit_job
from botwerk.workers.options import config_options
from botwerk.workers.word2vec.config import Word2VecConfig

if TYPE_CHECKING:
    from botwerk.workers.epochs import Say
    from botwerk.workers.store import TrainResult

SETTINGS = ("vector_size", "window", "min_count", "epochs", "sg", "phrases")


@click.command("word2vec")
@click.argument("corpus")
@click.option("--name", required=True, help="Store it under this name (workers serve it by name).")
@config_options(Word2VecConfig, *SETTINGS, flags={"sg": "--sg/--cbow"})
@SUBMIT
@friendly
def train_word2vec(corpus: str, name: str, submit: bool, **options: Any) -> None:
    """Word vectors with gensim's Word2Vec; CORPUS has one sentence per line.

    With --submit, CORPUS may also be an s3:// or file:// URL.
    """
    settings = command_settings()
    Word2VecConfig(**options)  # refuse a bad setting here, not on the trainer
    if submit:
        submit_job(settings, "word2vec", name, corpus, options)
        return
    path = EXISTING.convert(corpus, None, click.get_current_context())
    with tempfile.TemporaryDirectory() as out:
        kind, result, label = fit(settings, name, str(path), options, workdir=Path(out))
        publish(settings, name, kind, result, label)


def fit(settings: Settings, name: str, corpus: str, options: dict[str, Any], *,
        workdir: Path | None, log: Say = print, progress: bool = True,
        **hooks: Any) -> tuple[str, TrainResult, str]:  # fmt: skip
    """Train vectors on the local ``corpus`` into ``workdir``: ``train word2vec``'s work.

    gensim trains with no loop of ours: ``hooks`` (``on_step``, ``checkpoints``) are unused."""
    from botwerk.workers.word2vec.train import train as run

    if workdir is None:
        raise ValueError("word2vec's fit needs a workdir to write the vectors into")
    workdir.mkdir(parents=True, exist_ok=True)
    result = run(Path(corpus), workdir, Word2VecConfig(**options), progress=progress)
    return "word2vec", result, Path(corpus).name


@click.command("import")
@click.argument("file")
@click.option("--kind", type=click.Choice(["word2vec"]), help="Required for a FILE.")
@click.option("--name", help="Store it under this name  [default: a source's own name]")
@click.option("--binary/--text", default=None, help="The file's format  [default: detect]")
@click.option("--limit", type=int, help="Keep only the first N (most frequent) words.")
@friendly
def import_model(
    file: str, kind: str | None, name: str | None, binary: bool | None, limit: int | None
) -> None:
    """Store pre-trained vectors: a FILE in word2vec text or binary format (GoogleNews-style),
    or a named source that ships in a package (glove-6b-50d: GloVe 6B, 400k words x 50)."""
    from botwerk.workers.word2vec.glove import SOURCES
    from botwerk.workers.word2vec.train import import_vectors

    settings = command_settings()
    path = Path(file)
    source = None if path.exists() else SOURCES.get(file)
    if source is None and not path.exists():
        known = ", ".join(SOURCES)
        raise click.BadParameter(f"{file!r} is neither a file nor a known source ({known})",
                                 param_hint="FILE")  # fmt: skip
    if source is None and (kind is None or name is None):
        raise click.UsageError(f"a FILE needs --kind word2vec and --name NAME: {file}")
    if source is not None and binary is not None:
        raise click.UsageError(f"--binary/--text are for files; {file} is a named source")
    with tempfile.TemporaryDirectory() as out:
        if source is not None:
            result = source.importer(Path(out), limit=limit)
            publish(settings, name or file, kind or "word2vec", result, source.corpus)
        else:
            result = import_vectors(path, Path(out), binary=binary, limit=limit)
            publish(settings, str(name), str(kind), result, path.name)


@click.command()
@click.argument("name")
@click.argument("words", nargs=-1, required=True)
@click.option("--negative", multiple=True, help="Subtract this word; repeat for more.")
@click.option("--topn", type=int, default=10, show_default=True)
@friendly
def similar(name: str, words: tuple[str, ...], negative: tuple[str, ...], topn: int) -> None:
    """Words nearest to WORDS (minus --negative ones) in the vectors stored as NAME."""
    from botwerk.schemas.models.word2vec import Word2VecInput
    from botwerk.workers.word2vec.serve import Word2VecModel

    query = validate(
        {"op": "most_similar", "positive": words, "negative": negative, "topn": topn},
        Word2VecInput, "option",
    )  # fmt: skip
    model = Word2VecModel(command_settings(), name)
    model.load()
    [output] = model.predict([query])
    if output["unknown"]:
        raise click.ClickException(f"not in {model.version}: {', '.join(output['unknown'])}")
    for term, score in output["results"]:
        click.echo(f"{score:7.3f}  {term}")
