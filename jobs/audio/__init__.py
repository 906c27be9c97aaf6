"""Audio library shared by the audio jobs (``jobs.audio_features``, ``jobs.audio_cnn``); reads and writes no tables.

* :mod:`~jobs.audio.spectrogram`: clip loading, log-mel spectrograms, padding to
  the window, the stored encoding and the :class:`~jobs.audio.spectrogram.Settings`
  the spectrogram depends on;
* :mod:`~jobs.audio.attributes`: tempo, key, mode, loudness and meter estimators;
* :mod:`~jobs.audio.workers`: one clip's work (never raises) and the process pool
  that survives crashed and stuck workers;
* :mod:`~jobs.audio.cnn`: the Keras model, crops, training and prediction;
* :mod:`~jobs.audio.cold_start`: the cold-start evaluation (ALS refit without the
  held-out tracks, CNN on the refit, ranking metrics);
* :mod:`~jobs.audio.checks`: attribute accuracy against known answers, audio paths inside the data root.
"""
