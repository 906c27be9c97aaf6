import pyarrow as pa
from pyspark.sql import types as T

from schemas.tables import TABLES, arrow_schema, describe, spark_schema, table


def test_every_table_maps_to_matching_arrow_and_spark_schemas():
    spark_to_arrow = {
        T.StringType(): pa.string(),
        T.IntegerType(): pa.int32(),
        T.LongType(): pa.int64(),
        T.FloatType(): pa.float32(),
        T.DoubleType(): pa.float64(),
        T.DateType(): pa.date32(),
        T.TimestampType(): pa.timestamp("us", tz="UTC"),
        T.BooleanType(): pa.bool_(),
        T.ArrayType(T.FloatType(), False): pa.list_(pa.float32()),
        T.ArrayType(T.StringType(), False): pa.list_(pa.string()),
        T.BinaryType(): pa.binary(),
    }
    for name in TABLES:
        a = arrow_schema(name, include_partitions=True)
        s = spark_schema(name, include_partitions=True)
        assert a.names == [f.name for f in s.fields] == table(name).names
        for af, sf in zip(a, s.fields):
            assert spark_to_arrow[sf.dataType] == af.type, (name, af.name)
            assert af.nullable == sf.nullable


def test_partition_columns_live_in_the_path_not_in_the_files():
    assert "week" not in arrow_schema("discover_weekly").names
    assert "week" in arrow_schema("discover_weekly", include_partitions=True).names
    assert table("plays").partition_by == ("day",)


def test_the_published_table_has_the_promised_columns():
    assert table("discover_weekly").names == [
        "user_id",
        "position",
        "track_id",
        "artist_id",
        "score",
        "source",
        "reason",
        "week",
    ]
    for t in TABLES.values():
        for c in t.columns:
            assert c.doc, f"{t.name}.{c.name} has no meaning written down"
    assert "| user_id | string | no |" in describe()


def test_writers_and_publish_sets_are_read_off_the_contracts():
    from schemas.tables import DERIVED, SETS, TABLES, WRITERS

    assert SETS == {"als_fit": ("play_counts", "user_factors", "item_factors", "als_metrics")}
    assert DERIVED == {"track_vectors": "als_fit", "audio_vectors": "als_fit", "taste_clusters": "als_fit"}
    inputs = {"raw_plays", "raw_saves", "tracks", "artists", "raw_playlists"}
    assert {name for name, t in TABLES.items() if not t.writer} == inputs  # every warehouse table names its job
    assert WRITERS["als_fit"] == "als" and WRITERS["track_vectors"] == "audio_cnn infer"
    assert WRITERS["saves"] == "ingest"


def test_plays_carry_an_optional_context_and_saves_have_their_contract():
    plays = {c.name: c for c in table("plays").columns}
    assert plays["context"].type == "string" and plays["context"].nullable
    assert "context" in table("raw_plays").names
    assert table("saves").names == ["user_id", "track_id", "saved_at", "week"]
    assert not any(c.nullable for c in table("saves").columns)
    assert table("raw_saves").names == ["user_id", "track_id", "saved_at"]


def test_column_constants_name_contract_columns_and_jobs_hold_no_such_literal():
    import io
    import tokenize
    from pathlib import Path

    from schemas import columns
    from schemas.tables import TABLES

    known = {c.name for t in TABLES.values() for c in t.columns}
    assert set(columns.ALL) <= known
    root = Path(__file__).resolve().parents[3] / "jobs"
    found = []
    for path in sorted(root.rglob("*.py")):
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if tok.type == tokenize.STRING and tok.string[1:-1] in columns.ALL and tok.string[0] in "\"'":
                found.append(f"{path.relative_to(root.parent)}:{tok.start[0]} {tok.string}")
    assert found == [], "use schemas.columns instead of literal column names:\n" + "\n".join(found)


def test_quarantine_reasons_are_named_constants():
    from schemas import vocab

    assert vocab.BAD_PLAYED_AT in vocab.QUARANTINE_REASONS and vocab.UNKNOWN_TRACK_ID in vocab.QUARANTINE_REASONS
    assert f"{vocab.MISSING_COLUMNS}:<cols>" in vocab.QUARANTINE_REASONS
    assert vocab.AFTER_CUTOFF not in vocab.QUARANTINE_REASONS  # a later week's row, not a bad one
