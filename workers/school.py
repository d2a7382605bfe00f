"""Teach the demo models in a child process while the mesh serves: ``botwerk up``'s trainer role.

In ``botwerk up``::

    school = School(bus, settings, plan(settings, models, budget_s=900), budget_s=900,
                    heard=print_news)
    Learning(CharRNNModel, settings, "charrnn", school.progress["charrnn"])  # its worker's model
    await run_roles(bus, [school, *workers, *cores, transport])

The child (:func:`teach`) works through the lessons of :func:`~.demo.plan`: first every first
version (the word vectors, then the bard, then the chat model), then rounds of improvement in
turn until each model's budget is spent, it is good enough, or it stops getting better (the
rules are :mod:`.demo`'s). It runs at a lower priority and on all cores but one, so chatting
stays quick while it trains. Each version it stores comes to the parent as news: the parent
announces it on ``{ns}.events`` (the workers swap it in, :mod:`.rollout`) and hands it to
``heard``, which tells the user. Until a model's first version exists, ``progress[kind]`` says
how far it is (for the worker's "still learning: 40%, about a minute left").

Stopping ``botwerk up`` ends the child; its checkpoints stay in the store, so the next
``botwerk up`` goes on from them. A child that loses its parent (killed -9) exits by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

import msgspec

from botwerk.infra import topology
from botwerk.infra.bus import Bus
from botwerk.infra.settings import Settings
from botwerk.workers.demo import (
    FIRST_S,
    GOALS,
    IMPORT_S,
    ROUND_S,
    STALE_ROUNDS,
    Lesson,
    latest_of,
    learn,
    wants_more,
)
from botwerk.workers.learning import Progress
from botwerk.workers.rollout import announce_published
from botwerk.workers.store import Manifest, ModelStore

if TYPE_CHECKING:
    from botwerk.workers.epochs import Step

log = logging.getLogger("botwerk.school")

NICE = 10  # the child's priority below the serving process
TELL_EVERY_S = 0.5  # progress news at most this often
STOP_WAIT_S = 5.0


@dataclass(frozen=True)
class Published:
    """A better version of ``manifest.name`` is stored (``before``: the one it replaces)."""

    manifest: Manifest
    before: Manifest | None


@dataclass(frozen=True)
class Finished:
    """``kind`` stops learning, for the reason ``why`` (a phrase: "its budget is spent")."""

    kind: str
    why: str


@dataclass(frozen=True)
class Failed:
    """Teaching ``kind`` failed; the others go on."""

    kind: str
    error: str


News = Published | Finished | Failed


class School:
    """The parent side: starts the child, hears its news, announces what it stores."""

    role = "trainer"

    def __init__(
        self,
        bus: Bus,
        settings: Settings,
        lessons: list[Lesson],
        *,
        budget_s: float,
        heard: Callable[[News], None] = lambda news: None,
        first_s: float = FIRST_S,
        round_s: float = ROUND_S,
    ) -> None:
        self.bus, self.settings, self.lessons, self.heard = bus, settings, lessons, heard
        self.budget_s, self.first_s, self.round_s = budget_s, first_s, round_s
        self.progress = {
            lesson.kind: Progress(0.0, eta) for lesson, eta in _first_etas(lessons, first_s)
        }
        """the training before each first version: what a learning worker tells"""
        self._process: BaseProcess | None = None
        self._news: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self.lessons:
            return
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._news, told = context.Pipe(duplex=False)  # a pipe: nothing to leak if it is killed
        self._process = context.Process(
            target=teach, name="botwerk-school", daemon=True,
            args=(self.settings, self.lessons, self.budget_s, self.first_s, self.round_s,
                  told, os.getpid()),
        )  # fmt: skip
        self._process.start()
        told.close()  # the child's end: the parent reads EOF once the child is gone
        self._reader = asyncio.create_task(self._read(), name="school-news")

    async def stop(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.terminate()  # its checkpoints stay: the next run goes on from them
            await asyncio.to_thread(self._process.join, STOP_WAIT_S)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._news is not None:
            self._news.close()

    async def _read(self) -> None:
        while True:
            try:
                item = await asyncio.to_thread(self._next)
            except EOFError:  # the child is gone
                return
            if item is not None:
                await self._on(item)

    def _next(self) -> tuple[str, Any] | None:
        """The next news, or None after a while without any (so a stop is heard)."""
        if self._news.poll(TELL_EVERY_S):
            item: tuple[str, Any] = self._news.recv()
            return item
        return None

    async def _on(self, item: tuple[str, Any]) -> None:
        what, body = item
        if what == "progress":
            for kind, (done, eta_s) in body.items():
                if kind in self.progress:
                    self.progress[kind].update(done, eta_s)
            return
        if what == "published":
            manifest = msgspec.convert(body[0], Manifest)
            if manifest.name in self.progress:  # learned: requests now wait for it to load
                self.progress[manifest.name].arrive()
            before = None if body[1] is None else msgspec.convert(body[1], Manifest)
            names = topology.Names(self.settings.namespace)
            try:
                await announce_published(self.bus, names, manifest, store=self.settings.models)
            except Exception as exc:  # stored either way: workers load it when they start
                log.warning("%s is stored but could not be announced: %s", manifest.spec, exc)
            self.heard(Published(manifest, before))
        elif what == "finished":
            self.heard(Finished(*body))
        elif what == "failed":
            failed = Failed(*body)
            if failed.kind in self.progress and not self.progress[failed.kind].arriving:
                self.progress[failed.kind].fail()  # its stand-in stops saying "learning"
            self.heard(failed)


# The child.


def teach(settings: Settings, lessons: list[Lesson], budget_s: float, first_s: float,
          round_s: float, news: Any, parent: int) -> None:  # fmt: skip
    """The child process: first versions first, then rounds in turn (see the module)."""
    _step_aside()
    store = ModelStore.from_settings(settings)
    teacher = _Teacher(settings, store, news, parent, lessons, first_s)
    for lesson in [lesson for lesson in lessons if lesson.first or lesson.kind == "word2vec"]:
        teacher.lesson(lesson.kind, first_s)
    going = [
        lesson.kind for lesson in lessons if lesson.kind in GOALS and lesson.kind != "word2vec"
    ]
    stale = dict.fromkeys(going, 0)
    while going:
        for kind in list(going):
            why = teacher.stop_reason(kind, budget_s, stale[kind])
            if why is not None:
                going.remove(kind)
                news.send(("finished", (kind, why)))
                continue
            published = teacher.lesson(kind, round_s)
            stale[kind] = 0 if published else stale[kind] + 1


class _Teacher:
    def __init__(self, settings: Settings, store: ModelStore, news: Any, parent: int,
                 lessons: list[Lesson], first_s: float) -> None:  # fmt: skip
        self.settings, self.store, self.news, self.parent = settings, store, news, parent
        self.waiting = {lesson.kind: _own_s(lesson.kind, first_s) for lesson in lessons
                        if lesson.first}  # fmt: skip
        """first versions still to come, in order, with the seconds each takes"""
        self._told = 0.0

    def lesson(self, kind: str, seconds: float) -> bool:
        """One round of ``kind``; True if it stored a better version."""
        started = time.monotonic()

        def on_step(step: Step) -> None:
            self._tell_progress(kind, time.monotonic() - started)

        self._tell_progress(kind, 0.0, force=True)
        try:
            published, before = learn(
                self.settings, self.store, kind, seconds, on_step=on_step, say=log.info
            )
        except Exception as exc:
            log.exception("teaching %s failed", kind)
            self.news.send(("failed", (kind, f"{type(exc).__name__}: {exc}")))
            return False
        finally:
            self.waiting.pop(kind, None)
        if published is None:
            return False
        before_map = None if before is None else msgspec.to_builtins(before)
        self.news.send(("published", (msgspec.to_builtins(published), before_map)))
        return True

    def stop_reason(self, kind: str, budget_s: float, stale: int) -> str | None:
        latest = latest_of(self.store, kind)
        if latest is None:
            return "its first version could not be made"
        if GOALS[kind].met(latest.metrics):
            return "it is good enough"
        if not wants_more(kind, latest, budget_s):
            if budget_s == 0:
                return "only a first version was asked for (BOTWERK_DEMO_TRAIN_MINUTES=0)"
            return f"its {_duration(budget_s)} of training are spent"
        if stale >= STALE_ROUNDS:
            return f"{stale} rounds in a row found nothing better"
        return None

    def _tell_progress(self, kind: str, elapsed: float, force: bool = False) -> None:
        """Each waiting first version's (share done, seconds left), at most every half second."""
        self._watch_parent()
        now = time.monotonic()
        if kind not in self.waiting or (not force and now - self._told < TELL_EVERY_S):
            return
        self._told = now
        state, ahead = {}, 0.0
        for other, own in self.waiting.items():  # in teaching order: ``kind`` comes first
            if other == kind:
                ahead += max(own - elapsed, 1.0)
                state[other] = (min(elapsed / own, 0.99), ahead)
            else:
                ahead += own
                state[other] = (0.0, ahead)
        self.news.send(("progress", state))

    def _watch_parent(self) -> None:
        if os.getppid() != self.parent:  # the parent died (kill -9): nobody listens
            os._exit(0)


def _duration(seconds: float) -> str:
    """``15 minutes``, ``90 s``."""
    return f"{seconds / 60:g} minutes" if seconds >= 120 else f"{seconds:g} s"


def _own_s(kind: str, first_s: float) -> float:
    return IMPORT_S if kind == "word2vec" else first_s


def _first_etas(lessons: list[Lesson], first_s: float) -> list[tuple[Lesson, float]]:
    """Each first lesson with the seconds until its first version, counting those before it."""
    waited, etas = 0.0, []
    for lesson in lessons:
        if lesson.first:
            waited += _own_s(lesson.kind, first_s)
            etas.append((lesson, waited))
    return etas


def _step_aside() -> None:
    """Lower priority, and all cores but one: the serving process stays quick."""
    with contextlib.suppress(OSError):
        os.nice(NICE)
    import threading

    import torch
    from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

    # tqdm's default lock is a multiprocessing semaphore, left behind when this child is
    # terminated (Python then warns of a "leaked semaphore" at exit): a thread lock will do.
    tqdm.set_lock(threading.RLock())

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
