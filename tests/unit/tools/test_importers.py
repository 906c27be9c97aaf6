"""Importers: each format's hand-made export -> the whole contract it writes (known answers),
the id rule, refusals, atomicity, determinism, and that ingest's catalog reader accepts it."""

import csv
import datetime as dt
import gzip
import hashlib
import json
import re
import unicodedata

import pytest

from jobs.importers import contract, listenbrainz, spotify
from jobs.importers.__main__ import main
from jobs.importers.records import derived_artist_id, derived_track_id
from jobs.warehouse.catalog import read_catalog
from jobs.warehouse.quarantine import CONTEXT_PATTERN

# ingest.validate's pattern for an ISO played_at
INGEST_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def _norm(s):
    return unicodedata.normalize("NFC", " ".join(s.split())).casefold()


def tid(artist, title):  # the documented rule, written out again
    return "t_" + hashlib.sha1((_norm(artist) + "\x1f" + _norm(title)).encode()).hexdigest()[:16]


def aid(artist):
    return "a_" + hashlib.sha1(_norm(artist).encode()).hexdigest()[:16]


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content, indent=1), encoding="utf-8")
    return path


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


PLAY_HEADER = ["user_id", "track_id", "played_at", "ms_played"]


def contents(dest):
    """(plays rows, tracks rows, artists rows, report, world) of an import, headers checked: a
    Spotify import's plays have the context column (5 fields a row), the others' the four."""
    plays = []
    with_context = json.loads((dest / "world.json").read_text())["imported_from"] == "spotify"
    for path in sorted((dest / "raw" / "plays").iterdir()):
        rows = list(csv.reader(path.open(encoding="utf-8")))
        assert rows[0] == PLAY_HEADER + ["context"] * with_context
        assert all(len(row) == len(rows[0]) for row in rows)
        plays += rows[1:]
    tracks = list(csv.reader((dest / "catalog" / "tracks.csv").open(encoding="utf-8")))
    artists = list(csv.reader((dest / "catalog" / "artists.csv").open(encoding="utf-8")))
    assert tracks[0] == list(contract.TRACK_COLUMNS) and artists[0] == ["artist_id", "name"]
    report = json.loads((dest / "import_report.json").read_text())
    world = json.loads((dest / "world.json").read_text())
    assert world["publish_week"] == report["publish_week"]
    return plays, tracks[1:], artists[1:], report, world


def assert_ingest_compatible(dest):
    tracks, _ = read_catalog(dest)  # raises CatalogError on any contract breach
    plays, *_ = contents(dest)
    known = set(tracks["track_id"])
    for user, track, played_at, ms, *context in plays:
        assert user and track in known and INGEST_ISO.match(played_at)
        assert 0 <= int(ms) <= 86_400_000
        assert context in ([], [""]) or re.fullmatch(CONTEXT_PATTERN, context[0])  # ingest keeps it


# ----------------------------------------------------------------------------- id rule


def test_the_id_rule_is_stable_and_normalises_names():
    assert derived_track_id("The Beatles", "Let It Be") == "t_69cc6673f83a693d"  # fixed forever
    assert derived_artist_id("The Beatles") == "a_2232af6f93a0b9dc" == aid("The Beatles")
    assert derived_track_id("  the   BEATLES ", "let it\tbe") == tid("The Beatles", "Let It Be")
    assert derived_track_id("Beyonce\u0301", "Halo") == derived_track_id("Beyonc\u00e9", "Halo")
    assert derived_track_id("a b", "c") != derived_track_id("a", "b c")  # the separator matters


# ----------------------------------------------------------------------------- spotify


