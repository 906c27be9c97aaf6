"""Saves (raw/saves -> the saves table): each rule's known answer, the first save kept, and reading a week back."""

import datetime as dt
import gzip
import json

import pandas as pd
import pytest

from jobs.warehouse import saves
from jobs.warehouse.store import Warehouse

UTC = dt.UTC
START = dt.datetime(2008, 10, 7, tzinfo=UTC)
CUT = dt.datetime(2026, 11, 16, tzinfo=UTC)  # 2026-W47
TRACKS = {"t1", "t2"}


def _ms(*ymdh):
    return int(dt.datetime(*ymdh, tzinfo=UTC).timestamp() * 1000)


def _data(tmp_path):
    folder = tmp_path / "data" / "raw" / "saves"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_bytes(
        "\ufeffUser_ID,track_id,SAVED_AT\r\n"  # a BOM, CRLF, the header in any case
        "u1,t1,2026-11-09T08:00:00Z\r\n"  # 2: good, but a later save of the pair than line 3
        "u1,t1,2026-11-08T08:00:00Z\r\n"  # 3: the first save: kept
        ",t1,2026-11-09T08:00:00Z\r\n"  # 4: missing user
        "u2,NULL,2026-11-09T08:00:00Z\r\n"  # 5: missing track
        "u2,t2,yesterday\r\n"  # 6: bad time
        "u2,t2\r\n"  # 7: a field short
        "u3,t9,2026-11-09T08:00:00Z\r\n"  # 8: not in the catalog
        "u4,t1,2001-01-01\r\n"  # 9: before the service
        "u5,t1,2026-11-20T00:00:00Z\r\n"  # 10: after the cutoff: a later week's, not bad
        "u6,t1,2099-01-01\r\n"  # 11: far in the future
        "\r\n"  # 12: blank, skipped
        f" u7 ,t2,{_ms(2026, 11, 10, 12)}\r\n".encode()  # 13: trimmed, epoch ms
        + b"u8,t1,caf\xe9\r\n"  # 14: Latin-1
    )
    (folder / "day=2026-11-10").mkdir()
    (folder / "day=2026-11-10" / "b.jsonl.gz").write_bytes(
        gzip.compress(
            (
                json.dumps({"user_id": "u8", "TRACK_ID": "t1", "saved_at": _ms(2026, 11, 10, 9)})
                + "\n{not json\n"
                + json.dumps({"user_id": ["x"], "track_id": "t1", "saved_at": 1})
                + "\n"
                + json.dumps({"user_id": "a", "USER_ID": "b", "track_id": "t1", "saved_at": 1})
                + "\n"
                + json.dumps({"user_id": "u9", "track_id": "t2", "saved_at": "2026-11-10 10:00:00+01:00"})
                + "\n"
            ).encode()
        )
    )
    (folder / "c.parquet").write_bytes(b"PAR1")  # not a saves format: skipped
    (folder / "_rejected").mkdir()
    (folder / "_rejected" / "old.csv").write_text("user_id,track_id,saved_at\nu1,t1,1\n")  # ignored
    (folder / "missing.csv").write_text("user_id,track\nu1,t1\n")
    return tmp_path / "data"


def test_each_bad_save_gets_its_reason_with_file_and_line_and_the_first_save_is_kept(tmp_path):
    result = saves.ingest_saves(_data(tmp_path), TRACKS, START, CUT)
    got = result.saves.assign(saved_at=result.saves["saved_at"].map(lambda t: t.isoformat()))
    assert got.to_dict("records") == [
        {"user_id": "u1", "track_id": "t1", "saved_at": "2026-11-08T08:00:00+00:00"},
        {"user_id": "u7", "track_id": "t2", "saved_at": "2026-11-10T12:00:00+00:00"},
        {"user_id": "u8", "track_id": "t1", "saved_at": "2026-11-10T09:00:00+00:00"},
        {"user_id": "u9", "track_id": "t2", "saved_at": "2026-11-10T09:00:00+00:00"},
    ]
    q = result.quarantine
    q = q.assign(file=q["source_file"].str.rsplit("/", n=1).str[-1])
    assert sorted(zip(q["file"], q["line"], q["reason"])) == sorted(
        [
            ("a.csv", 4, "missing_user_id"),
            ("a.csv", 5, "missing_track_id"),
            ("a.csv", 6, "bad_saved_at"),
            ("a.csv", 7, "malformed_csv"),
            ("a.csv", 8, "unknown_track_id"),
            ("a.csv", 9, "saved_before_service_start"),
            ("a.csv", 11, "saved_in_future"),
            ("a.csv", 14, "bad_encoding"),
            ("b.jsonl.gz", 2, "malformed_json"),
            ("b.jsonl.gz", 3, "non_scalar_value:user_id"),
            ("b.jsonl.gz", 4, "ambiguous_columns:user_id+USER_ID"),
            ("missing.csv", 2, "missing_columns:track_id+saved_at"),
        ]
    )
    assert q.set_index("line").loc[6, "raw"] == "u2,t2,yesterday"
    assert q["source_file"].str.startswith("file:/").all()
    m = result.metrics
    assert (m["files"], m["read"], m["good"], m["quarantined"], m["after_cutoff"]) == (3, 18, 5, 12, 1)
    assert (m["duplicates_dropped"], m["written"], m["ignored_files"]) == (1, 4, 1)
    assert m["reasons"]["malformed_csv"] == 1 and m["by_file"]["day=2026-11-10/b.jsonl.gz"]["malformed_json"] == 1
    assert [p.rsplit("/", 1)[-1] for p in m["skipped_files"]] == ["c.parquet"]


def test_no_saves_folder_gives_no_rows(tmp_path):
    result = saves.ingest_saves(tmp_path, TRACKS, START, CUT)
    assert result.saves.empty and list(result.saves.columns) == ["user_id", "track_id", "saved_at"]
    assert result.quarantine.empty
    assert (result.metrics["files"], result.metrics["read"], result.metrics["written"]) == (0, 0, 0)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2026-11-10", "2026-11-10T00:00:00+00:00"),
        ("2026-11-10T10:00", "2026-11-10T10:00:00+00:00"),
        ("2026-11-10T10:00:00.1234567Z", "2026-11-10T10:00:00.123456+00:00"),
        ("2026-11-10T10:00:00+0100", "2026-11-10T09:00:00+00:00"),
        (" 1762768800000 ", "2025-11-10T10:00:00+00:00"),
        ("1762768800", "1970-01-21T09:39:28.800000+00:00"),  # epoch seconds read as ms: before the service
        ("2026-02-30", None),
        ("-1", None),
        ("10/11/2026", None),
        (None, None),
    ],
)
def test_saved_at_follows_the_played_at_rules(text, want):
    got = saves.parse_time(text)
    assert (got.isoformat() if got is not None else None) == want


def test_read_saves_round_trips_the_partition_and_a_missing_one_is_empty(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    empty = saves.read_saves(wh, "2026-W47")
    assert empty.empty and list(empty.columns) == ["user_id", "track_id", "saved_at"]
    frame = pd.DataFrame({"user_id": ["u1"], "track_id": ["t1"], "saved_at": [pd.Timestamp("2026-11-08T08:00:00Z")]})
    wh.write("saves", "2026-W47", frame)
    got = saves.read_saves(tmp_path / "wh", "2026-W47")  # a path works too
    assert got.to_dict("records") == frame.to_dict("records")
    wh.write("saves", "2026-W48", saves.empty_saves())  # an empty week is a partition without rows
    assert saves.read_saves(wh, "2026-W48").empty and wh.has("saves", "2026-W48")
