"""Ingest: known answers for each validation rule, each raw format, and the bad-share limit."""

import datetime as dt
import gzip
import json
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs import ingest
from jobs.warehouse import play_days, quarantine, raw_plays
from tests.conftest import make_config

UTC = dt.UTC
START = dt.datetime(2008, 10, 7, tzinfo=UTC)
CUT = dt.datetime(2026, 11, 16, tzinfo=UTC)


def _rows(spark, records):
    cols = ["source_file", "line", "raw", "user_id", "track_id", "played_at", "ms_played", "error"]
    return spark.createDataFrame(
        pd.DataFrame(records, columns=cols).astype(object).where(lambda d: d.notna(), None),
        "source_file string, line long, raw string, user_id string, track_id string, "
        "played_at string, ms_played string, error string",
    )


@pytest.mark.spark
def test_validate_gives_each_bad_row_its_reason(spark):
    tracks = spark.createDataFrame(pd.DataFrame({"track_id": ["t1", "t2"]}))
    records = [
        ("f", 2, "", "u1", "t1", "2026-11-10T10:00:00Z", "200000", None),  # good, ISO
        ("f", 3, "", "u1", "t2", "1762768800000", "1000", None),  # good, epoch ms
        ("f", 4, "", "", "t1", "2026-11-10T10:00:00Z", "1", None),  # missing user
        ("f", 5, "", "u1", None, "2026-11-10T10:00:00Z", "1", None),  # missing track
        ("f", 6, "", "u1", "t1", "yesterday", "1", None),  # bad time
        ("f", 7, "", "u1", "t1", "2001-01-01T00:00:00Z", "1", None),  # before the service
        ("f", 8, "", "u1", "t1", "2026-11-10T10:00:00Z", "ten", None),  # bad ms
        ("f", 9, "", "u1", "t1", "2026-11-10T10:00:00Z", "-5", None),  # negative ms
        ("f", 10, "", "u1", "t1", "2026-11-10T10:00:00Z", "999999999", None),  # absurd ms
        ("f", 11, "", "u1", "t9", "2026-11-10T10:00:00Z", "1", None),  # unknown track
        ("f", 12, "", "u1", "t1", "2026-11-17T10:00:00Z", "1", None),  # a later week's
        ("f", 13, "", None, None, None, None, "malformed_csv"),  # parse error wins
        ("f", 14, "", " u2 ", "t1", "2026-11-10 10:00:00+01:00", "5.0", None),  # trimmed, offset, 5.0
        ("f", 15, "", "u1", "t1", "2099-01-01T00:00:00Z", "1", None),  # far in the future
        ("f", 16, "caf\ufffd,t1", "caf\ufffd", "t1", "2026-11-10T10:00:00Z", "1", None),  # not UTF-8
    ]
    out = quarantine.validate(_rows(spark, records), tracks, START, CUT, 86_400_000).toPandas().sort_values("line")
    assert out["reason"].tolist() == [
        None,
        None,
        "missing_user_id",
        "missing_track_id",
        "bad_played_at",
        "played_before_service_start",
        "bad_ms_played",
        "negative_ms_played",
        "absurd_ms_played",
        "unknown_track_id",
        "after_cutoff",
        "malformed_csv",
        None,
        "played_in_future",
        "bad_encoding",
    ]
    good = out[out["reason"].isna()].set_index("line")
    assert good.loc[3, "played_at_ts"] == pd.Timestamp("2025-11-10 10:00:00")  # epoch ms 1762768800000
    assert good.loc[14, "user_id"] == "u2"
    assert good.loc[14, "played_at_ts"] == pd.Timestamp("2026-11-10 09:00:00")  # +01:00 -> UTC
    assert good.loc[14, "ms"] == 5


