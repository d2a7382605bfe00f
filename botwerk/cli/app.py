"""The ``botwerk`` command: each role of the mesh as its own process, or all in one (``up``)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Coroutine
from functools import partial
from typing import Any, TypeVar

import click

from botwerk.cores import DEMO_BOTS
from botwerk.infra.bus import Bus
from botwerk.infra.commands import guard, load_settings
from botwerk.infra.memory import MemoryBus
from botwerk.infra.process import run_roles
from botwerk.infra.registry import MODELS, TRANSPORTS, Registry
from botwerk.infra.settings import Settings
from botwerk.schemas import BotwerkError
from botwerk.workers.demo import DEMO_MODELS, FIRST_S, GOALS

CHAT_IN_TERMINAL = "console"
"""The transport whose chat shares a terminal with the logs: it logs at WARNING by default."""
COMMANDS = Registry("command", "botwerk.commands")
"""Commands the role packages add (``botwerk train ...`` comes from botwerk.workers)."""
T = TypeVar("T")
STORED = tuple(GOALS)
"""The demo's stored model kinds: `botwerk up` serves them through stand-ins that load them."""

NEEDS_BROKER = (
    "BOTWERK_AMQP_URL is not set: `botwerk {role}` runs over RabbitMQ. Start one "
    "(`rabbitmq-server -detached`), then "
    "export BOTWERK_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ - or try everything "
    "in one process, no broker needed, with `botwerk up`."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR  [env BOTWERK_LOG_LEVEL]"
)
@click.version_option(package_name="botwerk")
@click.pass_context
def main(ctx: click.Context, log_level: str | None) -> None:
    """Botwerk: chat platforms, bot logic and language models, joined by RabbitMQ.

    \b
    Try it in one process (no broker needed):
      botwerk up
    Run each role as its own process over RabbitMQ (scale by starting more):
      export BOTWERK_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/
      botwerk worker echo
      botwerk core demo
      botwerk transport console --bot demo

    Settings come from BOTWERK_* environment variables and ./botwerk.toml
    (or the file in BOTWERK_CONFIG); see the README for the list.
    """
    ctx.obj = {"log_level": log_level}


@main.command()
@click.option(
    "--bot",
    "bots",
    multiple=True,
    default=DEMO_BOTS,
    show_default=True,
    help="A bot (or a [bots.NAME] personality) to run; repeat for several. The console talks "
    "to the first.",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    default=DEMO_MODELS,
    show_default=True,
    help="A model to serve; repeat for several.",
)
@click.option("--transport", "kind", default="console", show_default=True, help="How to chat.")
@click.option(
    "--train-minutes",
    type=float,
    help="How long to go on training each demo model in the background, in all, across runs; "
    "0: only its first version  [env BOTWERK_DEMO_TRAIN_MINUTES; default: 15]",
)
@click.option(
    "--first-seconds",
    type=float,
    default=FIRST_S,
    show_default=True,
    help="Training time of a demo model's first version.",
)
@click.pass_obj
def up(obj: dict[str, Any], bots: tuple[str, ...], models: tuple[str, ...], kind: str,
       train_minutes: float | None, first_seconds: float) -> None:  # fmt: skip
    """Run a whole mesh in this process: model workers, the bots' cores and a transport.

    Uses RabbitMQ when BOTWERK_AMQP_URL is set, otherwise an in-process bus with the same
    semantics, so a fresh machine can chat at once. Bots whose models are ready answer at
    once. A demo model the store lacks is made in the background (word vectors imported in
    seconds; the bard and the chat model trained for --first-seconds each), and until then its
    bot says how far it is; then the bard and the chat model go on learning, and each better
    version is swapped in live: you are told when. With the console transport, type a message
    per line; `@annalogue ...` asks another bot, `/bot annalogue` switches to it. End of input
    (Ctrl-D) waits for the last replies and exits, so `printf 'hello\\n' | botwerk up` works
    in scripts (`botwerk models demo` first makes the models in the foreground). The
    [schedules.NAME] of botwerk.toml (or BOTWERK_SCHEDULES) run here too, posting into the
    transport; the bots' memory is BOTWERK_STATE_URL (default: a SQLite file here).
    """
    from botwerk.cores.bot import build_bot
    from botwerk.cores.runtime import Core
    from botwerk.transports.base import TransportRole
    from botwerk.workers.demo import plan
    from botwerk.workers.jobs.ticker import Ticker
    from botwerk.workers.runtime import Worker
    from botwerk.workers.school import School

    settings = load_settings(obj, "up", default_level="WARNING", demo_train_minutes=train_minutes)
    instances = [guard(partial(build_bot, settings, bot)) for bot in bots]  # before anything
    bus = (
        _bus(settings, "up", bots[0])
        if settings.amqp_url
        else MemoryBus(settings.max_message_bytes)
    )
    where = (
        f"RabbitMQ at {settings.amqp_url_redacted}"
        if settings.amqp_url
        else "in-process (set BOTWERK_AMQP_URL to use RabbitMQ)"
    )
    ticker = guard(lambda: Ticker(bus, settings))  # a bad [schedules.NAME]: refused at once
    click.echo(f"botwerk up: bus {where}; bots {', '.join(bots)}; models {', '.join(models)}; "
               f"transport {kind}; namespace {settings.namespace}; "
               f"schedules {ticker.summary()}", err=True)  # fmt: skip
    budget_s = settings.demo_train_minutes * 60
    lessons = guard(lambda: plan(settings, models, budget_s=budget_s))
    school = School(
        bus, settings, lessons, budget_s=budget_s, first_s=first_seconds,
        heard=partial(_tell, {name: _users(instances, name) for name in models}),
    )  # fmt: skip
    workers = [Worker(bus, settings, _served(settings, name, school)) for name in models]
    cores = [Core(bus, settings, instance) for instance in instances]
    transport = TransportRole(
        bus, settings, guard(lambda: _load(TRANSPORTS, kind)(settings, bots[0])), bots[0], bots
    )
    _run(run_roles(bus, [school, *workers, *cores, transport, ticker]))


