"""Importers on hostile input: truncated, damaged and deeply nested JSON, encodings, a partial
extended Spotify history, links out of SRC, a DEST holding someone else's files, and the
publish week a damaged file moves (each on a small hand-made export)."""

import gzip
import json

from test_importers import _ext, aid, assert_ingest_compatible, contents, run, tid, write

E9 = b"\xe9"  # Latin-1 for the é of Beyoncé


def _basic(day, hhmm, artist, track, ms=60000):
    return {"endTime": f"2024-{day} {hhmm}", "artistName": artist, "trackName": track, "msPlayed": ms}


def _dumps(entries):  # Spotify's own layout: an indented array
    return json.dumps(entries, indent=2, ensure_ascii=False)


# ----------------------------------------------------------------------------- damaged JSON


def test_a_truncated_spotify_file_keeps_its_complete_entries(tmp_path, capsys):
    src = tmp_path / "export"
    good = [_basic("01-01", f"10:0{i}", "A", f"Song {i}") for i in range(3)]
    write(src / "StreamingHistory_music_0.json", good)
    entries = [_basic("01-10", f"12:0{i}", "B", f"Tune {i}") for i in range(5)]
    text = _dumps(entries)
    cut = text.index('"trackName": "Tune 4"') + len('"trackName": "Tu')  # inside the 5th entry's string
    write(src / "StreamingHistory_music_1.json", text[:cut])
    dest = tmp_path / "out"
    rc, out, _ = run(capsys, "spotify", src, dest)
    assert rc == 0
    plays, _, _, report, _ = contents(dest)
    assert len(plays) == 3 + 4  # the 4 complete entries before the damage are kept (before: 3, the file dropped)
    assert report["skipped"] == {"truncated_json": 1}  # entries lost, not files
    start = text.rindex("{", 0, cut)  # the lost entry
    string = text.index('"Tu', start)
    [damage] = report["damaged_files"]
    assert damage["file"] == "StreamingHistory_music_1.json" and damage["reason"] == "truncated_json"
    assert damage["offset"] == string and damage["entries_lost"] == 1
    assert damage["text"].startswith(f"truncated_json at character {string} (line ")
    assert "Unterminated string" in damage["text"] and "entry 5" in damage["text"]
    assert report["examples"]["truncated_json"] == [{k: v for k, v in damage.items() if k != "reason"}]
    assert f"lost: 1 entry of StreamingHistory_music_1.json (truncated_json at character {string}" in out
    assert_ingest_compatible(dest)


def test_damage_inside_a_spotify_file_counts_the_entries_after_it(tmp_path, capsys):
    src = tmp_path / "export"
    uri = "spotify:track:4uLU6hMCjMI75M1A2tKUQC"
    entries = [_ext(f"2024-02-0{i + 1}T10:00:00Z", 200000, "Song", "Artist", "Album", uri) for i in range(6)]
    text = _dumps(entries)
    third = text.index("{", text.index('"ts": "2024-02-03') - 20)
    bad = text.index('"ms_played"', third)
    damaged = text[:bad] + "\x00\x00garbage" + text[bad:]  # a zeroed block in the 3rd entry
    write(src / "Spotify Extended Streaming History" / "Streaming_History_Audio_2024_0.json", damaged)
    dest = tmp_path / "out"
    rc, out, _ = run(capsys, "spotify", src, dest)
    assert rc == 0
    plays, _, _, report, _ = contents(dest)
    assert [p[2][:10] for p in plays] == ["2024-02-01", "2024-02-02"]  # before: 0 plays, the file dropped
    assert report["skipped"] == {"malformed_json": 4}  # entries 3 to 6
    [damage] = report["damaged_files"]
    assert (damage["offset"], damage["entries_lost"]) == (bad, 4)
    assert "lost from entry 3 on" in damage["text"]
    assert "203.0.113.7" not in (dest / "import_report.json").read_text()  # no text of the entry quoted
    assert "lost: 4 entries of Spotify Extended Streaming History/Streaming_History_Audio_2024_0.json" in out