@pytest.mark.spark
def test_validate_keeps_a_short_lower_case_context_and_quarantines_any_other(spark):
    tracks = spark.createDataFrame(pd.DataFrame({"track_id": ["t1"]}))
    contexts = {
        2: ("discover_weekly", None, "discover_weekly"),
        3: ("  discover_weekly ", None, "discover_weekly"),  # trimmed
        4: ("radio:station.1-a_b", None, "radio:station.1-a_b"),
        5: ("", None, None),  # empty: no context
        6: ("NULL", None, None),  # a word for "missing": no context
        7: (None, None, None),
        8: ("Discover Weekly", "bad_context", None),
        9: ("DISCOVER_WEEKLY", "bad_context", None),  # never lower-cased: a guess
        10: ("7up", "bad_context", None),
        11: ("a" * 65, "bad_context", None),  # over 64 characters
        12: ("a" * 64, None, "a" * 64),
        13: ("ok\nmore", "bad_context", None),
    }
    rows = spark.createDataFrame(
        [("f", n, "", "u1", "t1", "2026-11-10T10:00:00Z", "200000", c, None) for n, (c, _, _) in contexts.items()],
        "source_file string, line long, raw string, user_id string, track_id string, played_at string, "
        "ms_played string, context string, error string",
    )
    out = quarantine.validate(rows, tracks, START, CUT, 86_400_000).toPandas().set_index("line").sort_index()
    assert out["reason"].tolist() == [want for _, want, _ in contexts.values()]
    good = out[out["reason"].isna()]
    assert good["context"].tolist() == [c for _, want, c in contexts.values() if want is None]


@pytest.mark.spark
def test_deduplicate_keeps_the_context_of_the_longest_listen(spark):
    at = dt.datetime(2026, 11, 1, 10)
    df = spark.createDataFrame(
        [
            ("u1", "t1", at, 100, "discover_weekly"),
            ("u1", "t1", at, 300, None),  # the longest listen wins, with its (missing) context
            ("u2", "t1", at, 50, None),
            ("u2", "t1", at, 50, "discover_weekly"),  # equally long: a context over none
        ],
        "user_id string, track_id string, played_at_ts timestamp, ms long, context string",
    )
    out = quarantine.deduplicate(df).orderBy("user_id").toPandas()
    assert out[["user_id", "ms_played", "context"]].to_dict("records") == [
        {"user_id": "u1", "ms_played": 300, "context": None},
        {"user_id": "u2", "ms_played": 50, "context": "discover_weekly"},
    ]


@pytest.mark.spark
def test_deduplicate_keeps_one_event_with_the_longest_listen(spark):
    df = spark.createDataFrame(
        [
            ("u1", "t1", dt.datetime(2026, 11, 1, 10), 100),
            ("u1", "t1", dt.datetime(2026, 11, 1, 10), 300),
            ("u1", "t1", dt.datetime(2026, 11, 1, 11), 50),
        ],
        "user_id string, track_id string, played_at_ts timestamp, ms long",
    )
    out = quarantine.deduplicate(df).orderBy("played_at").toPandas()
    assert out["ms_played"].tolist() == [300, 50]


def test_bad_share_problem_names_files_and_reasons():
    assert quarantine.bad_share_problem({"bad_played_at": 1}, 100, 0.05, {"a.csv": {"bad_played_at": 1}}) is None
    msg = quarantine.bad_share_problem(
        {"bad_played_at": 8, "missing_user_id": 2},
        100,
        0.05,
        {"file:/x/a.csv": {"bad_played_at": 8}, "file:/x/b.jsonl": {"missing_user_id": 2}},
    )
    assert "10 of 100 raw rows (10.0%)" in msg and "limit of 5.0%" in msg
    assert "file:/x/a.csv: bad_played_at=8" in msg and "file:/x/b.jsonl: missing_user_id=2" in msg


def _write_catalog(root):
    cat = root / "catalog"
    cat.mkdir(parents=True)
    pd.DataFrame({"artist_id": ["a1"], "name": ["Artist"]}).to_csv(cat / "artists.csv", index=False)
    pd.DataFrame(
        {
            "track_id": ["t1", "t2", "t3"],
            "title": ["A", "B", "C"],
            "artist_id": ["a1"] * 3,
            "album": ["x"] * 3,
            "release_date": ["2020-01-01"] * 3,
            "duration_ms": [200000] * 3,
            "audio_path": [""] * 3,
        }
    ).to_csv(cat / "tracks.csv", index=False)


def _ms(*ymdh):
    return int(dt.datetime(*ymdh, tzinfo=UTC).timestamp() * 1000)


