"""Taste in time: listening sessions, word2vec song vectors, the RNN taste vector and Annoy.

Following De Boom et al. (2017), "Large-scale user modeling with recurrent neural networks
for music discovery": songs get vectors from word2vec (CBOW with negative sampling) over
ordered documents of songs, an RNN reads the last n songs a listener played and predicts
the next song's vector (their *taste vector*), and the songs nearest it come from Annoy.

* :mod:`~jobs.sequence.sessions`: plays cut into listening sessions (a pause longer
  than ``sequence.session_gap_minutes`` splits them; skips kept but not listens), the top N
  songs, and the word2vec documents (sessions plus user-made playlists). Pure.
* :mod:`~jobs.sequence.word2vec`: gensim's ``Word2Vec`` trained deterministically.
* :mod:`~jobs.sequence.taste`: the Keras GRU, its (history, next song) pairs, its
  hold-out evaluation beside naive references, and the taste vectors.
* :mod:`~jobs.sequence.ann`: the angular Annoy index (build, save, load, query).
* :mod:`~jobs.sequence.spark_engine`: the same sessions, documents and listens cut on Spark
  (``sequence.engine: spark``).

The jobs are :mod:`jobs.song_vectors` and :mod:`jobs.taste_vectors`; the blend's
``sequence`` source is :mod:`jobs.sequence.candidates`. User-made playlists are read by
:mod:`jobs.warehouse.raw_playlists`.
"""