def test_a_truncated_endsong_and_listenbrainz_array(tmp_path, capsys):
    src = tmp_path / "export"
    ends = [_ext("2020-05-01T10:00:00Z", 100000, "S", "A"), _ext("2020-05-01T11:00:00Z", 100000, "T", "A")]
    text = _dumps(ends)
    write(src / "endsong_0.json", text[: text.rindex("}")])  # cut before the last brace
    rc, *_ = run(capsys, "spotify", src, tmp_path / "sp")
    assert rc == 0 and contents(tmp_path / "sp")[3]["skipped"] == {"truncated_json": 1}
    assert len(contents(tmp_path / "sp")[0]) == 1

    listens = [
        {"listened_at": 1704067200 + 3600 * i, "track_metadata": {"artist_name": "A", "track_name": f"T{i}"}}
        for i in range(4)
    ]
    text = json.dumps(listens, indent=1)
    cut = text.index('"listened_at": 1704074400') + 5  # inside the 3rd listen
    write(tmp_path / "lb" / "alice_lb-2024-01-01.json", text[:cut])
    rc, out, _ = run(capsys, "listenbrainz", tmp_path / "lb", tmp_path / "lbout")
    plays, _, _, report, _ = contents(tmp_path / "lbout")
    assert rc == 0 and len(plays) == 2  # before: malformed_json=1, nothing imported (exit 1)
    assert report["skipped"] == {"truncated_json": 1}
    assert report["damaged_files"][0]["file"] == "alice_lb-2024-01-01.json"
    assert "lost: 1 entry of alice_lb-2024-01-01.json (truncated_json at character" in out


def test_a_file_damaged_at_its_start_refuses_the_import(tmp_path, capsys):
    src = tmp_path / "export"
    write(src / "StreamingHistory_music_0.json", [_basic("01-01", "10:00", "A", "S")])
    cut = '[\n  {"endTime": "2024-01-02 10:00", "artistName": "C"\n'
    write(src / "StreamingHistory_music_1.json", cut)
    dest = tmp_path / "out"
    rc, out, err = run(capsys, "spotify", src, dest)
    assert rc == 2 and out == "" and err.count("\n") == 1  # before: exit 0, malformed_json=1, the file dropped
    at = len(cut)
    assert err.startswith(f"error: StreamingHistory_music_1.json: truncated_json at character {at} (line 3, column 1)")
    assert "whole file would be lost" in err and not dest.exists()
    write(src / "StreamingHistory_music_1.json", b"\x00\x00\x00\x00")
    rc, _, err = run(capsys, "spotify", src, dest)
    assert rc == 2 and "StreamingHistory_music_1.json: malformed_json at character 0 (line 1, column 1)" in err


def test_deeply_nested_json_is_a_one_line_error(tmp_path, capsys):
    deep = "[" * 200_000
    write(tmp_path / "sp" / "StreamingHistory0.json", deep)  # before: a RecursionError traceback
    rc, out, err = run(capsys, "spotify", tmp_path / "sp", tmp_path / "out")
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: StreamingHistory0.json: nested_too_deeply at character 1 ")
    write(tmp_path / "lb" / "listens.json", deep)
    rc, _, err = run(capsys, "listenbrainz", tmp_path / "lb", tmp_path / "out")
    assert rc == 2 and "listens.json: nested_too_deeply" in err and err.count("\n") == 1

    good = {"listened_at": 1704067200, "track_metadata": {"artist_name": "A", "track_name": "B"}}
    write(tmp_path / "lb2" / "listens.jsonl", json.dumps(good) + "\n" + deep + "\n" + json.dumps(good) + "\n")
    rc, *_ = run(capsys, "listenbrainz", tmp_path / "lb2", tmp_path / "out2")
    plays, _, _, report, _ = contents(tmp_path / "out2")
    assert rc == 0 and len(plays) == 2 and report["skipped"] == {"nested_too_deeply": 1}
    assert report["examples"]["nested_too_deeply"][0]["line"] == 2

    entries = _dumps([_basic("01-01", "10:00", "A", "S")])
    write(tmp_path / "sp2" / "StreamingHistory0.json", entries[:-1] + ", " + deep)
    rc, out, _ = run(capsys, "spotify", tmp_path / "sp2", tmp_path / "out3")
    assert rc == 0 and len(contents(tmp_path / "out3")[0]) == 1
    assert "lost: 1 entry of StreamingHistory0.json (nested_too_deeply at character" in out


