"""Bot logic: each bot a plain class whose handlers answer messages, calling models by name.

A core holds no model; bots are registered under the ``botwerk.bots`` entry point group.
"""

DEMO_BOTS = ("billybard", "annalogue", "moviebot", "demo")
"""The bots ``botwerk up`` runs when none is named; the console talks to the first."""
