"""The pipeline's tables: columns, types, nullability and one line of meaning each.

Types are written in a small vocabulary (``string``, ``int32``, ``int64``, ``float32``,
``float64``, ``bool``, ``date``, ``timestamp`` (UTC, microseconds), ``list<float32>``, ``list<string>``, ``binary``)
and mapped to Arrow by :func:`arrow_schema` and to Spark by :func:`spark_schema`, so a
change of contract is one edit here. Partition columns are part of the contract too:
they are listed in ``partition_by`` and live in the directory names, not in the files.

Each warehouse table also names, once, the job that writes it (``writer``: named in the
error when a reader finds it missing) and, where it applies, the set it is published with
(``publish_set``: the tables one job computes together and swaps in as one, e.g. ALS's
``als_fit``) or the set it is computed from (``built_from``: its partitions carry that
set's fit stamp, and readers refuse a partition of another fit), and the other tables
of the week it is computed from (``made_from``: its partitions record the content
digest of those partitions as they were read, and readers refuse it once one of them
has been rewritten with other contents). :data:`SETS`, :data:`DERIVED`, :data:`MADE_FROM`
and :data:`WRITERS` are read off the contracts.

Print every contract with ``python -m schemas.tables``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    doc: str


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...] = ()
    writer: str = ""  # the job that writes it ("" for an input contract)
    publish_set: str = ""  # published together with the other tables of this set
    built_from: str = ""  # computed from this set's tables: stamped with the fit it came from
    made_from: tuple[str, ...] = ()  # computed from these tables' partitions of the week: their digests recorded

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def data_columns(self) -> list[Column]:
        """Columns stored inside the files (partition columns live in the path)."""
        return [c for c in self.columns if c.name not in self.partition_by]


def _t(
    name: str,
    doc: str,
    *cols: tuple[str, str, bool, str],
    partition_by: tuple[str, ...] = (),
    writer: str = "",
    publish_set: str = "",
    built_from: str = "",
    made_from: tuple[str, ...] = (),
) -> Table:
    return Table(name, doc, tuple(Column(*c) for c in cols), partition_by, writer, publish_set, built_from, made_from)


TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        _t(
            "raw_plays",
            "Input contract for raw/plays/*.csv|.jsonl|.json|.parquet (optionally .gz); every field arrives as text.",
            ("user_id", "string", True, "listener id, opaque"),
            ("track_id", "string", True, "track id, must exist in the catalog"),
            ("played_at", "string", True, "when the play started: ISO-8601 (UTC if no offset) or epoch milliseconds"),
            ("ms_played", "string", True, "milliseconds listened, a non-negative integer"),
            (
                "context",
                "string",
                True,
                "optional column: where the play came from, a short lower-case token (e.g. discover_weekly); "
                "missing or empty = none",
            ),
        ),
        _t(
            "raw_saves",
            "Optional input contract for raw/saves/*.csv|.jsonl|.json (optionally .gz): tracks listeners saved "
            "to their library; every field arrives as text.",
            ("user_id", "string", True, "listener id, opaque"),
            ("track_id", "string", True, "track id, must exist in the catalog"),
            ("saved_at", "string", True, "when it was saved: ISO-8601 (UTC if no offset) or epoch milliseconds"),
        ),
        _t(
            "tracks",
            "Input contract for catalog/tracks.*: one row per track.",
            ("track_id", "string", False, "track id"),
            ("title", "string", False, "song title"),
            ("artist_id", "string", False, "performing artist, a key of artists"),
            ("album", "string", True, "album title"),
            ("release_date", "date", True, "first release date"),
            ("duration_ms", "int64", True, "track length in milliseconds"),
            ("audio_path", "string", True, "audio file, relative to the data root; empty when there is no audio"),
        ),
        _t(
            "artists",
            "Input contract for catalog/artists.*: one row per artist.",
            ("artist_id", "string", False, "artist id"),
            ("name", "string", False, "display name"),
        ),
        _t(
            "raw_playlists",
            "Optional input contract for raw/playlists/*.csv|.jsonl|.parquet: user-made playlists, one row per song.",
            ("playlist_id", "string", False, "playlist id, opaque"),
            ("owner", "string", True, "who made it (a listener id or any name); not used to recommend"),
            ("position", "int64", False, "the song's place in the playlist, 1-based (the order word2vec reads)"),
            ("track_id", "string", False, "track id; ids not in the catalog are dropped and counted"),
        ),
        _t(
            "plays",
            "Validated, de-duplicated play events, partitioned by UTC day.",
            ("user_id", "string", False, "listener id"),
            ("track_id", "string", False, "track id, present in the catalog"),
            ("played_at", "timestamp", False, "when the play started, UTC"),
            ("ms_played", "int64", False, "milliseconds listened"),
            (
                "context",
                "string",
                True,
                "where the play came from (a schemas.vocab.PLAY_CONTEXTS value or another "
                "token the log gave); null when the log does not say",
            ),
            ("day", "date", False, "UTC day of played_at (partition)"),
            partition_by=("day",),
            writer="ingest",
        ),
        _t(
            "saves",
            "Every valid save before the run week's cutoff, one row per (listener, track): the first save.",
            ("user_id", "string", False, "listener id"),
            ("track_id", "string", False, "track id, present in the catalog"),
            ("saved_at", "timestamp", False, "when the listener first saved the track, UTC"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="ingest",
        ),
        _t(
            "quarantine",
            "Raw rows (plays and saves) that failed validation, with where they came from and why; one partition "
            "per run week.",
            ("source_file", "string", False, "file the row was read from"),
            ("line", "int64", True, "1-based line (CSV/JSON lines, header included) or row (Parquet) in that file"),
            ("reason", "string", False, "a schemas.vocab.QUARANTINE_REASONS value, e.g. bad_played_at"),
            ("raw", "string", True, "the row as read, for inspection and replay"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="ingest",
        ),
        _t(
            "play_counts",
            "Per listener and track, plays in the ALS window before the run week (skips excluded).",
            ("user_id", "string", False, "listener id"),
            ("track_id", "string", False, "track id"),
            ("plays", "int64", False, "counted plays (ms_played >= als.min_ms_played) in the window"),
            ("weight", "float64", False, "plays with recency decay applied (equals plays when decay is off)"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="als",
            publish_set="als_fit",
        ),
        _t(
            "user_factors",
            "ALS latent vectors of listeners, fitted on the window before the run week.",
            ("user_id", "string", False, "listener id"),
            ("vector", "list<float32>", False, "latent vector, length als.rank"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="als",
            publish_set="als_fit",
        ),
        _t(
            "item_factors",
            "ALS latent vectors of tracks, fitted on the window before the run week.",
            ("track_id", "string", False, "track id"),
            ("vector", "list<float32>", False, "latent vector, length als.rank"),
            ("plays", "int64", False, "counted plays of the track in the window"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="als",
            publish_set="als_fit",
        ),
        _t(
            "als_metrics",
            "Offline metrics of ALS and baselines on the holdout of the last week's first-time plays.",
            ("model", "string", False, "als, most_popular or most_popular_recent"),
            ("metric", "string", False, "precision@k, recall@k, ndcg@k, mean_percentile_rank, users, ..."),
            ("value", "float64", False, "metric value"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="als",
            publish_set="als_fit",
        ),
        _t(
            "spectrograms",
            "Log-mel spectrogram of each track's clip (the middle audio.window_seconds), for the audio CNN.",
            ("track_id", "string", False, "track id"),
            ("n_mels", "int32", False, "mel bands (rows)"),
            (
                "n_frames",
                "int32",
                False,
                "frames (columns): always the whole window, 1 + window samples // audio.hop_length",
            ),
            ("valid_frames", "int32", False, "frames of real audio; the rest, to n_frames, is padding at -100 dB"),
            ("mel", "binary", False, "dB values as little-endian float16, row-major (n_mels, n_frames)"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="audio_features",
        ),
        _t(
            "audio_attributes",
            "Musical attributes estimated from each track's clip, each with a confidence in 0..1.",
            ("track_id", "string", False, "track id"),
            ("tempo_bpm", "float64", False, "tempo in beats per minute"),
            (
                "tempo_confidence",
                "float64",
                False,
                "P(within 4%): the prior-weighted salience margin, logistic map fitted by CV",
            ),
            ("key", "string", False, "tonic pitch class, C..B"),
            (
                "key_confidence",
                "float64",
                False,
                "P(key and mode right): profile-correlation margin, logistic map fitted by CV",
            ),
            ("mode", "string", False, "major or minor"),
            (
                "mode_confidence",
                "float64",
                False,
                "P(mode right): margin over the other mode, logistic map fitted by CV",
            ),
            ("loudness_lufs", "float64", False, "integrated loudness, ITU-R BS.1770 LUFS (was loudness_db, RMS dBFS)"),
            ("loudness_confidence", "float64", False, "1 - IQR of frame levels / 30 dB, scaled down near silence"),
            ("time_signature", "int32", False, "beats per bar: 3 or 4"),
            (
                "time_signature_confidence",
                "float64",
                False,
                "P(meter right): 3-vs-4 cue margin, logistic map fitted by CV",
            ),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="audio_features",
        ),
        _t(
            "audio_rejects",
            "Tracks whose audio could not be used, with the reason; they get no audio vector.",
            ("track_id", "string", False, "track id"),
            ("audio_path", "string", True, "the file that was tried (null when the catalog has none)"),
            (
                "reason",
                "string",
                False,
                "a schemas.vocab.AUDIO_REJECT_REASONS value, e.g. missing_file, too_short, failed:<error>",
            ),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="audio_features",
        ),
        _t(
            "track_vectors",
            "One latent vector per track in the ALS space: the ALS vector where the track has plays, else the audio CNN's.",
            ("track_id", "string", False, "track id"),
            (
                "vector",
                "list<float32>",
                False,
                "latent vector, length als.rank; audio vectors scaled to the median ALS norm",
            ),
            ("source", "string", False, "als or audio"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="audio_cnn infer",
            built_from="als_fit",
            made_from=("spectrograms",),
        ),
        _t(
            "audio_vectors",
            "The audio CNN's prediction for every track with audio, played or not, scaled to the median ALS norm.",
            ("track_id", "string", False, "track id"),
            ("vector", "list<float32>", False, "predicted latent vector, length als.rank"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="audio_cnn infer",
            built_from="als_fit",
            made_from=("spectrograms",),
        ),
        _t(
            "song_vectors",
            "word2vec (CBOW, negative sampling) vectors of the most played songs, from sessions and playlists "
            "before the week; the partition also holds the Annoy index over them (_annoy.ann, _annoy.json).",
            ("track_id", "string", False, "track id; row i is item i of the Annoy index (sorted by track_id)"),
            ("vector", "list<float32>", False, "song vector, length sequence.dimension"),
            ("count", "int64", False, "times the song appears in the training documents"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="song_vectors",
        ),
        _t(
            "taste_vectors",
            "Each active listener's taste vector at the week's cutoff: the RNN's prediction of their next song's vector.",
            ("user_id", "string", False, "listener id"),
            ("vector", "list<float32>", False, "predicted song vector (song_vectors space), length sequence.dimension"),
            ("recent", "list<string>", False, "the songs it was predicted from, oldest first (the latest n listens)"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="taste_vectors",
            made_from=("song_vectors",),
        ),
        _t(
            "taste_clusters",
            "Each listener's recent tracks clustered by their audio vectors (how they sound): one row per cluster.",
            ("user_id", "string", False, "listener id"),
            ("cluster", "int32", False, "0..clusters-1, numbered by share of plays (0 = the largest)"),
            ("clusters", "int32", False, "how many clusters the listener's tracks were found to form (k)"),
            (
                "share",
                "float64",
                False,
                "the cluster's share of the listener's recent counted plays on tracks with audio",
            ),
            ("plays", "int64", False, "recent counted plays of the cluster's tracks"),
            ("tracks", "int32", False, "distinct tracks in the cluster"),
            ("top_track_id", "string", False, "the cluster's most played track (ties by id)"),
            ("centroid", "list<float32>", False, "unit-length play-weighted mean direction of its audio vectors"),
            ("silhouette", "float64", True, "mean silhouette of the listener's chosen k; null when k = 1"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="taste_clusters",
            built_from="als_fit",
        ),
        _t(
            "offline_eval",
            "Playlists built from data before the week, scored against the week's first-time plays.",
            ("model", "string", False, "blend, als, audio, culture, most_popular or most_popular_recent"),
            ("metric", "string", False, "precision@k, recall@k, ndcg@k, mean_percentile_rank, coverage, ..."),
            ("value", "float64", False, "metric value"),
            ("week", "string", False, "the evaluated week (partition)"),
            partition_by=("week",),
            writer="evaluate",
        ),
        _t(
            "pages",
            "Every URL the crawler tried in the run week, with its outcome; text only for usable pages.",
            ("url", "string", False, "normalised URL as queued"),
            ("final_url", "string", True, "URL after redirects"),
            ("status", "int32", True, "HTTP status (200 for a file read); null when no response"),
            ("fetched_at", "timestamp", True, "when it was fetched (null when it was not)"),
            ("content_type", "string", True, "media type of the response"),
            ("title", "string", True, "HTML title"),
            ("text", "string", True, "main text, boilerplate removed; null unless outcome is ok or not_modified"),
            ("content_hash", "string", True, "sha256 of the text"),
            ("etag", "string", True, "ETag, for the next conditional GET"),
            ("last_modified", "string", True, "Last-Modified, for the next conditional GET"),
            (
                "outcome",
                "string",
                False,
                "a schemas.vocab.CRAWL_OUTCOMES value, e.g. ok, not_modified, robots_disallowed",
            ),
            ("links", "string", True, "JSON list of the page's resolved links"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="crawl",
        ),
        _t(
            "cultural_terms",
            "Each artist's top terms from what is written about it (tf near mentions x idf across artists).",
            ("artist_id", "string", False, "artist id"),
            ("term", "string", False, "lemmatised, lower-cased term"),
            ("term_type", "string", False, "np (noun phrase), adj (adjective) or n2 (bigram)"),
            ("score", "float64", False, "tf-idf normalised to 0..1 per artist and term type"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="culture",
            made_from=("pages",),
        ),
        _t(
            "artist_similarity",
            "Nearest artists by cosine similarity of their cultural term vectors.",
            ("artist_id", "string", False, "artist id"),
            ("neighbor_id", "string", False, "a similar artist"),
            ("similarity", "float64", False, "cosine similarity, 0..1"),
            ("week", "string", False, "run week (partition)"),
            partition_by=("week",),
            writer="culture",
            made_from=("pages",),
        ),
        _t(
            "discover_weekly",
            "The published playlists: k songs per eligible listener, never played before, by position.",
            ("user_id", "string", False, "listener id"),
            ("position", "int32", False, "1..k, 1 is the best"),
            ("track_id", "string", False, "recommended track"),
            ("artist_id", "string", False, "its artist"),
            ("score", "float64", False, "blended score the position was ranked by (higher is better)"),
            ("source", "string", False, "a schemas.vocab.PLAYLIST_SOURCES value"),
            ("reason", "string", False, "why, in words a listener understands"),
            ("week", "string", False, "ISO week the playlist is published for (partition)"),
            partition_by=("week",),
            writer="merge and validate",
        ),
        _t(
            "exposures",
            "Every published playlist row as shown: the policy that chose it and the probability it was chosen with.",
            ("user_id", "string", False, "listener id"),
            ("position", "int32", False, "1..k, as in discover_weekly"),
            ("track_id", "string", False, "the track shown"),
            ("policy", "string", False, "a jobs.feedback.arms policy (als, blend, bart) or fallback"),
            ("policy_version", "string", False, "the reward model's week for bart (or explore: none yet), else greedy"),
            ("source", "string", False, "the part of the score the shown reason comes from"),
            ("reason", "string", False, "the explanation shown"),
            (
                "propensity",
                "float64",
                False,
                "probability the policy chose this (track, explanation) here; 1 at a greedy place (at bart's places "
                "after its bandit places: given the bandit's picks)",
            ),
            ("week", "string", False, "ISO week shown (partition)"),
            partition_by=("week",),
            writer="merge and validate (published with discover_weekly)",
        ),
        _t(
            "bandit_actions",
            "Every (track, explanation) the bandit offered at each of its places, with features and probabilities.",
            ("user_id", "string", False, "listener id"),
            ("position", "int32", False, "the bandit's place"),
            ("track_id", "string", False, "a candidate track"),
            ("source", "string", False, "the part of the score its reason comes from"),
            ("reason", "string", False, "a true reason of the candidate"),
            ("kind", "string", False, "jobs.feedback.bandit.KINDS: the explanation's kind"),
            ("features", "list<float32>", False, "jobs.feedback.bandit.FEATURE_NAMES, in order"),
            ("probability", "float64", False, "probability the logging policy chose this action here"),
            ("predicted", "float64", True, "the reward model's P(stream); null while exploring without a model"),
            ("chosen", "bool", False, "the action shown"),
            ("week", "string", False, "ISO week shown (partition)"),
            partition_by=("week",),
            writer="merge and validate (published with discover_weekly)",
        ),
        _t(
            "bandit_model",
            "The bandit's reward model for a week: one logistic weight per feature, trained on earlier weeks' exposures.",
            ("feature", "string", False, "jobs.feedback.bandit.FEATURE_NAMES"),
            ("weight", "float64", False, "logistic regression weight"),
            ("variance", "float64", False, "its Laplace posterior variance"),
            ("covariance", "list<float32>", True, "its row of the Laplace posterior covariance (Thompson sampling)"),
            ("week", "string", False, "the week it serves (partition)"),
            partition_by=("week",),
            writer="bandit",
        ),
        # The pending week (discover_weekly/_pending-W/, written by merge, read by validate):
        # besides `table/` (the discover_weekly contract) it holds these two files.
        _t(
            "pending_eligible",
            "eligible.parquet of a pending week: every listener the pending table must hold a playlist for.",
            ("user_id", "string", False, "listener id"),
            writer="merge",
        ),
        _t(
            "pending_excluded",
            "excluded.parquet of a pending week: active listeners the merge left out, each with why.",
            ("user_id", "string", False, "listener id"),
            ("reason", "string", False, "a schemas.vocab.EXCLUSION_REASONS value"),
            writer="merge",
        ),
    ]
}


def table(name: str) -> Table:
    """The contract of table ``name``; raises KeyError naming the known tables."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no table {name!r}; known: {sorted(TABLES)}") from None