def _raw_world(root):
    """Three formats, a BOM, CRLF, gzip, a reordered header and a few bad rows, with known answers."""
    _write_catalog(root)
    raw = root / "raw" / "plays"
    raw.mkdir(parents=True)
    (raw / "2026-11-09.csv").write_bytes(
        "\ufeffuser_id,track_id,played_at,ms_played\r\n"
        "u1,t1,2026-11-09T08:00:00Z,200000\r\n"
        "u1,t1,2026-11-09T08:00:00Z,200000\r\n"  # exact duplicate
        "u2,t2,2026-11-09T09:00:00Z\r\n"  # a field short
        "u2,t3,2026-11-09T10:00:00Z,150000\r\n".encode()
    )
    (raw / "2026-11-10.csv.gz").write_bytes(
        gzip.compress(b"track_id,user_id,ms_played,played_at\nt2,u3,90000,2026-11-10T12:00:00Z\n")
    )
    (raw / "2026-11-11.jsonl").write_text(
        json.dumps({"user_id": "u1", "track_id": "t2", "played_at": _ms(2026, 11, 11, 12), "ms_played": 180000})
        + "\n"
        + "{not json\n\n"
        + json.dumps({"user_id": "u4", "track_id": "t1", "played_at": "2026-11-11T13:00:00Z", "ms_played": -3})
        + "\n"
        + json.dumps({"USER_ID": "u6", "Track_Id": "t3", "played_AT": "2026-11-11T14:00:00Z", "MS_PLAYED": 95000})
        + "\n"
    )
    pq.write_table(
        pa.table(
            {
                "user_id": ["u5", "u5"],
                "track_id": ["t3", "t404"],
                "played_at": [_ms(2026, 11, 12, 12)] * 2,
                "ms_played": [100000, 100000],
            }
        ),
        raw / "2026-11-12.parquet",
    )
    pq.write_table(pa.table({"listener": ["u6"], "song": ["t1"]}), raw / "2026-11-13.parquet")
    (raw / "notes.txt").write_text("not a log\n")


@pytest.mark.spark
@pytest.mark.slow
def test_run_ingests_every_format_and_quarantines_with_file_and_line(spark, tmp_path):
    _raw_world(tmp_path / "data")
    config = make_config(tmp_path / "data", tmp_path / "wh", ingest={"max_bad_share": 1.0})
    metrics = ingest.run(spark, config, "2026-W47")

    plays = pq.read_table(tmp_path / "wh" / "plays").to_pandas().sort_values(["played_at", "user_id"])
    got = [(r.user_id, r.track_id, r.played_at.isoformat(), r.ms_played, str(r.day)) for r in plays.itertuples()]
    assert got == [
        ("u1", "t1", "2026-11-09T08:00:00+00:00", 200000, "2026-11-09"),
        ("u2", "t3", "2026-11-09T10:00:00+00:00", 150000, "2026-11-09"),
        ("u3", "t2", "2026-11-10T12:00:00+00:00", 90000, "2026-11-10"),
        ("u1", "t2", "2026-11-11T12:00:00+00:00", 180000, "2026-11-11"),
        ("u6", "t3", "2026-11-11T14:00:00+00:00", 95000, "2026-11-11"),  # JSON keys in any case
        ("u5", "t3", "2026-11-12T12:00:00+00:00", 100000, "2026-11-12"),
    ]
    q = pq.read_table(tmp_path / "wh" / "quarantine" / "week=2026-W47").to_pandas()
    q["file"] = q["source_file"].str.rsplit("/", n=1).str[-1]
    assert sorted(zip(q["file"], q["line"].astype("Int64").tolist(), q["reason"])) == sorted(
        [
            ("2026-11-09.csv", 4, "malformed_csv"),
            ("2026-11-11.jsonl", 2, "malformed_json"),
            ("2026-11-11.jsonl", 4, "negative_ms_played"),
            ("2026-11-12.parquet", 2, "unknown_track_id"),
            ("2026-11-13.parquet", pd.NA, "missing_columns:user_id+track_id+played_at+ms_played"),
        ]
    )
    assert metrics["duplicates_dropped"] == 1
    assert metrics["quarantined"] == 5
    # the files carry the contract: names, order, types and NOT NULL (what pyarrow/DuckDB readers see)
    from schemas.tables import arrow_schema

    day = next((tmp_path / "wh" / "plays").glob("day=*"))
    assert pq.read_schema(next(day.glob("*.parquet"))).remove_metadata() == arrow_schema("plays")
    q_file = next((tmp_path / "wh" / "quarantine" / "week=2026-W47").glob("*.parquet"))
    assert pq.read_schema(q_file).remove_metadata() == arrow_schema("quarantine")
    assert metrics["skipped_files"] and metrics["skipped_files"][0].endswith("notes.txt")
    assert plays["context"].isna().all()  # files without a context column: null
    # no raw/saves/: an empty saves partition with the contract's schema
    saves = tmp_path / "wh" / "saves" / "week=2026-W47"
    assert pq.read_table(saves).num_rows == 0 and metrics["saves"]["files"] == 0
    assert pq.read_schema(next(saves.glob("*.parquet"))).remove_metadata() == arrow_schema("saves")


