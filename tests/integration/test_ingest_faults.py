"""Ingest and catalog faults: bad data that used to pass silently or crash the run, each with its known answer."""

import datetime as dt
import json
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs import ingest
from jobs.warehouse import quarantine, raw_plays
from jobs.warehouse.catalog import CatalogError, read_catalog, read_catalog_table
from tests.conftest import make_config
from tests.integration.test_ingest import _rows, _write_catalog

UTC = dt.UTC
START = dt.datetime(2008, 10, 7, tzinfo=UTC)
CUT = dt.datetime(2026, 11, 16, tzinfo=UTC)
HEADER = "user_id,track_id,played_at,ms_played\n"
WEIRD_NAMES = ["plays [copy].csv", "a:b.csv", "x{1,2}.csv", "st*r.csv", "q?.csv", "sp ace.csv", "h#sh.csv", "p%20c.csv"]
WEIRD_NAMES += ["c:[x].csv", "2026-11-09T08:00:00.csv", "back\\slash.csv", "pl+us.jsonl"]


def _play(user, track="t1", at="2026-11-09T08:00:00Z", ms=200000):
    return {"user_id": user, "track_id": track, "played_at": at, "ms_played": ms}


def _csv(path, *users):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(f"{u},t1,2026-11-09T08:00:00Z,200000\n" for u in users))


def _parquet(path, **columns):
    table = {"user_id": ["u"], "track_id": ["t1"], "played_at": ["2026-11-09T08:00:00Z"], "ms_played": [1]}
    pq.write_table(pa.table({**table, **columns}), path)


def _spark_crc(spark, tmp_path):
    """The bytes of a real Hadoop checksum file (of other content than the file it will sit beside)."""
    out = tmp_path / "spark-out"
    spark.createDataFrame([("other",)], "x string").coalesce(1).write.parquet(str(out))
    return next(out.glob(".*.crc")).read_bytes()


# ----------------------------------------------------------------------------- 1. ids that mean "missing"


@pytest.mark.spark
def test_ids_that_mean_missing_are_quarantined_not_listeners(spark):
    tracks = spark.createDataFrame(pd.DataFrame({"track_id": ["t1", "none-such"]}))
    words = ["NULL", "None", "NaN", " null ", "N/A", "n/a", "-", "NONE", "\\N", "undefined", "Undefined"]
    records = [("f", i, "", w, "t1", "2026-11-10T10:00:00Z", "1", None) for i, w in enumerate(words)]
    records += [("f", 100 + i, "", "u1", w, "2026-11-10T10:00:00Z", "1", None) for i, w in enumerate(words)]
    records += [("f", 200, "", "nullish", "none-such", "2026-11-10T10:00:00Z", "1", None)]  # real ids that look alike
    out = quarantine.validate(_rows(spark, records), tracks, START, CUT, 86_400_000).toPandas().set_index("line")
    assert out.loc[range(len(words)), "reason"].tolist() == ["missing_user_id"] * len(words)
    assert out.loc[range(100, 100 + len(words)), "reason"].tolist() == ["missing_track_id"] * len(words)
    assert out.loc[200, "reason"] is None


# ----------------------------------------------------------------------------- 2. which files are read


def test_only_top_level_and_date_folders_are_read_and_hidden_names_never(tmp_path):
    raw = tmp_path / "raw" / "plays"
    read = ["top.csv", "2026-11-09/dated.jsonl", "day=2026-11-10/hive.parquet"]
    ignored = [
        "_rejected/rej.csv",
        ".trash/old.csv",
        "misc/other.csv",
        "2026-11-09/_tmp/deep.csv",
        "2026-11-09/sub/deeper.csv",
        "2026-13-45/not-a-date.csv",
        ".hidden.csv",
        "_under.csv",
        ".top.csv.crc",
        "part-0.parquet.crc",
        "2026-11-09/.dated.jsonl.crc",
        "_SUCCESS",
    ]
    for rel in [*read, *ignored, "notes.txt"]:
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        (raw / rel).write_text("x\n")
    found = raw_plays.list_raw_files(raw)
    assert found.by_format == {
        "csv": [str(raw / "top.csv")],
        "json": [str(raw / "2026-11-09/dated.jsonl")],
        "parquet": [str(raw / "day=2026-11-10/hive.parquet")],
    }
    assert found.ignored == sorted(str(raw / rel) for rel in ignored)
    assert found.skipped == [str(raw / "notes.txt")]