# ----------------------------------------------------------------------------- encodings


def test_utf8_and_utf16_with_a_bom_are_read(tmp_path, capsys):
    src = tmp_path / "export"
    text = _dumps([_basic("01-01", "10:00", "Beyoncé", "Halo"), _basic("01-02", "10:00", "坂本龍一", "Merry")])
    write(src / "a" / "StreamingHistory0.json", b"\xef\xbb\xbf" + text.encode("utf-8"))
    write(src / "b" / "StreamingHistory0.json", b"\xff\xfe" + text.encode("utf-16-le"))
    write(src / "c" / "StreamingHistory0.json", b"\xfe\xff" + text.encode("utf-16-be"))
    rc, *_ = run(capsys, "spotify", src, tmp_path / "out")
    assert rc == 0  # before: the UTF-16 files were malformed_json, their plays lost
    plays, _, artists, report, _ = contents(tmp_path / "out")
    assert [(p[0], p[1]) for p in plays] == [
        (u, t) for u in "abc" for t in (tid("Beyoncé", "Halo"), tid("坂本龍一", "Merry"))
    ]
    assert sorted(artists) == sorted([[aid("Beyoncé"), "Beyoncé"], [aid("坂本龍一"), "坂本龍一"]])
    assert report["skipped"] == {}

    line = "u1\t2009-05-04T23:08:57Z\t\tBeyoncé\t\tHalo\n"
    write(tmp_path / "lfm" / "scrobbles.tsv", b"\xfe\xff" + line.encode("utf-16-be"))
    assert run(capsys, "lastfm1k", tmp_path / "lfm", tmp_path / "out2")[0] == 0
    assert contents(tmp_path / "out2")[0] == [["u1", tid("Beyoncé", "Halo"), "2009-05-04T23:08:57Z", "180000"]]


