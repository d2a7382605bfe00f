"""Corpora, read the same way by every model kind: one module per kind of source.

- :mod:`.text`: plain text and tokenised sentences (char-RNN, word2vec)
- :mod:`.wiki`: Wikipedia XML dumps to plain text
- :mod:`.dialogs`: dialogs and their prompt/reply pairs, genres, a stable split (chat)
- :mod:`.chatterbot`, :mod:`.cornell`: the two dialog readers
- :mod:`.sources`: any dialog source, by name or path
"""