@pytest.mark.spark
@pytest.mark.slow
def test_too_many_bad_rows_fail_the_run_without_publishing_plays(spark, tmp_path):
    _raw_world(tmp_path / "data")
    config = make_config(tmp_path / "data", tmp_path / "wh", ingest={"max_bad_share": 0.1})
    with pytest.raises(
        ingest.IngestError,
        match=r"(?s)above the limit of 10\.0%.*2026-11-11\.jsonl: malformed_json=1, negative_ms_played=1",
    ):
        ingest.run(spark, config, "2026-W47")
    assert not (tmp_path / "wh" / "plays").exists()
    assert (tmp_path / "wh" / "quarantine" / "week=2026-W47").exists()  # kept for inspection


@pytest.mark.spark
@pytest.mark.slow
def test_latin1_empty_and_crlf_files_end_as_the_rules_say(spark, tmp_path):
    data = tmp_path / "data"
    _write_catalog(data)
    raw = data / "raw" / "plays"
    raw.mkdir(parents=True)
    (raw / "2026-11-09.csv").write_bytes(
        "user_id,track_id,played_at,ms_played\r\nJos\u00e9,t1,2026-11-09T08:00:00Z,200000\r\nu1,t2,2026-11-09T09:00:00Z,1000\r\n".encode(
            "latin-1"
        )
    )
    (raw / "2026-11-10.csv").write_bytes(b"")
    (raw / "2026-11-11.jsonl").write_bytes(b"")
    metrics = ingest.run(spark, make_config(data, tmp_path / "wh", ingest={"max_bad_share": 1.0}), "2026-W47")
    q = pq.read_table(tmp_path / "wh" / "quarantine" / "week=2026-W47").to_pandas()
    assert q[["line", "reason"]].to_dict("records") == [{"line": 2, "reason": "bad_encoding"}]
    plays = pq.read_table(tmp_path / "wh" / "plays").to_pandas()
    assert plays[["user_id", "track_id", "ms_played"]].to_dict("records") == [
        {"user_id": "u1", "track_id": "t2", "ms_played": 1000}
    ]
    assert metrics["raw_rows"] == 2


def test_missing_raw_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ingest.IngestError, match="does not exist"):
        raw_plays.list_raw_files(tmp_path / "nope")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("a.CSV.gz", "csv"),
        ("a.jsonl", "json"),
        ("a.json.gz", "json"),
        ("a.parquet", "parquet"),
        ("a.parquet.gz", None),
        ("a.txt", None),
    ],
)
def test_classify_file_names(name, fmt, tmp_path):
    assert raw_plays.classify(tmp_path / name) == fmt