def test_latin1_bytes_refuse_the_import_naming_file_and_offset(tmp_path, capsys):
    raw = _dumps([_basic("01-01", "10:00", "Beyonc\x00", "Halo")]).encode().replace(b"\\u0000", b"\xe9")
    write(tmp_path / "sp" / "MyData" / "StreamingHistory0.json", raw)
    rc, out, err = run(capsys, "spotify", tmp_path / "sp", tmp_path / "out")
    at = raw.index(E9)
    assert rc == 2 and out == "" and err.count("\n") == 1  # before: exit 0, artist "Beyonc\ufffd", a new id
    assert f"MyData/StreamingHistory0.json: byte 0xE9 at byte offset {at} is not UTF-8" in err
    assert not (tmp_path / "out").exists()

    tsv = b"u1\t2009-05-04T23:08:57Z\t\tA\t\tB\nu1\t2009-05-05T23:08:57Z\t\tCaf\xe9\t\tX\n"
    write(tmp_path / "lfm" / "scrobbles.tsv.gz", gzip.compress(tsv))
    rc, _, err = run(capsys, "lastfm1k", tmp_path / "lfm", tmp_path / "out")
    assert rc == 2  # before: exit 0, bad_encoding=1
    assert f"scrobbles.tsv.gz: byte 0xE9 at byte offset {tsv.index(E9)} of its decompressed bytes" in err

    listen = b'{"listened_at": 1704067200, "track_metadata": {"artist_name": "Beyonc\xe9", "track_name": "Halo"}}\n'
    write(tmp_path / "lb" / "listens.jsonl", listen)
    rc, _, err = run(capsys, "listenbrainz", tmp_path / "lb", tmp_path / "out")
    assert rc == 2 and f"listens.jsonl: byte 0xE9 at byte offset {listen.index(E9)}" in err

    write(tmp_path / "ml" / "u.item", b"1|Caf\xe9 (1993)|||http://y|0\n")  # Latin-1 by definition: fine
    udata = b"1\t1\t5\t874965758\n\xe9\t1\t5\t874965758\n"
    write(tmp_path / "ml" / "u.data", udata)  # u.data is not Latin-1
    rc, _, err = run(capsys, "movielens", tmp_path / "ml", tmp_path / "out")
    assert rc == 2 and f"u.data: byte 0xE9 at byte offset {udata.index(E9)} is not UTF-8" in err

    cut = "u1\t2009-05-04T23:08:57Z\t\tBeyoncé".encode()[:-1]  # ends inside a two-byte character
    write(tmp_path / "lfm2" / "scrobbles.tsv", cut)
    rc, _, err = run(capsys, "lastfm1k", tmp_path / "lfm2", tmp_path / "out")
    assert rc == 2 and f"byte 0xC3 at byte offset {len(cut) - 1} is not UTF-8" in err
    write(tmp_path / "lfm2" / "scrobbles.tsv", b"\xff\xfe" + "u1\t\ud800".encode("utf-16-le", "surrogatepass"))
    rc, _, err = run(capsys, "lastfm1k", tmp_path / "lfm2", tmp_path / "out")
    assert rc == 2 and "byte 0x00 at byte offset 8 is not UTF-16" in err
    text = _dumps([_basic("01-01", "10:00", "A", "S")])
    write(tmp_path / "sp2" / "StreamingHistory0.json", text.encode("utf-16-le"))  # no byte-order mark
    rc, _, err = run(capsys, "spotify", tmp_path / "sp2", tmp_path / "out")
    assert rc == 2 and "StreamingHistory0.json: byte 0x00 at byte offset 1: UTF-16 without a byte-order mark" in err


# ----------------------------------------------------------------------------- basic beside extended


def test_a_partial_extended_history_covers_only_its_own_time(tmp_path, capsys):
    src = tmp_path / "bob"
    uri = "spotify:track:4uLU6hMCjMI75M1A2tKUQC"
    extended = [  # a partial extended history: three plays on 2 and 4 March
        _ext("2024-03-02T10:00:30Z", 60000, "Hit", "Band", "LP", uri),
        _ext("2024-03-02T10:05:10Z", 60000, "Hit", "Band", "LP", uri),
        _ext("2024-03-04T10:01:30Z", 60000, "Hit", "Band", "LP", uri),
    ]
    write(src / "Streaming_History_Audio_2024_0.json", extended)
    basic = [
        _basic("03-01", "12:00", "Band", "Hit"),  # before the extended data begins
        _basic("03-02", "08:00", "Band", "Hit"),  # the same day, but before it begins
        _basic("03-02", "10:05", "Band", "Hit"),  # covered
        _basic("03-03", "09:00", "Band", "Hit"),  # a day the extended history has no play of
        _basic("03-04", "10:01", "Band", "Hit"),  # covered
        _basic("03-05", "09:00", "Band", "Hit"),  # after it ends
    ]
    write(src / "StreamingHistory_music_0.json", basic)
    rc, *_ = run(capsys, "spotify", src, tmp_path / "out")
    assert rc == 0
    plays, _, _, report, _ = contents(tmp_path / "out")
    kept = [p[2] for p in plays if p[1] == tid("Band", "Hit")]
    # before: covered_by_extended=5, only 03-05 kept
    assert kept == ["2024-03-01T11:59:00Z", "2024-03-02T07:59:00Z", "2024-03-03T08:59:00Z", "2024-03-05T08:59:00Z"]
    assert report["skipped"] == {"covered_by_extended": 2}
    assert [e["entry"] for e in report["examples"]["covered_by_extended"]] == [3, 5]
    assert len(plays) == 3 + 4