def _served(settings: Settings, name: str, school: Any) -> Any:
    """The model to serve as ``name``: a stored kind starts as a stand-in, so the worker serves
    at once; it says "still learning" while the school makes its first version, else its
    stored version loads in the background (:mod:`botwerk.workers.learning`)."""
    from botwerk.workers.learning import Learning

    def kind() -> Any:
        return MODELS.load(name)  # on the stand-in's own thread: torch or gensim take seconds

    if name in school.progress:
        return Learning(kind, settings, name, school.progress[name])
    if name in STORED:  # following versions, loading the latest
        return Learning(kind, settings, name)
    return _model(settings, name)


def _users(bots: list[Any], model: str) -> str:
    """The bots that ask ``model`` (by their ``model`` option), for the user: ``billybard``."""
    using = [
        bot.name for bot in bots if getattr(getattr(bot, "config", None), "model", "") == model
    ]
    return " and ".join(using) or f"the {model} model"


def _tell(users: dict[str, str], news: Any) -> None:
    """Say once what the background training did: a first version, a better one, the end."""
    from botwerk.workers.demo import TRAINED, describe
    from botwerk.workers.school import Failed, Finished, Published

    if isinstance(news, Published):
        made = news.manifest
        who = users.get(made.name, made.name)
        figures = describe(made.name, made.metrics)
        if news.before is None and made.name in TRAINED:
            said = f"{who} is ready ({made.spec}: {figures}) and goes on learning meanwhile."
        elif news.before is None:
            said = f"{who} is ready ({made.spec}: {figures})."
        else:
            was = describe(made.name, news.before.metrics) or news.before.spec
            said = f"{who} learned more: now {made.spec} ({figures}; was {was})."
    elif isinstance(news, Finished):
        said = f"{users.get(news.kind, news.kind)} stops learning: {news.why}."
    elif isinstance(news, Failed):
        said = f"{users.get(news.kind, news.kind)} could not learn: {news.error}"
    else:
        return
    click.echo(f"botwerk: {said}", err=True)


@main.command()
@click.argument("model")
@click.option(
    "--model",
    "spec",
    metavar="NAME[@VERSION]",
    help="The stored model to load  [default: the served name, latest version]",
)
@click.option("--name", help="Serve under this name: queue {ns}.infer.<name>  [default: MODEL]")
@click.option("--max-batch", type=int, help="Most requests per batch  [env BOTWERK_MAX_BATCH]")
@click.option(
    "--max-wait-ms", type=float, help="Longest wait to fill a batch  [env BOTWERK_MAX_WAIT_MS]"
)
@click.pass_obj
def worker(obj: dict[str, Any], model: str, spec: str | None, name: str | None,
           max_batch: int | None, max_wait_ms: float | None) -> None:  # fmt: skip
    """Serve MODEL: load it once, keep it resident, answer {ns}.infer.<name> in batches.

    MODEL is a model kind (built in: echo, charrnn, word2vec, chat; others by entry point)
    or a `module:Class`. charrnn, word2vec and chat load NAME[@VERSION] from the model store
    (BOTWERK_MODELS), computing on BOTWERK_DEVICE (auto: the GPU when there is one). Start
    more workers of the same model to scale: they compete on one queue.

    \b
      botwerk worker charrnn --model bard@3      # queue {ns}.infer.charrnn
      botwerk worker word2vec --model news --name news
      botwerk worker chat --model comedy --name chat-comedy
    """
    from botwerk.workers.runtime import Worker

    settings = load_settings(obj, f"worker:{model}", max_batch=max_batch, max_wait_ms=max_wait_ms)
    instance = _model(settings, model, name, spec)
    bus = _bus(settings, "worker", instance.name)
    _run(run_roles(bus, [Worker(bus, settings, instance)]))


