"""Botwerk: chat platforms, bot logic and language models, joined by RabbitMQ.

The installed distribution is this one package. Its layers, each importing only the ones
before it (import-linter checks it, see ``pyproject.toml``):

- :mod:`botwerk.schemas`: the wire types and every model kind's inputs and outputs.
- :mod:`botwerk.infra`: settings, the bus contract and both buses, topology, RPC, logs.
- :mod:`botwerk.cores`, :mod:`botwerk.transports`, :mod:`botwerk.workers`: bots, platform
  bridges and models; none imports another.
- :mod:`botwerk.cli` and :mod:`botwerk.testing`: the command line and the pytest plugin, on top.
"""