# ----------------------------------------------------------------------------- links out of SRC


def test_links_out_of_src_are_not_followed_unless_asked(tmp_path, capsys):
    secret = write(tmp_path / "elsewhere" / "passwd", "root:x:0:0:TOPSECRET:/root:/bin/bash\n")
    write(tmp_path / "elsewhere" / "more" / "c.tsv", "u3\t2009-05-06T00:00:00Z\t\tC\t\tD\n")
    src = tmp_path / "src"
    write(src / "a.tsv", "u1\t2009-05-04T23:08:57Z\t\tA\t\tB\n")
    (src / "b.tsv").symlink_to(secret)
    (src / "more").symlink_to(tmp_path / "elsewhere" / "more")
    (src / "inside.tsv").symlink_to(src / "a.tsv")  # a second path to a.tsv: the file is read once
    rc, out, _ = run(capsys, "lastfm1k", src, tmp_path / "out")
    assert rc == 0  # before: b.tsv was read and its line quoted as a malformed_line example
    text = (tmp_path / "out" / "import_report.json").read_text()
    assert "TOPSECRET" not in text and "TOPSECRET" not in out
    plays, _, _, report, _ = contents(tmp_path / "out")
    assert [p[0] for p in plays] == ["u1"]
    assert report["skipped"] == {"link_outside_src": 2}
    assert [e["file"] for e in report["examples"]["link_outside_src"]] == ["b.tsv", "more/"]
    assert "not read: 2 links to outside SRC: b.tsv, more/ (--follow-links reads them)" in out

    rc, out, _ = run(capsys, "lastfm1k", src, tmp_path / "out2", "--follow-links")
    plays, _, _, report, _ = contents(tmp_path / "out2")
    assert rc == 0 and sorted(p[0] for p in plays) == ["u1", "u3"]
    assert report["skipped"] == {"malformed_line": 1}  # the file was read, but is not quoted
    assert "TOPSECRET" not in (tmp_path / "out2" / "import_report.json").read_text()

    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "scrobbles.tsv").symlink_to(tmp_path / "elsewhere" / "more" / "c.tsv")
    rc, _, err = run(capsys, "lastfm1k", alone, tmp_path / "out3")
    assert rc == 2 and "links to outside SRC not followed: scrobbles.tsv" in err


# ----------------------------------------------------------------------------- --force


def test_force_replaces_only_what_an_import_wrote(tmp_path, capsys):
    src = write(tmp_path / "in" / "scrobbles.tsv", "u1\t2009-05-04T23:08:57Z\t\tA\t\tB\n").parent
    dest = tmp_path / "out"
    assert run(capsys, "lastfm1k", src, dest)[0] == 0
    manifest = json.loads((dest / "_import_manifest.json").read_text())
    assert manifest["files"] == [
        "catalog/artists.csv",
        "catalog/tracks.csv",
        "import_report.json",
        "raw/plays/plays-00001.csv",
        "world.json",
    ]
    assert_ingest_compatible(dest)  # the manifest is not taken for data
    write(dest / "notes" / "todo.txt", "mine")
    rc, out, err = run(capsys, "lastfm1k", src, dest, "--force")
    assert rc == 2 and out == "" and err.count("\n") == 1  # before: exit 0, notes/todo.txt deleted
    assert "holds files no import wrote (notes/todo.txt)" in err
    assert (dest / "notes" / "todo.txt").read_text() == "mine" and (dest / "world.json").exists()
    for name in ("a", "b", "c"):
        write(dest / "raw" / "plays" / f"{name}.csv", "x")
    rc, _, err = run(capsys, "lastfm1k", src, dest, "--force")
    assert rc == 2 and "(notes/todo.txt, raw/plays/a.csv, raw/plays/b.csv and 1 more)" in err
    for name in ("a", "b", "c"):
        (dest / "raw" / "plays" / f"{name}.csv").unlink()
    (dest / "notes" / "todo.txt").unlink()
    (dest / "notes").rmdir()
    assert run(capsys, "lastfm1k", src, dest, "--force")[0] == 0