@main.command()
@click.argument("bot")
@click.pass_obj
def core(obj: dict[str, Any], bot: str) -> None:
    """Run BOT's logic: answer {ns}.core.<bot>, calling model workers as it needs.

    BOT is a bot kind (built in: annalogue, billybard, demo, moviebot; others by entry point),
    or a personality: a [bots.BOT] table in botwerk.toml whose `kind` names the bot to run under
    the name BOT, with that table's options. Start more cores of the same bot to scale: they
    compete on one queue. A core holds no model, so restarting one is instant.
    """
    from botwerk.cores.bot import build_bot
    from botwerk.cores.runtime import Core

    settings = load_settings(obj, f"core:{bot}")
    instance = guard(partial(build_bot, settings, bot))
    bus = _bus(settings, "core", bot)
    _run(run_roles(bus, [Core(bus, settings, instance)]))


@main.command()
@click.argument("kind", required=False)
@click.option("--bot", help="The bot this transport talks to; `a,b,c`: several, `a` by default.")
@click.option("--list", "list_kinds", is_flag=True, help="List the installed transports.")
@click.pass_obj
def transport(obj: dict[str, Any], kind: str | None, bot: str | None, list_kinds: bool) -> None:
    """Bridge a chat platform (KIND) to BOT: publish what users say, deliver what BOT answers.

    Transports come from Botwerk and from any installed package that registers one under the
    `botwerk.transports` entry point group; `--list` shows them. The console keeps its chat
    apart from logs: it logs to stderr at WARNING unless BOTWERK_LOG_LEVEL or
    `botwerk --log-level INFO transport console ...` asks for more.
    """
    from botwerk.transports.base import TransportRole

    if list_kinds:
        for name in TRANSPORTS.names():
            click.echo(f"{name}\t{TRANSPORTS.path(name)}")
        return
    if not kind or not bot:
        raise click.UsageError("give a transport and a bot: botwerk transport console --bot demo")
    quiet = "WARNING" if kind == CHAT_IN_TERMINAL else None  # chat lines, not log lines
    settings = load_settings(obj, f"transport:{kind}", default_level=quiet)
    bots = tuple(b.strip() for b in bot.split(",") if b.strip())
    instance = guard(lambda: _load(TRANSPORTS, kind)(settings, bots[0]))  # checks secrets
    bus = _bus(settings, "transport", kind)
    _run(run_roles(bus, [TransportRole(bus, settings, instance, bots[0], bots)]))


def _bus(settings: Settings, role: str, name: str) -> Bus:
    """The bus of ``role`` ``name`` (a bot, model or transport kind), as the dashboard names it."""
    from botwerk.infra.rabbit import RabbitBus

    if not settings.amqp_url:
        raise click.ClickException(NEEDS_BROKER.format(role=role))
    return RabbitBus(settings, role=role, name=name)


def _model(settings: Settings, kind: str, name: str | None = None, spec: str | None = None) -> Any:
    """A model object; ``spec`` (the stored model to load) only goes to kinds that store one."""
    cls = _load(MODELS, kind)
    served = name or kind.rpartition(":")[2].lower()
    return cls(settings, served, spec) if spec else cls(settings, served)


def _load(registry: Any, name: str) -> Any:
    return guard(lambda: registry.load(name))


def _run(main_coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.run(main_coroutine)
    except BotwerkError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        sys.exit(130)
    _leave_busy_threads()


def _leave_busy_threads(wait_s: float = 0.5) -> None:
    """Exit now, without joining threads still busy (a model load cut short by a signal).

    Python joins every worker thread at exit, so a model half loaded when SIGTERM came would
    keep the process alive until its load ends: minutes for a large model.
    """
    give_up = time.monotonic() + wait_s
    others = [t for t in threading.enumerate() if t is not threading.current_thread()]
    for thread in (t for t in others if not t.daemon):
        thread.join(max(0.0, give_up - time.monotonic()))
    busy = [t.name for t in others if t.is_alive() and not t.daemon]
    if busy:
        log = logging.getLogger("botwerk.process")
        log.warning("exiting without waiting for %s (still busy)", ", ".join(busy))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def add_commands(group: click.Group, registry: Registry = COMMANDS) -> None:
    """Add every command ``registry`` holds to ``group``; ``GROUP.NAME`` goes into GROUP."""
    for name in registry.names():  # sorted: a group comes before its commands
        *path, last = name.split(".")
        parent = group
        for step in path:
            found = parent.commands.get(step)
            if not isinstance(found, click.Group):
                raise BotwerkError(f"command {name!r}: no command group {step!r} to put it in")
            parent = found
        parent.add_command(registry.load(name), last)


add_commands(main)
