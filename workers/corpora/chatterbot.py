"""chatterbot-corpus's YAML dialogs: the bundled English ones, or any file or folder of them.

Reading them::

    dialogs = chatterbot_dialogs()                    # the English files of chatterbot-corpus
    dialogs = chatterbot_dialogs("my-dialogs/")       # every .yml file in a folder

Each file has ``categories`` (its genres, lower-cased) and ``conversations``, lists of
utterances; each conversation becomes a :class:`~.dialogs.Dialog` with the file's categories as
its genres, and one of fewer than two strings is skipped.

Limits: chatterbot's dialogs are short scripted exchanges (greetings, trivia, tech support),
about 2,400 English pairs; they show a model learns, not that it chats well.
"""

from __future__ import annotations

from pathlib import Path

from botwerk.workers.corpora.dialogs import CorpusError, Dialog


def chatterbot_dialogs(path: Path | str | None = None) -> list[Dialog]:
    """The dialogs of chatterbot-corpus YAML files: a file, a folder, or (None) English."""
    import yaml

    root = Path(path) if path is not None else _bundled_english()
    files = sorted(root.glob("*.yml")) if root.is_dir() else [root]
    if not files or not files[0].is_file():
        raise CorpusError(f"no chatterbot YAML files at {root}")
    dialogs = []
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise CorpusError(f"{file} is not a readable chatterbot YAML file: {exc}") from None
        genres = frozenset(str(c).lower() for c in data.get("categories") or [file.stem])
        for number, talk in enumerate(data.get("conversations") or []):
            said = tuple(str(u).strip() for u in talk if isinstance(u, str | int | float))
            if len(said) >= 2 and all(said):
                dialogs.append(Dialog(f"{file.name}:{number}", said, genres, file.name))
    return dialogs


def _bundled_english() -> Path:
    try:
        import chatterbot_corpus
    except ImportError:
        raise CorpusError(
            "chatterbot-corpus is not installed: pip install chatterbot-corpus"
        ) from None
    return Path(chatterbot_corpus.__file__).parent / "data" / "english"