def test_spotify_basic_export(tmp_path, capsys):
    src = tmp_path / "Alice Export"
    write(src / "MyData" / "Userdata.json", {"username": "alice"})  # not a history file
    music = [
        {"endTime": "2024-01-31 23:59", "artistName": "Artist A", "trackName": "Song One", "msPlayed": 185000},
        {"endTime": "2024-02-01 00:10", "artistName": "artist  a", "trackName": "song one", "msPlayed": 1500},
        {"endTime": "2024-02-01 08:00", "artistName": "", "trackName": "X", "msPlayed": 1000},
        {"endTime": "yesterday", "artistName": "B", "trackName": "Y", "msPlayed": 1000},
        {"endTime": "2024-02-01 09:00", "artistName": "B", "trackName": "Y", "msPlayed": "lots"},
        {"endTime": "2024-02-01 09:30", "artistName": "Bjo\u0308rk", "trackName": "Jóga", "msPlayed": 0},
        "oops",
    ]
    write(src / "MyData" / "StreamingHistory_music_0.json", music)
    podcast = [{"endTime": "2024-02-01 07:00", "podcastName": "P", "episodeName": "E", "msPlayed": 600000}]
    write(src / "MyData" / "StreamingHistory_podcast_0.json", podcast)
    dest = tmp_path / "out"
    rc, out, _ = run(capsys, "spotify", src, dest)
    assert rc == 0
    plays, tracks, artists, report, world = contents(dest)
    song, bjork = tid("Artist A", "Song One"), tid("Björk", "Jóga")
    assert plays == [
        ["alice_export", song, "2024-01-31T23:55:55Z", "185000", ""],  # started at endTime - msPlayed
        ["alice_export", song, "2024-02-01T00:09:58Z", "1500", ""],  # 00:09:58.5, whole seconds
        ["alice_export", bjork, "2024-02-01T09:30:00Z", "0", ""],  # the basic history has no context
    ]
    assert sorted(tracks) == sorted(
        [[song, "Song One", aid("Artist A"), "", "", "", ""], [bjork, "Jóga", aid("Björk"), "", "", "", ""]]
    )
    assert sorted(artists) == sorted([[aid("Artist A"), "Artist A"], [aid("Björk"), "Björk"]])  # NFC
    assert report["skipped"] == dict.fromkeys(
        ["bad_ms_played", "bad_timestamp", "missing_artist_name", "not_an_object", "podcast"], 1
    )
    assert report["examples"]["not_an_object"] == [
        {"file": "MyData/StreamingHistory_music_0.json", "entry": 7, "text": "oops"}
    ]
    assert report["ms_played"] == {"source": 3, "duration": 0, "assumed": 0}
    assert (report["listeners"], report["plays"], report["tracks"], report["artists"]) == (1, 3, 2, 2)
    assert world == {
        "publish_week": "2024-W06",
        "imported_from": "spotify",
        "first_play": "2024-01-31T23:55:55Z",
        "last_play": "2024-02-01T09:30:00Z",
    }
    assert "WEEK=2024-W06" in out and "SERVICE_START" not in out  # 2024 is after the service start
    assert_ingest_compatible(dest)


def _ext(ts, ms, track=None, artist=None, album=None, uri=None, **extra):
    private = {"username": "bobby", "ip_addr": "203.0.113.7", "conn_country": "NL"}
    meta = {"master_metadata_track_name": track, "master_metadata_album_artist_name": artist}
    more = {"master_metadata_album_album_name": album, "spotify_track_uri": uri, "episode_name": None}
    flags = {"reason_end": "trackdone", "shuffle": False, "skipped": False, "spotify_episode_uri": None}
    return {"ts": ts, "ms_played": ms, **private, **meta, **more, **flags, **extra}