# ----------------------------------------------------------------------------- the publish week


def test_the_summary_shows_the_week_and_what_damage_moved_it(tmp_path, capsys):
    src = tmp_path / "export"
    write(src / "StreamingHistory_music_0.json", [_basic("01-03", "10:00", "A", "S")])
    later = [_basic("01-20", "10:00", "A", "S"), _basic("03-01", "10:00", "A", "S")]
    text = _dumps(later)
    write(src / "StreamingHistory_music_1.json", text[: text.index("03-01") + 2])  # the March entry is cut
    dest = tmp_path / "out"
    rc, out, _ = run(capsys, "spotify", src, dest)
    assert rc == 0
    lines = out.splitlines()
    assert lines[2] == (
        f"  plays 2024-01-03 .. 2024-01-20 UTC; the latest week to publish: 2024-W04 "
        f"(make run DATA={dest} WEEK=2024-W04)"
    )
    assert lines[3].startswith("  lost: 1 entry of StreamingHistory_music_1.json (truncated_json at character ")
    assert lines[3].endswith("the plays and the week above come from the entries before it")
    assert contents(dest)[4]["publish_week"] == "2024-W04"


# ----------------------------------------------------------------------------- damaged archives, DEST itself


def test_a_damaged_gzip_file_fails_naming_it(tmp_path, capsys):
    import gzip

    src = tmp_path / "src"
    write(src / "a.tsv", "u1\t2009-05-04T23:08:57Z\t\tA\t\tB\n")
    (src / "b.tsv.gz").write_bytes(gzip.compress(b"u2\t2009-05-05T00:00:00Z\t\tA\t\tB\n" * 50)[:40])  # cut short
    rc, _, err = run(capsys, "lastfm1k", src, tmp_path / "out")
    assert rc == 2 and f"{src / 'b.tsv.gz'}: not a whole gzip file" in err and not (tmp_path / "out").exists()
    (src / "b.tsv.gz").write_bytes(b"not gzip at all")
    rc, _, err = run(capsys, "lastfm1k", src, tmp_path / "out")
    assert rc == 2 and "b.tsv.gz: not a whole gzip file" in err


def test_a_dest_that_is_a_link_is_refused(tmp_path, capsys):
    src = write(tmp_path / "in" / "scrobbles.tsv", "u1\t2009-05-04T23:08:57Z\t\tA\t\tB\n").parent
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "real")
    rc, _, err = run(capsys, "lastfm1k", src, tmp_path / "out")
    assert rc == 2 and "is a symbolic link; give the folder itself" in err
    assert (tmp_path / "out").is_symlink() and not list((tmp_path / "real").iterdir())


def test_one_import_into_a_dest_at_a_time_and_a_killed_ones_litter_is_removed(tmp_path, capsys):
    import os
    import signal
    import subprocess
    import sys

    src = write(tmp_path / "in" / "scrobbles.tsv", "u1\t2009-05-04T23:08:57Z\t\tA\t\tB\n").parent
    dest = tmp_path / "out"
    hold = (
        "import sys, time\nfrom pathlib import Path\nfrom jobs.importers.contract import one_import_at_a_time\n"
        "with one_import_at_a_time(Path(sys.argv[1])):\n    print('holding', flush=True); time.sleep(60)\n"
    )
    other = subprocess.Popen([sys.executable, "-c", hold, str(dest)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "holding"
        rc, _, err = run(capsys, "lastfm1k", src, dest)
        assert rc == 2 and "is being written by another import" in err and not dest.exists()
        (tmp_path / "_staging-out-0123456789ab").mkdir()  # what an import killed mid-way leaves
    finally:
        os.kill(other.pid, signal.SIGKILL)
        other.wait()
    rc, _, _ = run(capsys, "lastfm1k", src, dest)
    assert rc == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]
