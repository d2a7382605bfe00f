"""The character-level language model: an LSTM that continues text, trained by TBPTT."""
