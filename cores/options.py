"""Options a user puts first in a message, as ``key=value`` words, checked against rules.

>>> OPTIONS = Options(
...     {"temp": number("temperature", float, 0, 5, "a number above 0 and at most 5", above=True)},
...     aliases={"temperature": "temp"},
...     unknown="I don't know the option {key!r}.",
...     bad="{key} must be {rule}; you wrote {value!r}.",
... )
>>> OPTIONS.parse("temp=1.2 Once upon a time")
({'temperature': 1.2}, 'Once upon a time')
>>> OPTIONS.parse("temp=9 hi")
Traceback (most recent call last):
botwerk.cores.options.OptionError: temp must be a number above 0 and at most 5; you wrote '9'.

A bot keeps its sentences (``unknown``, ``bad``) in its own strings block and its defaults in
a config struct whose ``__post_init__`` calls :meth:`Options.check`, so a value in
botwerk.toml obeys the same rules as one in a message.

A bot that keeps a user's options (:meth:`Options.remembered`) applies them to every later
message of that user until changed: ``await OPTIONS.remembered(ctx.user_memory, changes)``.

Limits: only leading words that look like ``key=value`` are options (``To be temp=3`` is all
text); a value has no spaces; a text that starts with such a word (``x=1 is...``) needs a
leading option-free word, or it is read as an unknown option.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from botwerk.infra.state import Memory

OPTION = re.compile(r"\s*([A-Za-z_]+)=(\S*)(?:\s+|$)")
KEPT = "options"  # the user_memory key where a user's options are kept
REMEMBER_S = 90 * 24 * 3600.0  # a user's options, unused this long, are forgotten


class OptionError(ValueError):
    """An option in a message that cannot be used; its text is the sentence for the user."""


@dataclass(frozen=True)
class Rule:
    """One option: the config field it sets, how to read its text, what it allows in words."""

    field: str
    read: Callable[[str], Any]  # raises ValueError on text it cannot read
    allows: Callable[[Any], bool]
    words: str  # "a whole number from 1 to 2000": completes "<option> must be ..."


def number(
    field: str, kind: type[int] | type[float], low: float, high: float, words: str, *,
    above: bool = False,
) -> Rule:  # fmt: skip
    """A number from ``low`` (or ``above`` it) to ``high``; never NaN or infinite."""

    def allows(value: Any) -> bool:
        if not isinstance(value, int | float) or not math.isfinite(value):
            return False
        return (value > low if above else value >= low) and value <= high

    return Rule(field, kind, allows, words)


def choice(field: str, choices: tuple[str, ...], words: str) -> Rule:
    """One of ``choices``, in any case."""
    return Rule(field, str.lower, lambda value: value in choices, words)


@dataclass(frozen=True)
class Options:
    """A bot's options: rules by option name, other names for them, and its two sentences."""

    rules: dict[str, Rule]
    aliases: dict[str, str] = field(default_factory=dict)
    unknown: str = "I don't know the option {key!r}."  # {key}: as the user wrote it
    bad: str = "{key} must be {rule}; you wrote {value!r}."  # {key}: the option's own name

    def parse(self, text: str) -> tuple[dict[str, Any], str]:
        """The leading options of ``text`` as {config field: value}, and the rest of the text.

        Raises :class:`OptionError` with the bot's sentence for an unknown option or a bad value.
        """
        changes: dict[str, Any] = {}
        position = 0
        while match := OPTION.match(text, position):
            key, value = match.group(1).lower(), match.group(2)
            option = self.aliases.get(key, key)
            if option not in self.rules:
                raise OptionError(self.unknown.format(key=key))
            rule = self.rules[option]
            changes[rule.field] = self._read(option, rule, value)
            position = match.end()
        return changes, text[position:].strip()

    def check(self, config: msgspec.Struct) -> None:
        """ValueError naming the first field of ``config`` that breaks its rule.

        Rules for fields ``config`` lacks (options only a message can give) are skipped.
        """
        for rule in self.rules.values():
            if rule.field in config.__struct_fields__ and not rule.allows(
                getattr(config, rule.field)
            ):
                raise ValueError(f"{rule.field} must be {rule.words}; fix it or remove it")

    def allowed(self, stored: Any) -> dict[str, Any]:
        """The entries of ``stored`` (options kept in a store) that still obey a rule."""
        if not isinstance(stored, dict):
            return {}
        rules = {rule.field: rule for rule in self.rules.values()}
        return {k: v for k, v in stored.items() if k in rules and rules[k].allows(v)}

    async def remembered(
        self, memory: Memory, changes: dict[str, Any], ttl_s: float = REMEMBER_S
    ) -> dict[str, Any]:
        """The options kept in ``memory`` (a user's) with ``changes`` on top, kept from now on.

        A user who once writes ``temp=0.5`` gets 0.5 until they write another ``temp``; what
        no longer obeys the rules (a bound tightened since) is dropped on reading.
        """
        if not changes:
            return self.allowed(await memory.get(KEPT))
        merged = await memory.update(KEPT, lambda old: {**self.allowed(old), **changes}, ttl_s)
        return dict(merged)

    def _read(self, option: str, rule: Rule, value: str) -> Any:
        bad = OptionError(self.bad.format(key=option, rule=rule.words, value=value))
        try:
            read = rule.read(value)
        except ValueError:
            raise bad from None
        if not rule.allows(read):
            raise bad
        return read