def test_spotify_extended_and_several_people(tmp_path, capsys):
    src = tmp_path / "people"
    uri, rick, song = "spotify:track:4uLU6hMCjMI75M1A2tKUQC", "Rick Astley", "Never Gonna Give You Up"
    extended = [
        _ext("2024-03-01T10:03:00Z", 180000, song, rick, "Whenever You Need Somebody", uri),
        _ext("2024-03-01T11:00:00Z", 900000, episode_name="Ep 1", spotify_episode_uri="spotify:episode:x1"),
        _ext("2024-03-01T12:00:00Z", 600000, audiobook_title="Book", audiobook_uri="spotify:show:b1"),
        _ext("2024-03-01T13:00:00Z", 1000),  # no metadata at all
        _ext("2024-03-02T09:00:30Z", 30500, song, rick, "Whenever You Need Somebody", uri),
        _ext("2024-03-02T10:00:00Z", 200000, "Demo", "Garage Band"),  # a local file: no URI
    ]
    write(src / "Bob" / "Spotify Extended Streaming History" / "Streaming_History_Audio_2024_0.json", extended)
    basic = [
        {"endTime": "2024-03-01 10:03", "artistName": rick, "trackName": song, "msPlayed": 180000},
        {"endTime": "2024-03-05 12:00", "artistName": rick, "trackName": song, "msPlayed": 60000},
    ]
    write(src / "Bob" / "Spotify Account Data" / "StreamingHistory_music_0.json", basic)
    carol = [{"endTime": "2024-03-03 20:00", "artistName": "Garage Band", "trackName": "demo", "msPlayed": 100000}]
    write(src / "carol" / "StreamingHistory0.json", carol)
    dest = tmp_path / "out"
    assert run(capsys, "spotify", src, dest, "--user", "x")[0] == 2  # --user names one export only
    rc, *_ = run(capsys, "spotify", src, dest)
    assert rc == 0
    plays, tracks, artists, report, _ = contents(dest)
    sp, demo, rick_basic = "sp_4uLU6hMCjMI75M1A2tKUQC", tid("Garage Band", "Demo"), tid(rick, song)
    assert plays == [
        ["bob", sp, "2024-03-01T10:00:00Z", "180000", ""],  # no reason_start, not skipped: no context
        ["bob", sp, "2024-03-02T08:59:59Z", "30500", ""],
        ["bob", demo, "2024-03-02T09:56:40Z", "200000", ""],
        ["bob", rick_basic, "2024-03-05T11:59:00Z", "60000", ""],  # after the extended history ends
        ["carol", demo, "2024-03-03T19:58:20Z", "100000", ""],
    ]
    assert tracks == sorted(
        [
            [sp, song, aid(rick), "Whenever You Need Somebody", "", "", ""],
            [demo, "Demo", aid("Garage Band"), "", "", "", ""],
            [rick_basic, song, aid(rick), "", "", "", ""],
        ]
    )
    assert artists == sorted([[aid(rick), rick], [aid("Garage Band"), "Garage Band"]])
    assert report["skipped"] == {"audiobook": 1, "covered_by_extended": 1, "missing_artist_name": 1, "podcast": 1}
    assert report["files"]["Bob/Spotify Account Data/StreamingHistory_music_0.json"] == {
        "plays": 1,
        "skipped": {"covered_by_extended": 1},
    }
    assert (report["listeners"], report["publish_week"]) == (2, "2024-W11")
    text = (dest / "import_report.json").read_text()
    assert "203.0.113.7" not in text and "bobby" not in text  # private fields stay out of the report
    assert_ingest_compatible(dest)


