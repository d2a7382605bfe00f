"""The project's own fixtures (the shipped ones come from the botwerk pytest plugin)."""

pytest_plugins = ["tests.support.plugin"]
