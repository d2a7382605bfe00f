"""The core gives every message the bots' state store: opened at start, shared, closed at stop."""

from __future__ import annotations

from botwerk.cores.bot import Bot, Context, command
from botwerk.cores.runtime import Core
from botwerk.infra.memory import MemoryBus
from botwerk.infra.settings import Settings
from botwerk.infra.state import MemoryStore
from botwerk.testing import ChatClient
from botwerk.testing.canned import context


class Counter(Bot):
    """Counts what each user asked, in the user's memory."""

    name = "counter"

    @command("count", help="how many times you asked")
    async def count(self, ctx: Context) -> str:
        n = await ctx.user_memory.update("asked", lambda n: (n or 0) + 1)
        return f"You asked {n} times."


async def test_competing_and_restarted_cores_count_on_one_store(settings, tmp_path):
    """Two cores of one bot and a restarted one see one count: the state is in the store of
    BOTWERK_STATE_URL (a SQLite file here), not in a core."""
    state = settings.model_copy(update={"state_url": f"sqlite:///{tmp_path / 'state.db'}"})
    bus = MemoryBus(state.max_message_bytes)
    await bus.start()
    cores = [Core(bus, state.model_copy(update={"instance": f"c{i}"}), Counter(state))
             for i in range(2)]  # fmt: skip
    for core in cores:
        await core.start()
    async with ChatClient(bus, state, bot="counter") as chat:
        answers = [(await chat.ask("count")).text for _ in range(4)]
        for core in cores:
            await core.stop()
        assert all(core.store is None for core in cores)  # each closed the store it opened
        again = Core(bus, state, Counter(state))
        await again.start()
        answers.append((await chat.ask("count")).text)
        await again.stop()
    await bus.close()
    assert answers == [f"You asked {n} times." for n in range(1, 6)]
    assert (tmp_path / "state.db").exists()


async def test_a_core_given_a_store_uses_it_and_leaves_it_open(settings):
    store = MemoryStore(settings.namespace)
    bus = MemoryBus(settings.max_message_bytes)
    await bus.start()
    core = Core(bus, settings, Counter(settings), store=store)
    await core.start()
    async with ChatClient(bus, settings, bot="counter") as chat:
        assert (await chat.ask("count")).text == "You asked 1 times."
    await core.stop()
    await bus.close()
    assert core.store is store
    assert await store.get("counter:user:test:tester:asked") == 1


async def test_a_context_without_a_store_still_remembers_within_itself():
    """Unit tests build contexts with no core: memory works, and nothing leaks between them."""
    one, two = context("counter", "count"), context("counter", "count")
    assert await Counter(Settings.load(namespace="unit")).count(one) == "You asked 1 times."
    assert await one.user_memory.get("asked") == 1
    assert await two.user_memory.get("asked") is None