def test_spotify_extended_history_says_where_a_play_came_from_and_whether_it_was_skipped(tmp_path, capsys):
    src = tmp_path / "dana"
    uri = "spotify:track:4uLU6hMCjMI75M1A2tKUQC"
    cases = [  # (reason_start, reason_end, skipped) -> context
        ("clickrow", "trackdone", False, "spotify.clickrow"),
        ("trackdone", "trackdone", None, "spotify.trackdone"),  # older exports: skipped null
        ("fwdbtn", "endplay", False, "spotify.fwdbtn"),  # started by a skip of the one before: not skipped
        ("clickrow", "fwdbtn", False, "spotify.clickrow.skipped"),  # reason_end says skipped, though 200 s long
        ("trackdone", "backbtn", False, "spotify.trackdone.skipped"),
        ("appload", "endplay", True, "spotify.appload.skipped"),
        ("playbtn", "FwdBtn ", False, "spotify.playbtn.skipped"),  # reason_end read like reason_start
        (None, "trackdone", False, ""),  # nothing said: no context (null)
        (None, "fwdbtn", None, "spotify.skipped"),
        ("", "trackdone", "true", ""),  # only a JSON true is true
        ("  Click Row! ", "trackdone", False, "spotify.click_row"),  # lower-cased, a run of others one _
        ("clickRow", "trackdone", False, "spotify.clickrow"),
        ("remote/cast.v2", "trackdone", False, "spotify.remote_cast_v2"),  # a dot could fake .skipped
        ("evil.skipped", "trackdone", False, "spotify.evil_skipped"),
        ("!!!", "trackdone", False, ""),  # nothing left of it
        (7, "trackdone", False, ""),  # not a text
        ("x" * 100, "trackdone", True, "spotify." + "x" * 48 + ".skipped"),  # cut to the contract's 64
    ]
    extended = [
        _ext(
            f"2024-04-01T10:{i:02d}:00Z", 200000, "Song", "Band", "LP", uri, reason_start=rs, reason_end=re_, skipped=sk
        )
        for i, (rs, re_, sk, _) in enumerate(cases)
    ]
    write(src / "Spotify Extended Streaming History" / "Streaming_History_Audio_2024_0.json", extended)
    basic = [{"endTime": "2024-04-02 10:00", "artistName": "Band", "trackName": "Song", "msPlayed": 1000}]
    write(src / "Spotify Account Data" / "StreamingHistory_music_0.json", basic)  # a day the extended lacks
    dest = tmp_path / "out"
    assert run(capsys, "spotify", src, dest)[0] == 0
    plays, *_ = contents(dest)
    assert [p[4] for p in plays] == [c[3] for c in cases] + [""]  # the basic history: no context
    assert len(cases[-1][3]) == 64 and all(len(p[4]) <= 64 for p in plays)
    assert_ingest_compatible(dest)  # every context a token ingest keeps (none quarantined as bad_context)
    assert spotify.play_context({"reason_start": "clickrow", "skipped": True}) == "spotify.clickrow.skipped"
    assert spotify.play_context({}) == ""

    again = tmp_path / "again"  # a reimport: the same bytes
    assert run(capsys, "spotify", src, again)[0] == 0
    for name in ("raw/plays/plays-00001.csv", "catalog/tracks.csv", "import_report.json"):
        assert (dest / name).read_bytes() == (again / name).read_bytes()
    assert run(capsys, "spotify", src, dest, "--force")[0] == 0
    assert (dest / "raw/plays/plays-00001.csv").read_bytes() == (again / "raw/plays/plays-00001.csv").read_bytes()


def test_spotify_listener_ids_from_folders():
    assert spotify.listener_of("Alice Smith/my_spotify_data/StreamingHistory0.json", "src") == "alice_smith"
    assert spotify.listener_of("MyData/StreamingHistory0.json", "Zoë's Export") == "zoë_s_export"
    assert spotify.listener_of("StreamingHistory0.json", "bob") == "bob"


# ----------------------------------------------------------------------------- Last.fm 1K

DEEP, SAKAMOTO, EMPEROR = (
    "f1b1cf71-bd35-4e99-8624-24a6e15f133a",
    "a7f7df4a-77d8-4f12-8acd-5c60c93f4de8",
    "f7c1f8f8-b935-45ed-8fc8-7def69d92a10",
)