_ARROW = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "list<float32>": pa.list_(pa.float32()),
    "list<string>": pa.list_(pa.string()),
    "binary": pa.binary(),
}


# Sets of tables published as one, by the name under which the set's manifest is kept.
SETS: dict[str, tuple[str, ...]] = {}
for _table in TABLES.values():
    if _table.publish_set:
        SETS.setdefault(_table.publish_set, ())
        SETS[_table.publish_set] += (_table.name,)
# Tables computed from a set's tables, with the set.
DERIVED: dict[str, str] = {t.name: t.built_from for t in TABLES.values() if t.built_from}
# Tables computed from other tables' partitions of the week (outside any set), with those tables.
MADE_FROM: dict[str, tuple[str, ...]] = {t.name: t.made_from for t in TABLES.values() if t.made_from}
# Which job writes each table and each set (a set is written by its tables' writer).
WRITERS: dict[str, str] = {t.name: t.writer for t in TABLES.values() if t.writer} | {
    s: TABLES[tables[0]].writer for s, tables in SETS.items()
}


def arrow_schema(name: str, include_partitions: bool = False) -> pa.Schema:
    """Arrow schema of a table (data columns only unless ``include_partitions``)."""
    t = table(name)
    cols = t.columns if include_partitions else t.data_columns
    return pa.schema([pa.field(c.name, _ARROW[c.type], nullable=c.nullable) for c in cols])


