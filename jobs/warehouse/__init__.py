"""The warehouse: the one owner of where tables live and how they are read and written.

* :mod:`~jobs.warehouse.store`: :class:`~jobs.warehouse.store.Warehouse` (table and model
  paths, typed reads and writes, pending folders, run metrics, plays before a week, heard
  pairs, active listeners, fit stamps);
* :mod:`~jobs.warehouse.atomic`: staged writes, swaps, locks and JSON written atomically;
* :mod:`~jobs.warehouse.sets`: several tables published as one set (the ALS fit);
* :mod:`~jobs.warehouse.spark`: the Spark session a stage's entry point builds and passes in;
* :mod:`~jobs.warehouse.weeks`: ISO weeks, their cutoffs and shifts;
* :mod:`~jobs.warehouse.catalog`: the catalog (tracks, artists) and its checks;
* :mod:`~jobs.warehouse.raw_plays`, :mod:`~jobs.warehouse.raw_playlists`: the raw input
  readers (play logs in CSV, JSON lines and Parquet; user-made playlists);
* :mod:`~jobs.warehouse.saves`: the optional raw saves (tracks saved to a library), checked,
  de-duplicated and read back from the ``saves`` table;
* :mod:`~jobs.warehouse.quarantine`: the rules a raw play must pass and the reason code of each
  failure; :mod:`~jobs.warehouse.play_days`: ``plays`` published by day, only the changed days.

Table contracts (columns, types, writer, publish set) are in :mod:`schemas.tables`.
"""
