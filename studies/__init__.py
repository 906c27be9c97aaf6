"""Quality studies: how good a setting or a source is, beside naive references, with intervals.

Speed and memory benchmarks are in ``bench/``; product code (``jobs/``) imports neither.

* :mod:`studies.blend_setting`, :mod:`studies.sequence_setting`: one ``merge`` or ``sequence``
  setting by value, chosen on earlier weeks and scored on later ones;
* :mod:`studies.rolling_eval`: ``make eval-real``, the weekly pipeline on real timestamped data
  (MovieLens) against four references;
* :mod:`studies.lastfm_als`: ``make lastfm``, ALS against most popular and item-kNN on Last.fm 2k;
* :mod:`studies.real_audio`: ``make bench-audio``, the audio attributes on real annotated recordings;
* :mod:`studies.world_leakage`: how easily the generated world hands its sources the answer.
"""
