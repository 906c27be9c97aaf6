"""The heavy-repeater export and the published week's figures (studies.personal)."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from studies.personal import figures, write_world


def test_the_hand_made_export_has_one_heavy_repeater_and_is_the_same_every_time(tmp_path):
    assert write_world(tmp_path / "a") == 2300
    write_world(tmp_path / "b")
    first = (tmp_path / "a" / "raw" / "plays" / "plays.csv").read_bytes()
    assert first == (tmp_path / "b" / "raw" / "plays" / "plays.csv").read_bytes()
    plays = pd.read_csv(tmp_path / "a" / "raw" / "plays" / "plays.csv")
    solo = plays[plays["track_id"] == "h-solo"]
    assert len(solo) == 500 and set(solo["user_id"]) == {"u00"}
    assert plays["user_id"].nunique() == 30 and plays["played_at"].max() < "2026-11-16"


def test_figures_count_rows_of_tracks_only_one_listener_played(tmp_path):
    day = tmp_path / "plays" / "day=2026-11-10"
    day.mkdir(parents=True)
    at = pd.Timestamp("2026-11-10 12:00", tz="UTC")
    plays = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "track_id": ["solo", "solo", "both"], "played_at": at})
    plays["ms_played"] = 200_000
    pq.write_table(
        pa.Table.from_pandas(plays.assign(user_id=plays["user_id"]), preserve_index=False), day / "p.parquet"
    )
    part = tmp_path / "discover_weekly" / "week=2026-W47"
    part.mkdir(parents=True)
    table = pd.DataFrame(
        {
            "user_id": ["u2", "u2", "u3", "u3"],
            "position": [1, 2, 1, 2],
            "track_id": ["solo", "x", "solo", "x"],
            "artist_id": "a",
            "score": 1.0,
            "source": ["popular", "als", "popular", "als"],
            "reason": [
                "Popular with listeners this week",
                "Because you play A",
                "Popular with listeners this week",
                "More from A, whom you play",
            ],
        }
    )
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), part / "part-0.parquet")
    out = figures(tmp_path, "2026-W47", k=2)
    assert out["rows_of_one_listener_tracks"] == 2 and out["mean_overlap"] == 2.0
    assert out["reasons"] == {"Popular with listeners this week": 2, "Because you play ...": 1, "More from ...": 1}