def test_lastfm1k_scrobbles(tmp_path, capsys):
    src = tmp_path / "lastfm-dataset-1K"
    lines = [
        f"user_000001\t2009-05-04T23:08:57Z\t{DEEP}\tDeep Dish\t\tFuck Me Im Famous (Pacha Ibiza)-09-28-2007\n",
        f"user_000001\t2009-05-04T13:54:10Z\t{SAKAMOTO}\t坂本龍一\t{EMPEROR}\tThe Last Emperor (Theme)\n",
        "\n",
        "user_000002\tnot a time\t\tA\t\tB\n",
        "only\tthree\tfields\n",
        "user_000002\t2009-05-05T08:00:00Z\tnot-an-mbid\tSome Artist\t\tSome Track\r\n",
        "user_000003\t2009-05-04T13:52:04Z\t\t\t\tNo Artist\n",
    ]
    raw = "".join(lines).encode() + b"\t2009-05-06T00:00:00Z\t\tA\t\tB\n"
    write(src / "userid-timestamp-artid-artname-traid-traname.tsv", raw)
    write(src / "userid-profile.tsv", "#id\tgender\tage\tcountry\tregistered\nuser_000001\tm\t\tJapan\t\n")
    dest = tmp_path / "out"
    rc, out, _ = run(capsys, "lastfm1k", src, dest)
    assert rc == 0
    plays, tracks, artists, report, _ = contents(dest)
    famous, some = tid("Deep Dish", "Fuck Me Im Famous (Pacha Ibiza)-09-28-2007"), tid("Some Artist", "Some Track")
    assert plays == [
        ["user_000001", famous, "2009-05-04T23:08:57Z", "180000"],  # no duration: the stated constant
        ["user_000001", f"mb_{EMPEROR}", "2009-05-04T13:54:10Z", "180000"],
        ["user_000002", some, "2009-05-05T08:00:00Z", "180000"],
    ]
    assert tracks == sorted(
        [
            [famous, "Fuck Me Im Famous (Pacha Ibiza)-09-28-2007", f"mb_{DEEP}", "", "", "", ""],
            [f"mb_{EMPEROR}", "The Last Emperor (Theme)", f"mb_{SAKAMOTO}", "", "", "", ""],
            [some, "Some Track", aid("Some Artist"), "", "", "", ""],  # "not-an-mbid" is no mbid
        ]
    )
    assert artists == sorted(
        [[f"mb_{DEEP}", "Deep Dish"], [f"mb_{SAKAMOTO}", "坂本龍一"], [aid("Some Artist"), "Some Artist"]]
    )
    assert report["skipped"] == dict.fromkeys(
        ["bad_timestamp", "malformed_line", "missing_artist_name", "missing_user"], 1
    )
    assert report["examples"]["malformed_line"] == [
        {"file": "userid-timestamp-artid-artname-traid-traname.tsv", "line": 5, "text": "only\tthree\tfields"}
    ]
    assert list(report["files"]) == ["userid-timestamp-artid-artname-traid-traname.tsv"]  # profile not read
    assert report["ms_played"] == {"source": 0, "duration": 0, "assumed": 3}
    assert report["publish_week"] == "2009-W20" and "180000 ms assumed for 3 plays" in out
    assert_ingest_compatible(dest)


# ----------------------------------------------------------------------------- ListenBrainz

ROADS, PORTISHEAD = "a0b1c2d3-0000-4000-8000-000000000001", "8f6bd1e4-fbe1-4f50-aa9b-94c450ec0f11"


