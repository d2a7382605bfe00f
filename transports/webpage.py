"""The web transport's chat page: one HTML document with its CSS and JS inline.

>>> page = render_page("R&D chat", ("demo", "moviebot"))
>>> page.startswith("<!doctype html>"), "<title>R&amp;D chat</title>" in page
(True, True)
>>> '<script id="config" type="application/json">{"bots": ["demo", "moviebot"]}' in page
True

No build step and no external assets (fonts, CDNs), so it works on a machine with no internet.
The page opens a WebSocket at ``/ws`` (one socket is one conversation), sends
``{"text", "bot", "genre"?}`` and shows each ``{"reply", "bot", "time", "error"?}`` it gets back;
an error reply is shown in red, never dropped. A bot picker appears when the server talks to
more than one bot. When the socket drops, the page reconnects with backoff; the new socket is a
new conversation. Text is only ever set with ``textContent``, so nothing a bot says is HTML.
"""

from __future__ import annotations

import html
import json

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}}</title>
<style>
  :root { color-scheme: light dark; --accent: #3b6fd8; --line: #8884; }
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; height: 100vh;
         display: flex; flex-direction: column; }
  header, form { display: flex; gap: .6rem; align-items: center; padding: .6rem 1rem; }
  header { border-bottom: 1px solid var(--line); }
  header h1 { font-size: 1.05rem; margin: 0; flex: 1; }
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
  #text { flex: 1; }
  input, select, button { font: inherit; padding: .4rem .6rem; }
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
  <input id="genre" placeholder="genre (optional)" aria-label="genre" size="14">
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
    socket = new WebSocket(scheme + location.host + "/ws");
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
    if (genre.value.trim()) message.genre = genre.value.trim();
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


def render_page(title: str, bots: tuple[str, ...]) -> str:
    """The chat page for ``bots`` (the first is preselected), titled ``title``."""
    config = json.dumps({"bots": list(bots)}).replace("<", "\\u003c")  # never ends the <script>
    return PAGE.replace("{{title}}", html.escape(title)).replace("{{config}}", config)
