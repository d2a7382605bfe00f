"""A model that is not there yet: still learning its first version, or still loading.

``botwerk up`` starts every worker at once, without waiting for any model, so the bots whose
models are ready answer straight away::

    progress = Progress()                       # the trainer moves it: progress.update(0.4, 65)
    model = Learning(lambda: CharRNNModel, settings, "charrnn", progress)
    worker = Worker(bus, settings, model)       # consumes {ns}.infer.charrnn at once
    Learning(lambda: ChatModel, settings, "chat")   # stored already: it loads in the background

The model class comes from a function called on a thread of its own, so that importing torch
or gensim (seconds) does not hold up the start either.

The stand-in follows its name like any stored model (:mod:`.rollout`): once it is subscribed,
the follower loads the stored latest version beside it, warms it up and swaps it in between
two batches; the ``model.published`` event of a first version does the same. Meanwhile the
worker answers a request in one of two ways (:meth:`Learning.arriving` tells which):

- the model is still learning: at once, with a ``no_worker`` error carrying
  :class:`~botwerk.schemas.messages.Learning` (the share of the training before the first
  version, and the seconds left), which the core words as "billybard is still learning: 40%,
  about a minute left";
- a version exists and is loading (seconds): the request waits for it, within its deadline,
  and is answered by it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botwerk.infra.settings import Settings
from botwerk.schemas import Error
from botwerk.schemas.messages import Learning as Learned
from botwerk.workers.store import ModelNotFound, ModelStore

NOT_YET = "learning"
"""The version a learning model serves: none yet."""


class Progress:
    """How far the training before a model's first version has come; safe across threads."""

    def __init__(self, done: float = 0.0, eta_s: float = 60.0) -> None:
        self._lock = threading.Lock()
        self._state = (done, eta_s)
        self.failed = False
        """the training failed: no version is coming"""

    @property
    def arriving(self) -> bool:
        """A version exists (it is loading, or serving)."""
        return self.now()[0] >= 1.0

    def fail(self) -> None:
        self.failed = True

    def arrive(self) -> None:
        """A version exists now: it loads, and requests wait for it (about :data:`LOAD_S`)."""
        self.update(1.0, LOAD_S)

    def update(self, done: float, eta_s: float) -> None:
        with self._lock:
            self._state = (min(max(done, 0.0), 1.0), max(eta_s, 0.0))

    def now(self) -> tuple[float, float]:
        """(share done, seconds left)."""
        with self._lock:
            return self._state


LOAD_S = 5.0
"""About how long a stored version takes to load and warm up."""


class Learning:
    """Stands in for a stored model of ``kind`` called ``name`` until a version is serving."""

    Input: type[Any] = dict
    """Unused: a request is checked against the real model's input once that serves it."""

    def __init__(
        self,
        kind: Callable[[], type[Any]],
        settings: Settings,
        name: str,
        progress: Progress | None = None,
    ) -> None:
        """``progress``: the training's, while it learns; None: a version exists, it loads."""
        if progress is None:
            progress = Progress()
            progress.arrive()
        self.settings, self.name, self.progress = settings, name, progress
        self.version = NOT_YET
        self._kind: type[Any] | BaseException | None = None
        self._importing = threading.Thread(
            target=self._import, args=(kind,), name=f"import-{name}", daemon=True
        )
        self._importing.start()

    def _import(self, kind: Callable[[], type[Any]]) -> None:
        try:
            self._kind = kind()
        except BaseException as exc:  # kept: raised where the class is needed
            self._kind = exc

    def kind(self) -> type[Any]:
        """The real model's class, once imported (waits for the import)."""
        self._importing.join()
        if isinstance(self._kind, BaseException) or self._kind is None:
            raise RuntimeError(f"could not import the {self.name} model") from self._kind
        return self._kind

    @property
    def arriving(self) -> bool:
        """True once a version exists: it is loading, and requests wait for it."""
        return self.progress.arriving

    @property
    def follows(self) -> str:
        return self.name

    def at(self, version: str) -> Any:
        """The real model, at ``version``: what the follower swaps in."""
        return self.kind()(self.settings, self.name, f"{self.name}@{version}")

    def latest(self) -> str:
        """The stored latest version, or :data:`NOT_YET` while there is none.

        The follower asks on a thread: the class is imported by then, so :meth:`at` is quick.
        """
        self.kind()  # waits for the import, here off the event loop
        try:
            return ModelStore.from_settings(self.settings).latest(self.name).version
        except ModelNotFound:
            return NOT_YET

    def load(self) -> None:
        """Nothing to load yet."""

    def example(self) -> Any:
        return None

    def predict(self, batch: list[Any]) -> list[dict[str, Any]]:
        """Never reached by a request (:meth:`answer` comes first); a warm-up gets nothing."""
        return [{} for _ in batch]

    def answer(self) -> Error:
        """The reply to every request while learning: where the training stands."""
        if self.progress.failed:
            return Error(code="model_error", message=f"the {self.name} model could not be made")
        done, eta_s = self.progress.now()
        return Error(
            code="no_worker",
            message=f"the {self.name} model is still learning",
            learning=Learned(done=round(done, 3), eta_s=round(eta_s, 1)),
        )