@pytest.mark.spark
def test_line_numbers_stay_right_when_spark_splits_a_big_file(spark, tmp_path):
    """A file read as several byte ranges (small maxPartitionBytes here) still numbers every line from 1."""
    raw = tmp_path / "raw"
    raw.mkdir()
    n = 40_000  # ~1.3 MB per file: about 20 ranges of 64 KiB each
    (raw / "a.csv").write_text("".join(f"row {i:07d} padding-padding\n" for i in range(1, n + 1)))
    (raw / "b.jsonl").write_text("".join(f'{{"n": {i}, "pad": "xxxxxxxxxxxx"}}\n' for i in range(1, n // 2 + 1)))
    old = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(64 * 1024))
    try:
        lines = raw_plays.read_text_lines(spark, [str(raw / "a.csv"), str(raw / "b.jsonl")], tmp_path / "links")
        assert lines.rdd.getNumPartitions() > 10
        got = lines.toPandas()
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", old)
    got["file"] = got["source_file"].str.rsplit("/", n=1).str[-1]
    a = got[got["file"] == "a.csv"]
    assert len(a) == n
    assert (a["value"].str.slice(4, 11).astype(int) == a["line"]).all()
    b = got[got["file"] == "b.jsonl"]
    assert len(b) == n // 2
    assert (b["value"].str.extract(r'"n": (\d+)')[0].astype(int) == b["line"]).all()


def _csv_day(raw, day, rows):
    """One raw CSV file for ``day`` with ``rows`` of (user, track, hour, ms)."""
    body = "".join(f"{u},{t},{day}T{h:02d}:00:00Z,{ms}\n" for u, t, h, ms in rows)
    (raw / f"{day}.csv").write_text("user_id,track_id,played_at,ms_played\n" + body)


def _stats(root):
    """(inode, mtime) of every day folder and file under plays/, by relative path."""
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


@pytest.mark.spark
@pytest.mark.slow
def test_a_backfill_touches_only_days_whose_rows_changed_and_says_which(spark, tmp_path):
    data, wh = tmp_path / "data", tmp_path / "wh"
    _write_catalog(data)
    raw = data / "raw" / "plays"
    raw.mkdir(parents=True)
    _csv_day(raw, "2026-11-02", [("u1", "t1", 8, 200000)])  # W45
    _csv_day(raw, "2026-11-05", [("u1", "t2", 9, 200000), ("u2", "t1", 10, 100000)])  # W45
    _csv_day(raw, "2026-11-10", [("u2", "t3", 11, 150000)])  # W46: on or after W46's cutoff
    config = make_config(data, wh, ingest={"max_bad_share": 1.0})
    first = ingest.run(spark, config, "2026-W47")
    assert first["days_changed"] == ["2026-11-02", "2026-11-05", "2026-11-10"] and first["days_removed"] == []
    root = wh / "plays"
    before = _stats(root)
    assert "day=2026-11-05/_fingerprint" in before

    # the same raw files: a backfill of the week before republishes nothing
    again = ingest.run(spark, config, "2026-W46")
    assert (again["days"], again["days_changed"], again["days_removed"], again["days_unchanged"]) == (2, [], [], 2)
    assert _stats(root) == before

    # a corrected file changes its day, a deleted one empties its day; the later day stays as it was
    _csv_day(raw, "2026-11-05", [("u1", "t2", 9, 200000), ("u2", "t1", 10, 120000)])
    (raw / "2026-11-02.csv").unlink()
    fixed = ingest.run(spark, config, "2026-W46")
    assert (fixed["days_changed"], fixed["days_removed"]) == (["2026-11-05"], ["2026-11-02"])
    after = _stats(root)
    assert sorted(p.name for p in root.iterdir()) == ["day=2026-11-05", "day=2026-11-10"]
    assert {k: v for k, v in after.items() if k.startswith("day=2026-11-10")} == {
        k: v for k, v in before.items() if k.startswith("day=2026-11-10")
    }
    assert after["day=2026-11-05"] != before["day=2026-11-05"]
    plays = pq.read_table(root).to_pandas().sort_values("played_at")
    assert plays["ms_played"].tolist() == [200000, 120000, 150000]


@pytest.mark.spark
@pytest.mark.slow
def test_a_failed_write_leaves_no_staging_folder_and_publishes_nothing(spark, tmp_path, monkeypatch):
    _raw_world(tmp_path / "data")
    config = make_config(tmp_path / "data", tmp_path / "wh", ingest={"max_bad_share": 1.0})

    def boom(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(ingest, "flatten_spark_output", boom)  # the quarantine step fails
    with pytest.raises(OSError, match="disk full"):
        ingest.run(spark, config, "2026-W47")
    assert _entries(tmp_path / "wh" / "quarantine") == []
    assert not (tmp_path / "wh" / "plays").exists()

    monkeypatch.undo()
    monkeypatch.setattr(play_days, "write_fingerprint", boom)  # the plays step fails after Spark wrote
    with pytest.raises(OSError, match="disk full"):
        ingest.run(spark, config, "2026-W47")
    assert _entries(tmp_path / "wh" / "quarantine") == ["week=2026-W47"]
    assert _entries(tmp_path / "wh" / "plays") == []


def _entries(folder):
    """What a table folder holds besides the writers' lock files (which stay, by design)."""
    return sorted(n for n in os.listdir(folder) if not n.startswith(".lock-"))


def _context_world(root):
    """Plays with a context column in each format (any case), a file without one, and a saves folder."""
    _write_catalog(root)
    raw = root / "raw" / "plays"
    raw.mkdir(parents=True)
    (raw / "a.csv").write_text(
        "user_id,track_id,played_at,ms_played,Context\n"
        "u1,t1,2026-11-09T08:00:00Z,200000,discover_weekly\n"
        "u1,t2,2026-11-09T09:00:00Z,200000,\n"  # empty: none
        "u1,t3,2026-11-09T10:00:00Z,200000,Discover Weekly\n"  # 4: bad
    )
    (raw / "b.jsonl").write_text(
        json.dumps(
            {
                "user_id": "u2",
                "track_id": "t1",
                "played_at": "2026-11-10T08:00:00Z",
                "ms_played": 5000,
                "CONTEXT": "discover_weekly",
            }
        )
        + "\n"
        + json.dumps(
            {"user_id": "u2", "track_id": "t2", "played_at": "2026-11-10T09:00:00Z", "ms_played": 1, "context": "DW!"}
        )  # 2: bad
        + "\n"
        + json.dumps({"user_id": "u2", "track_id": "t3", "played_at": "2026-11-10T10:00:00Z", "ms_played": 1})
        + "\n"
    )
    pq.write_table(
        pa.table(
            {
                "user_id": ["u3", "u3", "u3"],
                "track_id": ["t1", "t2", "t3"],
                "played_at": [_ms(2026, 11, 11, 12), _ms(2026, 11, 11, 13), _ms(2026, 11, 11, 14)],
                "ms_played": [100000, 100000, 100000],
                "ConText": ["discover_weekly", None, "radio 1"],  # 3: bad
            }
        ),
        raw / "c.parquet",
    )
    (raw / "d.csv").write_text("user_id,track_id,played_at,ms_played\nu4,t1,2026-11-12T08:00:00Z,200000\n")
    saves = root / "raw" / "saves"
    saves.mkdir(parents=True)
    (saves / "s.csv").write_text(
        "user_id,track_id,saved_at\n"
        "u1,t1,2026-11-09T08:05:00Z\n"
        "u1,t1,2026-11-10T08:05:00Z\n"  # a second save of the pair: the first stays
        "u2,,2026-11-10T08:00:00Z\n"  # 4: missing track
        "u2,t2,soon\n"  # 5: bad time
        "u3,t3,2026-11-17T00:00:00Z\n"  # after W47's cutoff: not visible yet
    )
    (saves / "s.jsonl").write_text(
        json.dumps({"user_id": "u2", "track_id": "t3", "saved_at": _ms(2026, 11, 10, 11)}) + "\n" + "[1, 2]\n"
    )


@pytest.mark.spark
@pytest.mark.slow
def test_run_keeps_each_formats_context_and_publishes_saves(spark, tmp_path):
    from schemas.tables import arrow_schema

    _context_world(tmp_path / "data")
    config = make_config(tmp_path / "data", tmp_path / "wh", ingest={"max_bad_share": 1.0})
    metrics = ingest.run(spark, config, "2026-W47")

    plays = pq.read_table(tmp_path / "wh" / "plays").to_pandas().sort_values("played_at")
    got = [(r.user_id, r.track_id, None if pd.isna(r.context) else r.context) for r in plays.itertuples()]
    assert got == [
        ("u1", "t1", "discover_weekly"),
        ("u1", "t2", None),
        ("u2", "t1", "discover_weekly"),  # a skip keeps its context too
        ("u2", "t3", None),  # a JSON line without the key
        ("u3", "t1", "discover_weekly"),
        ("u3", "t2", None),
        ("u4", "t1", None),  # a file without the column
    ]
    for day in (tmp_path / "wh" / "plays").glob("day=*"):
        assert pq.read_schema(next(day.glob("*.parquet"))).remove_metadata() == arrow_schema("plays")
        assert (day / "_fingerprint").read_text().startswith("v2 ")
    q = pq.read_table(tmp_path / "wh" / "quarantine" / "week=2026-W47").to_pandas()
    q["file"] = q["source_file"].str.rsplit("/", n=1).str[-1]
    assert sorted(zip(q["file"], q["line"].astype(int), q["reason"])) == [
        ("a.csv", 4, "bad_context"),
        ("b.jsonl", 2, "bad_context"),
        ("c.parquet", 3, "bad_context"),
        ("s.csv", 4, "missing_track_id"),
        ("s.csv", 5, "bad_saved_at"),
        ("s.jsonl", 2, "malformed_json"),
    ]
    assert q.set_index("file").loc["s.csv"].set_index("line").loc[5, "raw"] == "u2,t2,soon"
    assert metrics["reasons"] == {"bad_context": 3} and metrics["quarantined"] == 3  # plays only

    saves = pq.read_table(tmp_path / "wh" / "saves" / "week=2026-W47").to_pandas()
    assert [(r.user_id, r.track_id, r.saved_at.isoformat()) for r in saves.itertuples()] == [
        ("u1", "t1", "2026-11-09T08:05:00+00:00"),
        ("u2", "t3", "2026-11-10T11:00:00+00:00"),
    ]
    s = metrics["saves"]
    assert (s["files"], s["read"], s["good"], s["quarantined"], s["after_cutoff"]) == (2, 7, 3, 3, 1)
    assert (s["duplicates_dropped"], s["written"]) == (1, 2)
    assert s["reasons"] == {"bad_saved_at": 1, "malformed_json": 1, "missing_track_id": 1}
    assert s["by_file"] == {"s.csv": {"bad_saved_at": 1, "missing_track_id": 1}, "s.jsonl": {"malformed_json": 1}}

    # a day published before context existed (a v1 fingerprint) is rewritten once, then left alone
    root = tmp_path / "wh" / "plays"
    (root / "day=2026-11-12" / "_fingerprint").write_text("v1 rows=1 xxhash64=1/2\n")
    again = ingest.run(spark, config, "2026-W47")
    assert again["days_changed"] == ["2026-11-12"]
    assert ingest.run(spark, config, "2026-W47")["days_changed"] == []


def _published(wh):
    """The plays and the week's quarantine, sorted: what a reader of the warehouse sees."""
    plays = pq.read_table(wh / "plays").to_pandas().sort_values(["played_at", "user_id", "track_id"])
    q = pq.read_table(wh / "quarantine" / "week=2026-W47").to_pandas().sort_values(["source_file", "line"])
    return plays.reset_index(drop=True), q.reset_index(drop=True)


def _same_tables(a, b):
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])


def _without_timing(metrics):
    return {k: v for k, v in metrics.items() if k not in ("seconds", "parse_cache")}


@pytest.mark.spark
@pytest.mark.slow
def test_the_parse_cache_parses_only_new_or_changed_files_and_changes_no_table(spark, tmp_path):
    from jobs.warehouse import raw_cache

    data = tmp_path / "data"
    _raw_world(data)
    raw = data / "raw" / "plays"
    cache = tmp_path / "cache"

    def run(name, **ingest_settings):
        ingest_settings = {"max_bad_share": 1.0, **ingest_settings}
        config = make_config(data, tmp_path / name, ingest=ingest_settings, paths={"cache": str(cache)})
        metrics = ingest.run(spark, config, "2026-W47")
        return metrics, _published(tmp_path / name)

    first, first_tables = run("wh1")
    # four usable files parsed and stored; the Parquet file without the contract's columns is no entry
    assert first["parse_cache"] == {"files_parsed": 5, "files_from_cache": 0}
    entries = sorted((cache / "ingest").rglob("*.parquet"))
    assert len(entries) == 4

    again, again_tables = run("wh2")
    assert again["parse_cache"] == {"files_parsed": 1, "files_from_cache": 4}
    _same_tables(first_tables, again_tables)
    assert _without_timing(again) == _without_timing(first)

    # without the cache: the same tables and counts, and nothing read from it
    off, off_tables = run("wh3", cache=False)
    assert off["parse_cache"] == {"files_parsed": 5, "files_from_cache": 0}
    _same_tables(first_tables, off_tables)
    assert _without_timing(off) == _without_timing(first)

    # a changed file is parsed again, alone; a damaged entry is a miss, not a failure
    (raw / "2026-11-10.csv.gz").write_bytes(
        gzip.compress(b"track_id,user_id,ms_played,played_at\nt2,u3,91000,2026-11-10T12:00:00Z\n")
    )
    json_entry = raw_cache.store_for(cache).path(raw_cache.entry_key(str(raw / "2026-11-11.jsonl")))
    json_entry.write_bytes(b"not parquet")
    changed, changed_tables = run("wh4")
    assert changed["parse_cache"] == {"files_parsed": 3, "files_from_cache": 2}
    assert changed_tables[0]["ms_played"].tolist() == [
        91000 if u == "u3" else ms for u, ms in zip(first_tables[0]["user_id"], first_tables[0]["ms_played"])
    ]
    assert not list(cache.rglob("_new-*"))  # no scratch folder left behind