def test_listenbrainz_export(tmp_path, capsys):
    src = tmp_path / "lb"
    roads = {"artist_name": "Portishead", "track_name": "Roads", "release_name": "Dummy"}
    info = {"duration_ms": 305000, "recording_mbid": ROADS, "artist_mbids": [PORTISHEAD]}
    two = ["10adbe5e-a2c0-4bf3-8249-2b4cbf6e6ca8", "2f0a2c4e-0000-4000-8000-000000000002"]
    protection = {
        "artist_name": "Massive Attack feat. Tracey Thorn",
        "track_name": "Protection",
        "additional_info": {"artist_mbids": two, "spotify_id": "https://open.spotify.com/track/3iBgrJ5tf3twS2bYqUTJqw"},
    }
    array = [
        {"listened_at": 1704067200, "track_metadata": {**roads, "additional_info": info}},
        {"listened_at": "soon", "track_metadata": roads},
        {"listened_at": 1704070800, "user_name": "alice", "track_metadata": protection},
    ]
    write(src / "alice_lb-2024-01-01.json", array)
    bob_roads = {
        **roads,
        "track_name": "roads",
        "mbid_mapping": {"recording_mbid": ROADS},
        "additional_info": {"duration": 305},
    }
    kerala = {"artist_name": "Bonobo", "track_name": "Kerala", "additional_info": {"duration_ms": 0}}
    jsonl = [
        json.dumps({"listened_at": 1704153600, "user_name": "bob", "track_metadata": bob_roads}),
        "{not json",
        json.dumps({"listened_at": 1704157200, "track_metadata": kerala}),
        "",
        json.dumps({"listened_at": 1704160800, "user_name": "bob"}),
        "[1, 2]",
        json.dumps({"listened_at": 1704164400, "user_name": "bob", "track_metadata": {**kerala, "track_name": ""}}),
    ]
    write(src / "listens.jsonl", "\n".join(jsonl) + "\n")
    write(src / "feedback.jsonl", '{"recording_mbid": "x", "score": 1}\n')  # the export's other files
    write(src / "user.json", {"user_id": 1, "username": "alice"})
    dest = tmp_path / "out"
    rc, *_ = run(capsys, "listenbrainz", src, dest)
    assert rc == 0
    plays, tracks, artists, report, _ = contents(dest)
    sp, bonobo, massive = "sp_3iBgrJ5tf3twS2bYqUTJqw", tid("Bonobo", "Kerala"), aid("Massive Attack feat. Tracey Thorn")
    assert plays == [
        ["alice", f"mb_{ROADS}", "2024-01-01T00:00:00Z", "305000"],  # user from the file name; ms = duration
        ["alice", sp, "2024-01-01T01:00:00Z", "180000"],
        ["bob", f"mb_{ROADS}", "2024-01-02T00:00:00Z", "305000"],  # mbid_mapping; duration in seconds
        ["listens", bonobo, "2024-01-02T01:00:00Z", "180000"],  # duration 0 is unknown
    ]
    assert tracks == sorted(
        [
            [f"mb_{ROADS}", "Roads", f"mb_{PORTISHEAD}", "Dummy", "", "305000", ""],
            [sp, "Protection", massive, "", "", "", ""],  # two artist mbids: the credit keeps its own id
            [bonobo, "Kerala", aid("Bonobo"), "", "", "", ""],
        ]
    )
    assert artists == sorted(
        [[f"mb_{PORTISHEAD}", "Portishead"], [massive, "Massive Attack feat. Tracey Thorn"], [aid("Bonobo"), "Bonobo"]]
    )
    assert report["skipped"] == dict.fromkeys(
        ["bad_timestamp", "malformed_json", "missing_track_metadata", "missing_track_name", "not_an_object"], 1
    )
    assert report["examples"]["malformed_json"] == [{"file": "listens.jsonl", "line": 2, "text": "{not json"}]
    assert list(report["files"]) == ["alice_lb-2024-01-01.json", "listens.jsonl"]
    assert report["examples"]["bad_timestamp"][0]["entry"] == 2
    assert report["ms_played"] == {"source": 0, "duration": 2, "assumed": 2}
    assert report["publish_week"] == "2024-W02"
    assert_ingest_compatible(dest)


def test_listenbrainz_user_fallbacks():
    line = json.dumps({"listened_at": 1704067200, "track_metadata": {"artist_name": "A", "track_name": "B"}})
    assert [p.user for p in listenbrainz.parse_lines([line], "dave")] == ["dave"]
    assert listenbrainz.user_from_filename("x/alice_lb-2024-01-01.json.gz") == "alice"


# ----------------------------------------------------------------------------- MovieLens


