"""The conversational model: a seq2seq LSTM with attention, trained on dialogs, tuned by RL."""
