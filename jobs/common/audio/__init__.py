"""Audio library shared by the audio jobs (``jobs.audio_features``, ``jobs.audio_cnn``); reads and writes no tables.

* :mod:`~jobs.common.audio.spectrogram`: clip loading, log-mel spectrograms, padding to
  the window, the stored encoding and the :class:`~jobs.common.audio.spectrogram.Settings`
  the spectrogram depends on;
* :mod:`~jobs.common.audio.attributes`: tempo, key, mode, loudness and meter estimators;
* :mod:`~jobs.common.audio.workers`: one clip's work (never raises) and the process pool
  that survives crashed and stuck workers;
* :mod:`~jobs.common.audio.cnn`: the Keras model, crops, training and prediction;
* :mod:`~jobs.common.audio.cold_start`: the cold-start evaluation (ALS refit without the
  held-out tracks, CNN on the refit, ranking metrics).
"""