def _movielens_100k(folder):
    write(
        folder / "u.item", b"1|Toy Story (1995)|01-Jan-1995||http://x|0|0\n2|Caf\xe9 au lait (1993)|||http://y|0\n3\n"
    )
    udata = "1\t1\t5\t874965758\n2\t2\t3\t876893171\n1\t2\t4\t878542960\n3\t99\t4\t878542960\n3\t1\t4\n3\t1\t4\tnever\n"
    write(folder / "u.data", udata)
    return folder


def test_movielens_100k(tmp_path, capsys):
    src = _movielens_100k(tmp_path / "ml")
    dest = tmp_path / "out"
    rc, out, _ = run(capsys, "movielens", src, dest)
    assert rc == 0
    plays, tracks, artists, report, world = contents(dest)
    assert plays == [
        ["1", "ml_1", "1997-09-22T22:02:38Z", "180000"],
        ["2", "ml_2", "1997-10-15T05:26:11Z", "180000"],
        ["1", "ml_2", "1997-11-03T07:42:40Z", "180000"],
    ]
    assert tracks == [
        ["ml_1", "Toy Story (1995)", "mla_1", "", "1995-01-01", "", ""],
        ["ml_2", "Café au lait (1993)", "mla_2", "", "", "", ""],  # u.item is Latin-1
    ]
    assert artists == [["mla_1", "Toy Story (1995)"], ["mla_2", "Café au lait (1993)"]]
    assert report["skipped"] == {"bad_timestamp": 1, "malformed_item_line": 1, "malformed_line": 1, "unknown_item": 1}
    assert report["files"] == {
        "u.data": {"plays": 3, "skipped": {"bad_timestamp": 1, "malformed_line": 1, "unknown_item": 1}},
        "u.item": {"plays": 0, "skipped": {"malformed_item_line": 1}},
    }
    # 1997 is before ingest.service_start (2008-10-07): the summary names the setting to pass
    assert report["service_start"] == {
        "configured": "2008-10-07",
        "plays_before": 3,
        "setting": "DW__INGEST__SERVICE_START=1997-09-22",
    }
    assert world["publish_week"] == "1997-W46"
    assert (
        "plays 1997-09-22 .. 1997-11-03 UTC; the latest week to publish: 1997-W46 "
        f"(DW__INGEST__SERVICE_START=1997-09-22 make run DATA={dest} WEEK=1997-W46)"
    ) in out
    assert_ingest_compatible(dest)


