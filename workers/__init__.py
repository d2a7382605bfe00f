"""The worker role: the batching runtime, the model store, and one folder per model kind.

Every kind is ``workers/<kind>/`` with the same files (``config.py``, ``model.py``,
``train.py``, ``serve.py``, ``commands.py``); what they share lives once beside them
(``config``, ``options``, ``modelfiles``, ``checkpoints``, ``epochs``, ``device``, ``errors``,
``store``, ``corpora/``). docs/models.md walks through adding a kind.
"""