def spark_schema(name: str, include_partitions: bool = False) -> Any:
    """Spark ``StructType`` of a table; pyspark is imported only when this is called."""
    from pyspark.sql import types as T

    spark_types = {
        "string": T.StringType(),
        "int32": T.IntegerType(),
        "int64": T.LongType(),
        "float32": T.FloatType(),
        "float64": T.DoubleType(),
        "bool": T.BooleanType(),
        "date": T.DateType(),
        "timestamp": T.TimestampType(),
        "list<float32>": T.ArrayType(T.FloatType(), containsNull=False),
        "list<string>": T.ArrayType(T.StringType(), containsNull=False),
        "binary": T.BinaryType(),
    }
    t = table(name)
    cols = t.columns if include_partitions else t.data_columns
    return T.StructType([T.StructField(c.name, spark_types[c.type], nullable=c.nullable) for c in cols])


def conform_spark(df: Any, name: str, include_partitions: bool = True) -> Any:
    """``df`` as the table's contract: its columns in order, cast to their types, NOT NULL kept.

    Spark's Parquet writer copies each column's nullability into the files, and it marks
    every computed column nullable. Wrapping a required column in ``coalesce(column,
    constant)`` is how Spark learns it cannot be null, so pyarrow and DuckDB readers see
    the contract. Call it only on rows already validated: the constant would stand in
    for a null, and validation has turned every row with a missing required field into
    a quarantined one before this point.
    """
    import datetime as dt

    from pyspark.sql import functions as F

    never_used = {
        "string": F.lit(""),
        "date": F.lit(dt.date(1970, 1, 1)),
        "timestamp": F.lit(dt.datetime(1970, 1, 1, tzinfo=dt.UTC)),
    }
    out = []
    t = table(name)
    for c, field in zip(t.columns if include_partitions else t.data_columns, spark_schema(name, include_partitions)):
        col = F.col(c.name).cast(field.dataType)
        if not c.nullable:
            col = F.coalesce(col, never_used.get(c.type, F.lit(0).cast(field.dataType)))
        out.append(col.alias(c.name))
    return df.select(*out)


def describe() -> str:
    """All contracts as markdown, for the docs."""
    lines = []
    for t in TABLES.values():
        part = f" (partitioned by {', '.join(t.partition_by)})" if t.partition_by else ""
        lines += [f"### {t.name}{part}", "", t.doc, "", "| column | type | null | meaning |", "|---|---|---|---|"]
        lines += [f"| {c.name} | {c.type} | {'yes' if c.nullable else 'no'} | {c.doc} |" for c in t.columns]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