def test_movielens_ratings_csv_and_refusals(tmp_path, capsys):
    src = tmp_path / "ml-latest-small"
    write(src / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964981247\n")
    write(
        src / "movies.csv",
        'movieId,title,genres\n1,Toy Story (1995),Adventure\n3,"Grumpier Old Men, The (1995)",Comedy\n',
    )
    dest = tmp_path / "out"
    assert run(capsys, "movielens", src, dest)[0] == 0
    plays, tracks, *_ = contents(dest)
    assert plays == [["1", "ml_1", "2000-07-30T18:45:03Z", "180000"], ["1", "ml_3", "2000-07-30T18:20:47Z", "180000"]]
    assert tracks[1] == ["ml_3", "Grumpier Old Men, The (1995)", "mla_3", "", "", "", ""]
    assert_ingest_compatible(dest)
    _movielens_100k(src)  # both layouts in one folder: ambiguous
    rc, _, err = run(capsys, "movielens", src, tmp_path / "other")
    assert rc == 2 and "both u.data and ratings.csv" in err
    write(tmp_path / "lonely" / "u.data", "1\t1\t5\t874965758\n")
    rc, _, err = run(capsys, "movielens", tmp_path / "lonely", tmp_path / "other")
    assert rc == 2 and "u.item" in err and not (tmp_path / "other").exists()


# ----------------------------------------------------------------------------- the writer


def test_refuses_a_non_empty_dest_unless_forced(tmp_path, capsys):
    src = _movielens_100k(tmp_path / "ml")
    dest = write(tmp_path / "out" / "keep.txt", "mine").parent
    rc, out, err = run(capsys, "movielens", src, dest)
    assert rc == 2 and out == "" and err.count("\n") == 1 and "--force" in err
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    rc, _, err = run(capsys, "movielens", src, dest, "--force")  # not an import's folder: not replaced
    assert rc == 2 and "keep.txt" in err and [p.name for p in dest.iterdir()] == ["keep.txt"]
    (dest / "keep.txt").unlink()  # an empty DEST is always fine
    assert run(capsys, "movielens", src, dest)[0] == 0
    assert run(capsys, "movielens", src, dest, "--force")[0] == 0  # one the last import wrote is replaced
    names = ["_import_manifest.json", "catalog", "import_report.json", "raw", "world.json"]
    assert sorted(p.name for p in dest.iterdir()) == names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml", "out"]  # no staging left beside it
    for inside in (src / "out", src, tmp_path):  # DEST inside SRC, equal to it, or holding it
        rc, _, err = run(capsys, "movielens", src, inside, "--force")
        assert rc == 2 and "outside SRC" in err
    assert run(capsys, "movielens", tmp_path / "missing", tmp_path / "x")[0] == 2


def test_a_failed_import_leaves_nothing(tmp_path):
    def sources():
        yield "a", [contract.Skipped("bad_timestamp", 1, "x")]
        raise OSError("disk gone")

    with pytest.raises(OSError):
        contract.write_contract(tmp_path / "out", sources(), fmt="t", source="s", service_start=_day())
    with pytest.raises(contract.NothingImportedError) as caught:  # every line skipped: nothing written
        contract.write_contract(tmp_path / "out", iter([("a", [])]), fmt="t", source="s", service_start=_day())
    assert caught.value.report["plays"] == 0
    assert list(tmp_path.iterdir()) == []


def test_nothing_to_import_exits_1(tmp_path, capsys):
    write(tmp_path / "in" / "scrobbles.tsv", "bad line\n")
    rc, _, err = run(capsys, "lastfm1k", tmp_path / "in", tmp_path / "out")
    assert rc == 1 and "malformed_line=1" in err and not (tmp_path / "out").exists()
    write(tmp_path / "empty" / "notes.txt", "")
    rc, _, err = run(capsys, "spotify", tmp_path / "empty", tmp_path / "out")
    assert rc == 2 and "no Spotify history" in err


def test_same_input_same_bytes_and_plays_split_into_files(tmp_path, capsys, monkeypatch):
    src = _movielens_100k(tmp_path / "ml")
    monkeypatch.setattr(contract, "PLAYS_PER_FILE", 2)
    for name in ("a", "b"):
        assert run(capsys, "movielens", src, tmp_path / name)[0] == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert [str(f) for f in files if "plays" in f.parts] == ["raw/plays/plays-00001.csv", "raw/plays/plays-00002.csv"]
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert len(contents(tmp_path / "a")[0]) == 3


def test_service_start_follows_the_pipeline_setting(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DW__INGEST__SERVICE_START", "1997-01-01")
    rc, out, _ = run(capsys, "movielens", _movielens_100k(tmp_path / "ml"), tmp_path / "out")
    assert rc == 0 and "SERVICE_START" not in out and "(make run DATA=" in out


def test_gzip_sources_are_read(tmp_path, capsys):
    write(tmp_path / "in" / "scrobbles.tsv.gz", gzip.compress(b"u1\t2009-05-04T23:08:57Z\t\tA\t\tB\n"))
    assert run(capsys, "lastfm1k", tmp_path / "in", tmp_path / "out")[0] == 0
    assert contents(tmp_path / "out")[0] == [["u1", tid("A", "B"), "2009-05-04T23:08:57Z", "180000"]]
    assert run(capsys, "lastfm1k", tmp_path / "in", tmp_path / "o2", "--user", "x")[0] == 2  # --user: not here


def _day():
    return dt.date(2008, 10, 7)
