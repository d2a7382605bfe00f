"""The trivial model kind: answers each text with itself, to prove the path end to end."""
