"""Word vectors: gensim word2vec, trained or imported, served memory-mapped."""