# ----------------------------------------------------------------------------- 3 and 4. file names, .crc files


@pytest.mark.spark
def test_text_files_with_any_name_are_read_under_their_real_name(spark, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    files = []
    for i, name in enumerate(WEIRD_NAMES):
        path = raw / name
        if name.endswith(".jsonl"):
            path.write_text(json.dumps(_play(f"u{i}")) + "\n")
        else:
            _csv(path, f"u{i}")
        files.append(str(path))
    got = raw_plays.read_text_lines(spark, files, tmp_path / "links").toPandas()
    want = {raw_plays.source_uri(f) for f in files}
    assert set(got["source_file"]) == want
    assert all(uri == f"file:{raw}/{name}" for uri, name in zip(sorted(want), sorted(WEIRD_NAMES)))
    assert len(got) == 2 * len(files) - 1  # a header and a row per CSV file, one line of JSON


@pytest.mark.spark
def test_crc_files_beside_raw_files_are_never_checked(spark, tmp_path):
    """A stale or truncated Hadoop checksum used to fail a good file (or the whole run)."""
    crc = _spark_crc(spark, tmp_path)
    raw = tmp_path / "raw"
    raw.mkdir()
    _parquet(raw / "stale [1].parquet", user_id=["stale"])
    (raw / ".stale [1].parquet.crc").write_bytes(crc)
    _parquet(raw / "trunc:1.parquet", user_id=["trunc"])
    (raw / ".trunc:1.parquet.crc").write_bytes(crc[:10])
    _csv(raw / "text.csv", "text")
    (raw / ".text.csv.crc").write_bytes(crc[:10])
    (raw / "not-parquet.parquet").write_text("hello\n")
    files = [str(raw / n) for n in ("not-parquet.parquet", "stale [1].parquet", "trunc:1.parquet")]
    rows, errors = raw_plays.read_parquet_files(spark, files, tmp_path / "links")
    got = rows.toPandas()
    assert sorted(got["user_id"]) == ["stale", "trunc"]
    assert set(got["source_file"]) == {raw_plays.source_uri(f) for f in files[1:]}
    assert errors == {raw_plays.source_uri(files[0]): "unreadable_parquet:ArrowInvalid"}
    text = raw_plays.read_text_lines(spark, [str(raw / "text.csv")], tmp_path / "links").toPandas()
    assert text["value"].tolist()[1].startswith("text,")


@pytest.mark.spark
def test_a_spark_failure_is_named_by_its_java_cause(spark, tmp_path):
    from py4j.protocol import Py4JJavaError
    from pyspark.errors.exceptions.captured import CapturedException

    with pytest.raises(Py4JJavaError) as caught:  # what PySpark does not convert
        spark._jvm.java.net.URI("not a uri")
    assert raw_plays.java_cause(caught.value) == "URISyntaxException"
    with pytest.raises(CapturedException) as caught:
        spark._jvm.java.lang.Integer.parseInt("not a number")
    assert raw_plays.java_cause(caught.value) == "NumberFormatException"
    assert raw_plays.java_cause(ValueError("plain")) == "ValueError"
    # a file pyarrow reads but Spark refuses
    times = pa.array([dt.time(1, 2)], pa.time64("ns"))
    _parquet(tmp_path / "t.parquet", extra=times)
    _, errors = raw_plays.read_parquet_files(spark, [str(tmp_path / "t.parquet")], tmp_path / "links")
    assert errors == {raw_plays.source_uri(str(tmp_path / "t.parquet")): "unreadable_parquet:AnalysisException"}


# ----------------------------------------------------------------------------- 5 and 6. nested values, ambiguous names


def test_parquet_files_with_nested_or_ambiguous_columns_are_quarantined_whole(tmp_path):
    cases = {
        "list.parquet": ({"user_id": [["u_list"]]}, "non_scalar_column:user_id"),
        "struct.parquet": ({"track_id": [{"id": "t1"}], "ms_played": [[1]]}, "non_scalar_column:track_id+ms_played"),
        "map.parquet": (
            {"played_at": pa.array([[("k", "v")]], pa.map_(pa.string(), pa.string()))},
            "non_scalar_column:played_at",
        ),
        "case.parquet": ({"MS_PLAYED": [2]}, "ambiguous_columns:ms_played+MS_PLAYED"),
        "extra.parquet": ({"Note": ["a"], "note": ["b"]}, "ambiguous_columns:Note+note"),  # Spark refuses any pair
        "fine.parquet": ({"extra": [[1, 2]]}, None),  # a nested column outside the contract is never read
    }
    for name, (columns, _) in cases.items():
        _parquet(tmp_path / name, **columns)
    got = {name: raw_plays._parquet_problem(str(tmp_path / name)) for name in cases}
    assert got == {name: want for name, (_, want) in cases.items()}


@pytest.mark.spark
def test_json_lines_with_nested_values_or_ambiguous_keys_get_their_reason(spark):
    lines = [
        json.dumps(_play(["u1"])),
        json.dumps(_play("u2", track={"id": "t1"})),
        json.dumps(_play("[u3]")),  # a string that only looks like a list: fine
        json.dumps({**_play("u4"), "MS_PLAYED": 900000}),
        json.dumps({"User_Id": "u5", "USER_ID": "u5b", "track_id": "t1", "played_at": 1, "ms_played": 1}),
        json.dumps({**_play("u6"), "Extra": [1], "extra": {"a": 1}}),  # not a contract field: fine
    ]
    df = spark.createDataFrame(
        [("f.jsonl", i + 1, v) for i, v in enumerate(lines)], "source_file string, line long, value string"
    )
    out = raw_plays.parse_json(df).toPandas().set_index("line")
    assert out["error"].tolist() == [
        "non_scalar_value:user_id",
        "non_scalar_value:track_id",
        None,
        "ambiguous_columns:ms_played+MS_PLAYED",
        "ambiguous_columns:User_Id+USER_ID",
        None,
    ]
    assert out.loc[3, "user_id"] == "[u3]" and out.loc[6, "ms_played"] == "200000"


@pytest.mark.spark
def test_csv_files_with_columns_differing_only_in_case_are_an_error_naming_them(spark):
    values = ["user_id,track_id,played_at,ms_played,MS_PLAYED", "u1,t1,2026-11-09T08:00:00Z,1000,900000"]
    values += ["user_id,track_id,played_at,ms_played,Note,NOTE", "u2,t1,2026-11-09T08:00:00Z,1000,a,b"]
    df = spark.createDataFrame(
        [("a.csv", 1, values[0]), ("a.csv", 2, values[1]), ("b.csv", 1, values[2]), ("b.csv", 2, values[3])],
        "source_file string, line long, value string",
    )
    out = raw_plays.parse_csv(df).toPandas().set_index("source_file")
    assert out.loc["a.csv", "error"] == "ambiguous_columns:ms_played+MS_PLAYED"
    assert out.loc["b.csv", "error"] is None and out.loc["b.csv", "ms_played"] == "1000"  # only the contract's count


# ----------------------------------------------------------------------------- 6b. the optional context


@pytest.mark.spark
def test_a_context_column_is_read_in_any_case_and_files_without_it_read_as_before(spark):
    values = {
        "a.csv": ["user_id,track_id,played_at,ms_played,CONTEXT", "u1,t1,2026-11-09T08:00:00Z,1000,discover_weekly"],
        "b.csv": ["user_id,track_id,played_at,ms_played", "u2,t1,2026-11-09T08:00:00Z,1000"],
        "c.csv": ["user_id,track_id,played_at,ms_played,context,Context", "u3,t1,2026-11-09T08:00:00Z,1000,a,b"],
    }
    df = spark.createDataFrame(
        [(f, i + 1, v) for f, lines in values.items() for i, v in enumerate(lines)],
        "source_file string, line long, value string",
    )
    out = raw_plays.parse_csv(df).toPandas().set_index("source_file")
    assert out.loc["a.csv", "context"] == "discover_weekly" and out.loc["a.csv", "error"] is None
    assert out.loc["b.csv", "context"] is None and out.loc["b.csv", "raw"] == values["b.csv"][1]
    assert out.loc["c.csv", "error"] == "ambiguous_columns:context+Context"

    lines = [
        json.dumps({**_play("u1"), "Context": "discover_weekly"}),
        json.dumps(_play("u2")),
        json.dumps({**_play("u3"), "context": {"from": "dw"}}),
        json.dumps({**_play("u4"), "context": "a", "CONTEXT": "b"}),
        json.dumps({**_play("u5"), "context": 7}),  # a number: its text, then validation's (bad_context)
    ]
    df = spark.createDataFrame(
        [("f.jsonl", i + 1, v) for i, v in enumerate(lines)], "source_file string, line long, value string"
    )
    out = raw_plays.parse_json(df).toPandas().set_index("line")
    assert out["context"].tolist()[:2] == ["discover_weekly", None] and out.loc[5, "context"] == "7"
    assert out["error"].tolist() == [None, None, "non_scalar_value:context", "ambiguous_columns:context+CONTEXT", None]


def test_a_parquet_context_column_that_is_nested_or_doubled_quarantines_the_file(tmp_path):
    cases = {
        "ctx.parquet": ({"Context": ["discover_weekly"]}, None),
        "nested.parquet": ({"context": [["dw"]]}, "non_scalar_column:context"),
        "double.parquet": ({"context": ["a"], "CONTEXT": ["b"]}, "ambiguous_columns:context+CONTEXT"),
    }
    for name, (columns, _) in cases.items():
        _parquet(tmp_path / name, **columns)
    got = {name: raw_plays._parquet_problem(str(tmp_path / name)) for name in cases}
    assert got == {name: want for name, (_, want) in cases.items()}


@pytest.mark.spark
def test_parquet_rows_carry_their_context_and_files_without_it_keep_their_raw_text(spark, tmp_path):
    _parquet(tmp_path / "with.parquet", CONTEXT=["discover_weekly"])
    _parquet(tmp_path / "without.parquet")
    files = [str(tmp_path / "with.parquet"), str(tmp_path / "without.parquet")]
    rows, errors = raw_plays.read_parquet_files(spark, files, tmp_path / "links")
    out = rows.toPandas().set_index(rows.toPandas()["source_file"].map(os.path.basename))
    assert errors == {}
    assert out.loc["with.parquet", "context"] == "discover_weekly"
    assert json.loads(out.loc["with.parquet", "raw"])["context"] == "discover_weekly"
    assert out.loc["without.parquet", "context"] is None
    assert json.loads(out.loc["without.parquet", "raw"]) == {
        "user_id": "u",
        "track_id": "t1",
        "played_at": "2026-11-09T08:00:00Z",
        "ms_played": 1,
    }


# ----------------------------------------------------------------------------- 7. the catalog


def _catalog(tmp_path, tracks=None, artists=None):
    _write_catalog(tmp_path)
    cat = tmp_path / "catalog"
    if tracks is not None:
        (cat / "tracks.csv").write_text(tracks)
    if artists is not None:
        (cat / "artists.csv").write_text(artists)
    return tmp_path


TRACKS_HEADER = "track_id,title,artist_id,album,release_date,duration_ms,audio_path\n"


def test_release_dates_that_do_not_parse_are_an_error_naming_file_line_and_value(tmp_path):
    rows = ["t1,A,a1,x,2020-01-01,1,", "t2,B,a1,x,06/11/2026,1,", 't3,"C\nC",a1,x,,1,', "t4,D,a1,x,2026-02-30,1,"]
    data = _catalog(tmp_path, tracks=TRACKS_HEADER + "\n".join(rows) + "\n")
    with pytest.raises(CatalogError) as err:
        read_catalog_table(data, "tracks")
    msg = str(err.value)
    assert "tracks.csv: 2 release_date value(s) are not ISO-8601 dates" in msg
    assert "line 3: '06/11/2026'" in msg and "line 6: '2026-02-30'" in msg  # t3's title holds a newline


def test_release_dates_in_any_iso_form_are_read(tmp_path):
    rows = ["t1,A,a1,x,2020-01-01,1,", "t2,B,a1,x,,1,", "t3,C,a1,x,1995,1,", "t4,D,a1,x,2026-11-09T10:00:00Z,1,"]
    data = _catalog(tmp_path, tracks=TRACKS_HEADER + "\n".join(rows) + "\n")
    got = read_catalog_table(data, "tracks")["release_date"].tolist()
    assert got[0] == dt.date(2020, 1, 1) and pd.isna(got[1])
    assert got[2:] == [dt.date(1995, 1, 1), dt.date(2026, 11, 9)]
    parquet = tmp_path / "pq"
    (parquet / "catalog").mkdir(parents=True)
    read_catalog_table(data, "tracks").to_parquet(parquet / "catalog" / "tracks.parquet")
    assert read_catalog_table(parquet, "tracks")["release_date"].tolist()[2:] == got[2:]


def test_a_blank_artist_name_is_reported_on_its_line_after_a_quoted_newline(tmp_path):
    data = _catalog(tmp_path, artists='artist_id,name\na0,"The\nBand"\n\na1,One\na2,\n')
    with pytest.raises(CatalogError, match=r"artists\.csv: line 6: empty name"):
        read_catalog(data)


def test_a_tracks_file_with_a_header_and_no_rows_fails_clearly(tmp_path):
    data = _catalog(tmp_path, tracks=TRACKS_HEADER)
    with pytest.raises(CatalogError, match=r"tracks\.csv: no tracks"):
        read_catalog(data)


# ----------------------------------------------------------------------------- 8. hints in the messages


def test_hints_name_epoch_seconds_and_the_setting_behind_a_reason():
    settings = {"service_start": "2008-10-07", "max_future_days": 366, "max_ms_played": 86_400_000}
    notes = quarantine.hints({"played_before_service_start": 7}, {"a.csv": 5}, settings)
    assert "5 played_at values" in notes[0] and "look like epoch seconds (a.csv)" in notes[0]
    assert "played_at must be epoch milliseconds or ISO-8601" in notes[0]
    assert "ingest.service_start (now 2008-10-07)" in notes[1] and "DW__INGEST__SERVICE_START=YYYY-MM-DD" in notes[1]
    assert quarantine.hints({"bad_played_at": 3}, {}, settings) == []
    msg = quarantine.bad_share_problem({"played_before_service_start": 7}, 8, 0.05, {"a.csv": {"x": 7}}, notes)
    assert msg.endswith("\nHint: " + notes[1]) and ("\nHint: " + notes[0]) in msg


# ----------------------------------------------------------------------------- whole runs


@pytest.mark.spark
@pytest.mark.slow
def test_run_reads_the_layout_any_file_name_and_ignores_checksums(spark, tmp_path):
    data = tmp_path / "data"
    _write_catalog(data)
    raw = data / "raw" / "plays"
    for i, name in enumerate(WEIRD_NAMES):
        if name.endswith(".jsonl"):
            (raw / name).write_text(json.dumps(_play(f"n{i}")) + "\n")
        else:
            _csv(raw / name, f"n{i}")
    _csv(raw / "2026-11-10" / "plays.csv", "dated")
    _csv(raw / "day=2026-11-11" / "plays.csv", "hive")
    for folder in ("_rejected", ".trash", "misc", "2026-11-10/_tmp"):
        _csv(raw / folder / "plays.csv", "never")
    _parquet(raw / "good [1].parquet", user_id=["pq"])
    (raw / ".good [1].parquet.crc").write_bytes(_spark_crc(spark, tmp_path)[:10])
    metrics = ingest.run(spark, make_config(data, tmp_path / "wh", ingest={"max_bad_share": 1.0}), "2026-W47")
    plays = pq.read_table(tmp_path / "wh" / "plays").to_pandas()
    assert sorted(plays["user_id"]) == sorted([f"n{i}" for i in range(len(WEIRD_NAMES))] + ["dated", "hive", "pq"])
    assert metrics["ignored_files"] == 5 and metrics["reasons"] == {}
    assert metrics["files"] == {"csv": 13, "json": 1, "parquet": 1}
    assert not [p for p in (tmp_path / "wh" / "quarantine").iterdir() if p.name.startswith("_")]  # links removed


@pytest.mark.spark
@pytest.mark.slow
def test_run_quarantines_missing_ids_nested_values_and_ambiguous_columns(spark, tmp_path):
    data = tmp_path / "data"
    _write_catalog(data)
    raw = data / "raw" / "plays"
    raw.mkdir(parents=True)
    (raw / "ids.csv").write_text(HEADER + "NULL,t1,2026-11-09T08:00:00Z,1\nu1,N/A,2026-11-09T08:00:00Z,1\n")
    (raw / "case.csv").write_text(HEADER.strip() + ",MS_PLAYED\nu2,t1,2026-11-09T08:00:00Z,1000,900000\n")
    (raw / "j.jsonl").write_text(json.dumps(_play(["u3"])) + "\n" + json.dumps(_play("u4", at=1762768800)) + "\n")
    _parquet(raw / "list.parquet", user_id=[["u_list"]])
    _parquet(raw / "case.parquet", MS_PLAYED=[2])
    _csv(raw / "good.csv", "good")
    metrics = ingest.run(spark, make_config(data, tmp_path / "wh", ingest={"max_bad_share": 1.0}), "2026-W47")
    q = pq.read_table(tmp_path / "wh" / "quarantine" / "week=2026-W47").to_pandas()
    got = sorted(zip(q["source_file"].map(os.path.basename), q["line"].astype("Int64").tolist(), q["reason"]))
    assert got == sorted(
        [
            ("ids.csv", 2, "missing_user_id"),
            ("ids.csv", 3, "missing_track_id"),
            ("case.csv", 2, "ambiguous_columns:ms_played+MS_PLAYED"),
            ("j.jsonl", 1, "non_scalar_value:user_id"),
            ("j.jsonl", 2, "played_before_service_start"),
            ("list.parquet", pd.NA, "non_scalar_column:user_id"),
            ("case.parquet", pd.NA, "ambiguous_columns:ms_played+MS_PLAYED"),
        ]
    )
    assert pq.read_table(tmp_path / "wh" / "plays").to_pandas()["user_id"].tolist() == ["good"]
    assert "look like epoch seconds (j.jsonl)" in metrics["hints"][0]


@pytest.mark.spark
@pytest.mark.slow
def test_a_run_failing_on_epoch_seconds_says_so_and_names_the_setting(spark, tmp_path):
    data = tmp_path / "data"
    _write_catalog(data)
    raw = data / "raw" / "plays"
    raw.mkdir(parents=True)
    (raw / "s.csv").write_text(HEADER + "".join(f"u{i},t1,{1762768800 + 60 * i},200000\n" for i in range(5)))
    with pytest.raises(ingest.IngestError) as err:
        ingest.run(spark, make_config(data, tmp_path / "wh"), "2026-W47")
    msg = str(err.value)
    assert "look like epoch seconds (s.csv): played_at must be epoch milliseconds or ISO-8601" in msg
    assert "ingest.service_start" in msg and "DW__INGEST__SERVICE_START=YYYY-MM-DD" in msg
