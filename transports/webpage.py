"""The web transport's chat page: one HTML document with its CSS and JS inline.

>>> page = render_page("R&D chat", ("demo", "moviebot"), {"moviebot": ["comedy", "horror"]})
>>> page.startswith("<!doctype html>"), "<title>R&amp;D chat</title>" in page
(True, True)
>>> config = '{"bots": ["demo", "moviebot"], "genres": {"moviebot": ["comedy", "horror"]}}'
>>> f'<script id="config" type="application/json">{config}</script>' in page
True

No build step and no external assets (fonts, CDNs), so it works on a machine with no internet.
The page opens a WebSocket at ``/ws`` (one socket is one conversation), sends
``{"text", "bot", "genre"?}`` and shows each ``{"reply", "bot", "time", "error"?}`` it gets back;
an error reply is shown in red, never dropped. A bot picker appears when the server talks to
more than one bot, and a genre picker only while the chosen bot has genres. It fits a phone's
width (375 px): the text box shrinks, the Send button stays on screen. When the socket drops,
the page reconnects with backoff; the new socket is a new conversation. ``/?room=lobby``
opens ``/ws?room=lobby``: the page also shows the posts to the room ``#lobby``. Text is only
ever set with ``textContent``, so nothing a bot says is HTML.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}}</title>
<style>
  :root { color-scheme: light dark; --accent: #3b6fd8; --line: #8884; }
  [hidden] { display: none !important; }
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; height: 100vh; height: 100dvh;
         display: flex; flex-direction: column; }
  header, form { display: flex; gap: .6rem; align-items: center; padding: .6rem 1rem; }
  header { border-bottom: 1px solid var(--line); flex-wrap: wrap; }
  header h1 { font-size: 1.05rem; margin: 0; flex: 1 1 8rem; min-width: 0;
              overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  #state { font-size: .8rem; opacity: .7; }
  #log { flex: 1; overflow-y: auto; padding: 1rem; display: flex; flex-direction: column;
         gap: .5rem; }
  .msg { max-width: 75%; padding: .45rem .7rem; border-radius: .8rem; white-space: pre-wrap;
         overflow-wrap: anywhere; }
  .msg .meta { display: block; font-size: .72rem; opacity: .7; }
  .you { align-self: flex-end; background: var(--accent); color: #fff; }
  .bot { align-self: flex-start; background: #8882; }
  .bot.error { background: #d2403a22; border: 1px solid #d2403a; }
  form { border-top: 1px solid var(--line); }
  #text { flex: 1 1 auto; min-width: 0; width: 100%; }  /* an input's own width would overflow */
  #genre, button { flex: none; }
  select { max-width: 9rem; }
  input, select, button { font: inherit; padding: .4rem .6rem; }
  @media (max-width: 480px) {
    header, form { gap: .4rem; padding: .5rem; }
    .msg { max-width: 90%; }
    select { max-width: 6.5rem; }
  }
</style>
</head>
<body>
<header>
  <h1>{{title}}</h1>
  <label id="picker" hidden>bot <select id="bot"></select></label>
  <span id="state">connecting…</span>
</header>
<main id="log" aria-live="polite"></main>
<form id="form" autocomplete="off">
  <input id="text" placeholder="Say something" aria-label="message" autofocus>
  <select id="genre" aria-label="genre" hidden></select>
  <button id="send" disabled>Send</button>
</form>
<script id="config" type="application/json">{{config}}</script>
<script>
"use strict";
(() => {
  const config = JSON.parse(document.getElementById("config").textContent);
  const byId = (id) => document.getElementById(id);
  const log = byId("log"), text = byId("text"), genre = byId("genre"), bot = byId("bot");
  const button = byId("send"), state = byId("state");
  let socket = null, pause = 500;

  for (const name of config.bots) bot.add(new Option(name, name));
  byId("picker").hidden = config.bots.length < 2;

  function offerGenres() {  // only the chosen bot's genres; none: no genre box at all
    const genres = config.genres[bot.value] || [];
    genre.replaceChildren(new Option("any genre", ""), ...genres.map((g) => new Option(g, g)));
    genre.hidden = genres.length === 0;
  }
  bot.addEventListener("change", offerGenres);
  offerGenres();

  function show(kind, who, words, time) {
    const item = document.createElement("div"), meta = document.createElement("span");
    const body = document.createElement("span");
    item.className = "msg " + kind;
    meta.className = "meta";
    meta.textContent = who + " · " + new Date(time || Date.now()).toLocaleTimeString();
    body.className = "text";
    body.textContent = words;
    item.append(meta, body);
    log.append(item);
    log.scrollTop = log.scrollHeight;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const room = new URLSearchParams(location.search).get("room");
    const query = room ? "?room=" + encodeURIComponent(room) : "";
    socket = new WebSocket(scheme + location.host + "/ws" + query);
    socket.onopen = () => {
      pause = 500;
      button.disabled = false;
      state.textContent = "connected";
    };
    socket.onmessage = (event) => {
      const answer = JSON.parse(event.data);
      show(answer.error ? "bot error" : "bot", answer.bot || "server", answer.reply, answer.time);
    };
    socket.onclose = () => {
      button.disabled = true;
      state.textContent = "disconnected; reconnecting…";
      setTimeout(connect, pause);
      pause = Math.min(pause * 2, 10000);
    };
  }

  byId("form").addEventListener("submit", (event) => {
    event.preventDefault();
    const words = text.value.trim();
    if (!words || !socket || socket.readyState !== WebSocket.OPEN) return;
    const message = { text: words, bot: bot.value };
    if (!genre.hidden && genre.value) message.genre = genre.value;
    socket.send(JSON.stringify(message));
    show("you", "you → " + bot.value, words);
    text.value = "";
  });
  connect();
})();
</script>
</body>
</html>
"""


def render_page(
    title: str, bots: tuple[str, ...], genres: Mapping[str, list[str]] | None = None
) -> str:
    """The chat page for ``bots`` (the first is preselected), titled ``title``; ``genres``:
    the genres of each bot that has some."""
    data = {"bots": list(bots), "genres": dict(genres or {})}
    config = json.dumps(data).replace("<", "\\u003c")  # never ends the <script>
    return PAGE.replace("{{title}}", html.escape(title)).replace("{{config}}", config)
