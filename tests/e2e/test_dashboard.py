"""The RabbitMQ dashboard reads like a map of the mesh: what a person sees, in a real browser.

Two ``botwerk core demo`` processes compete on ``<ns>.core.demo`` of the session's throwaway
node with the management plugin (``managed_node``: the machine's broker holds every other
test's queues and connections). Debian's chromium, driven by Playwright, logs in to
RabbitMQ's own management UI (guest/guest), finds that queue on the
Queues tab with its two consumers, opens it and reads the consumer tags (role, bot, instance),
then finds each core's connection on the Connections tab by its name,
``botwerk core demo @<host> pid <pid>``. The screenshots land in ``artifacts/``
(``dashboard-queues.png``, ``dashboard-queue.png``, ``dashboard-connections.png``);
``docs/img/`` holds copies for ``docs/operations.md``.

The UI is a single-page app that redraws every 5 s from statistics that lag (a second on that
node, 5 s by default), so every step waits on what it needs to see (Playwright's ``expect``),
never for a fixed time.
"""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from botwerk.infra import topology
from botwerk.testing import admin
from tests.support.broker import ThrowawayBroker
from tests.support.processes import Processes

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
BOT = "demo"
STATS_LAG_MS = 15_000  # statistics every second there, a redraw every 5 s, on 2 busy cores


def test_the_dashboard_shows_a_bots_competing_cores(
    managed_node: ThrowawayBroker, namespace: str, tmp_path: Path, chromium: Browser
) -> None:
    env = {"BOTWERK_AMQP_URL": managed_node.url, "BOTWERK_NAMESPACE": namespace}
    procs = Processes(env, tmp_path)
    try:
        cores = [procs.start("core", BOT) for _ in range(2)]
        queue = topology.Names(namespace).core_queue(BOT)
        admin.wait_for_consumers(managed_node.url, queue, count=2)
        page = logged_in(chromium, managed_node)
        walk_the_dashboard(page, namespace, queue, cores)
        page.close()
    finally:
        procs.stop_all()


def walk_the_dashboard(
    page: Page, namespace: str, queue: str, cores: list[subprocess.Popen[str]]
) -> None:
    open_queues(page, namespace)
    link = page.get_by_role("link", name=queue, exact=True)
    row = page.locator("table.list tbody tr", has=link)
    expect(cell(page, row, "Consumers")).to_have_text("2", timeout=STATS_LAG_MS)
    snap(page, "dashboard-queues.png")

    link.click()
    heading = page.locator("h2", has_text="Consumers (")
    expect(heading).to_have_text("Consumers (2)", timeout=STATS_LAG_MS)
    heading.click()  # the section starts folded
    table = page.locator("table.list", has=page.locator("th", has_text="Consumer tag"))
    tags = table.locator(":scope > tbody > tr > td:nth-child(2)")
    expect(tags).to_have_count(2)
    said = tags.all_inner_texts()
    instances = {match[1] for tag in said if (match := re.fullmatch(rf"core {BOT} (\S+) \d+", tag))}
    assert len(instances) == 2, f"two cores, each tagged with its own instance: {said}"
    snap(page, "dashboard-queue.png", down_to=table)

    page.locator("#tabs").get_by_role("link", name="Connections").click()
    for core in cores:
        name = f"botwerk core {BOT} @{socket.gethostname()} pid {core.pid}"
        expect(page.get_by_text(name, exact=True)).to_be_visible(timeout=STATS_LAG_MS)
    snap(page, "dashboard-connections.png")


def logged_in(chromium: Browser, node: ThrowawayBroker) -> Page:
    """A page of ``node``'s management UI, logged in as guest."""
    page = chromium.new_page(viewport={"width": 1280, "height": 800})  # figures under ~100 KB
    page.goto(f"http://127.0.0.1:{node.management_port}/")
    page.fill("input[name=username]", "guest")
    page.fill("input[name=password]", "guest")
    page.click("input[type=submit][value=Login]")
    expect(page.locator("#tabs")).to_be_visible()
    return page


def open_queues(page: Page, namespace: str) -> None:
    """The Queues tab, filtered to ``namespace``, with the consumer count column switched on."""
    page.locator("#tabs").get_by_role("link", name="Queues").click()
    page.fill("#queues-name", namespace)
    page.press("#queues-name", "Enter")
    page.click(".popup-options-link[for=queues]")
    page.check("#checkbox-queues-consumers")  # "Consumer count" is off by default
    # The popup is taller than the window and fixed in place: its Close link is out of reach.
    page.locator(".form-popup-options span", has_text="Close").dispatch_event("click")


def cell(page: Page, row: Locator, column: str) -> Locator:
    """The cell of ``row`` under the header ``column`` (the second header row names each one)."""
    headers = page.locator("table.list thead tr").nth(1).locator("th").all_inner_texts()
    return row.locator("td").nth([h.strip() for h in headers].index(column))


def snap(page: Page, name: str, down_to: Locator | None = None) -> None:
    """Save a screenshot in ``artifacts/`` once jQuery's folds and fades are over; with
    ``down_to``, the whole page from the top to just below that element."""
    page.wait_for_function("() => jQuery(':animated').length === 0")
    ARTIFACTS.mkdir(exist_ok=True)
    path = str(ARTIFACTS / name)
    box = down_to.bounding_box() if down_to is not None else None
    if box is None:
        page.screenshot(path=path)
        return
    size = page.viewport_size or {"width": 1280}
    clip = {"x": 0, "y": 0, "width": size["width"], "height": box["y"] + box["height"] + 16}
    page.screenshot(path=path, full_page=True, clip=clip)  # type: ignore[arg-type]
