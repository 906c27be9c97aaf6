"""Validate: check the week's pending Discover Weekly table, then publish it.

Reads ``discover_weekly/_pending-W/`` (written by :mod:`jobs.merge`: the table, its
eligible listeners and the active listeners it left out), every play before the week
(``plays``), ``track_vectors`` and the catalog, and checks every rule the published table
promises (:func:`check_playlists`): the schema, exactly ``merge.k`` rows per eligible
listener and no one else, every listener active in the window either in the table or
left out by the merge for a stated reason (:func:`check_coverage`, with the active
listeners recomputed from ``plays``), each track's artist as in the catalog, known
``source`` values, positions 1..k, no duplicate track in a playlist, nothing the
listener already played, at most
``merge.artist_cap`` per artist, at most ``merge.cold_slots`` never-played tracks, and
no empty reason; and the week is not empty and reaches at least
``publish.min_listener_share`` of the listeners of the last published week. Only when all
hold is the table swapped in atomically as ``discover_weekly/week=W/``; otherwise the job
fails naming the broken rules and the previously published week (if any) stays as it was.

One writer per week: the job holds the pending week's lock (the merge takes the same one)
from its first read to the publish. The pending folder carries the id of the run whose
merge wrote it (``_run.json``): under Airflow, the job refuses another run's table, and a
retry after a publish that died before its clean-up finds its run already live and only
cleans up, so a retry never swaps the old table back.

Run alone::

    python -m jobs.validate --week 2026-W47
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from jobs.config import Config
from jobs.evaluation.audience import account_listeners
from jobs.runtime.cli import week_job
from jobs.warehouse.catalog import read_catalog_table
from jobs.warehouse.store import Warehouse, active_listeners, heard_pairs, read_run_id
from jobs.warehouse.weeks import cutoff as week_cutoff
from schemas import vocab
from schemas.columns import ARTIST_ID, POSITION, REASON, SCORE, SOURCE, TRACK_ID, USER_ID
from schemas.tables import arrow_schema

log = logging.getLogger("validate")


class ValidationError(RuntimeError):
    """The pending table breaks a rule; it was not published."""


def check_playlists(
    table: pd.DataFrame,
    heard: pd.DataFrame,
    eligible: set[str],
    k: int,
    cap: int,
    cold_tracks: set[str] | None = None,
    cold_slots: int | None = None,
    catalog: pd.DataFrame | None = None,
) -> list[str]:
    """Every rule the published table must meet; returns the broken ones (empty = publishable).

    ``table`` has the discover_weekly columns; ``heard`` holds (user_id, track_id) pairs
    ever played before the week; ``cold_tracks`` the tracks nobody has played, of which a
    playlist may hold at most ``cold_slots``; ``catalog`` (indexed by track_id, with
    ``title`` and ``artist_id``) is the truth for each track's artist, which the artist
    cap and the check for two versions of one song (same title and artist) use.
    """
    problems = []
    from schemas.tables import table as contract

    expected = contract("discover_weekly").names
    if list(table.columns) != expected:
        problems.append(f"columns {list(table.columns)} != contract {expected}")
        return problems
    for col in (USER_ID, TRACK_ID, ARTIST_ID, SOURCE, REASON, "week"):
        if table[col].isna().any() or (table[col].astype(str).str.strip() == "").any():
            problems.append(f"empty values in {col}")
    unknown_sources = set(table[SOURCE].dropna()) - set(vocab.PLAYLIST_SOURCES)
    if unknown_sources:
        problems.append(f"unknown source values {sorted(unknown_sources)} (allowed: {sorted(vocab.PLAYLIST_SOURCES)})")
    bad_score = ~np.isfinite(pd.to_numeric(table[SCORE], errors="coerce").to_numpy(dtype=float))
    if bad_score.any():
        row = table[bad_score].iloc[0]
        problems.append(
            f"{int(bad_score.sum())} scores are not finite numbers (inf or NaN), e.g. {row[USER_ID]}/{row[TRACK_ID]}"
        )
    if catalog is not None:
        artist = table[TRACK_ID].map(catalog[ARTIST_ID])
        if artist.isna().any():
            problems.append(f"tracks not in the catalog, e.g. {table.loc[artist.isna(), 'track_id'].iloc[0]}")
        elif (artist != table[ARTIST_ID]).any():
            row = table[artist != table[ARTIST_ID]].iloc[0]
            problems.append(f"artist_id differs from the catalog, e.g. {row['track_id']} -> {row['artist_id']}")
        else:
            table = table.assign(artist_id=artist)
    sizes = table.groupby(USER_ID).size()
    wrong = sizes[sizes != k]
    if len(wrong):
        problems.append(f"{len(wrong)} listeners do not have exactly {k} rows, e.g. {wrong.index[0]}={wrong.iloc[0]}")
    missing = eligible - set(sizes.index)
    if missing:
        problems.append(f"{len(missing)} eligible listeners have no playlist, e.g. {sorted(missing)[0]}")
    extra = set(sizes.index) - eligible
    if extra:
        problems.append(f"{len(extra)} listeners are not eligible but have a playlist, e.g. {sorted(extra)[0]}")
    positions = table.groupby(USER_ID)[POSITION].agg(lambda p: sorted(p) == list(range(1, len(p) + 1)))
    if not positions.all():
        problems.append(f"positions are not 1..{k} for {int((~positions).sum())} listeners")
    if table.duplicated([USER_ID, TRACK_ID]).any():
        problems.append("a track appears twice in one playlist")
    again = table.merge(heard, on=[USER_ID, TRACK_ID], how="inner")
    if len(again):
        problems.append(
            f"{len(again)} rows recommend a track the listener already played, "
            f"e.g. {again.iloc[0]['user_id']} -> {again.iloc[0]['track_id']}"
        )
    per_artist = table.groupby([USER_ID, ARTIST_ID]).size()
    if (per_artist > cap).any():
        u, a = per_artist[per_artist > cap].index[0]
        problems.append(f"more than {cap} tracks by one artist, e.g. {u} has {per_artist.loc[(u, a)]} by {a}")
    if catalog is not None:
        song = table[ARTIST_ID] + "\x00" + table[TRACK_ID].map(catalog["title"]).fillna("").str.lower().str.strip()
        versions = table.assign(song=song).duplicated([USER_ID, "song"])
        if versions.any():
            row = table[versions].iloc[0]
            problems.append(f"two versions of one song in a playlist, e.g. {row['user_id']} -> {row['track_id']}")
    if cold_tracks is not None and cold_slots is not None:
        per_user_cold = table[table[TRACK_ID].isin(cold_tracks)].groupby(USER_ID).size()
        if (per_user_cold > cold_slots).any():
            u = per_user_cold[per_user_cold > cold_slots].index[0]
            problems.append(f"more than {cold_slots} never-played tracks in a playlist, e.g. {u}")
    return problems


def check_coverage(active: set[str], eligible: set[str], excluded: dict[str, str], thin_history: str) -> list[str]:
    """Every listener active in the window has a playlist or a stated reason for none.

    ``active`` is computed here from the plays, not taken from the merge; ``eligible`` and
    ``excluded`` (user_id -> reason) are what the merge says it did.
    """
    problems = []
    allowed = {vocab.TOO_FEW_UNHEARD} | ({vocab.THIN_HISTORY} if thin_history == "skip" else set())
    inactive = eligible - active
    if inactive:
        problems.append(f"{len(inactive)} listeners with a playlist had no play in the window, e.g. {min(inactive)}")
    unaccounted = active - eligible - set(excluded)
    if unaccounted:
        problems.append(f"{len(unaccounted)} active listeners have no playlist and no reason, e.g. {min(unaccounted)}")
    bad = {u: r for u, r in excluded.items() if r not in allowed}
    if bad:
        u = min(bad)
        problems.append(f"{len(bad)} listeners left out for '{bad[u]}' (allowed: {sorted(allowed)}), e.g. {u}")
    both = eligible & set(excluded)
    if both:
        problems.append(f"{len(both)} listeners are both in the table and left out, e.g. {min(both)}")
    return problems


def check_size(
    listeners: int, previous: tuple[str, int] | None, min_share: float, replaced: tuple[str, int] | None = None
) -> list[str]:
    """An empty week, or one reaching far fewer listeners than the last published week or than the
    published version of the week it would replace (a rerun), is refused."""
    if listeners == 0:
        return ["the table is empty: no listener has a playlist"]
    problems = []
    if previous is not None and listeners < min_share * previous[1]:
        week, before = previous
        problems.append(
            f"{listeners} listeners have a playlist, fewer than publish.min_listener_share={min_share:g} "
            f"of the {before} in {week}, the last published week"
        )
    if replaced is not None and listeners < min_share * replaced[1]:
        week, before = replaced
        problems.append(
            f"{listeners} listeners have a playlist, fewer than publish.min_listener_share={min_share:g} "
            f"of the {before} in {week} as published now: this rerun would shrink the week; to replace it "
            f"anyway, rerun with DW__PUBLISH__MIN_LISTENER_SHARE=0"
        )
    return problems


def run(config: Config, week: str, run_id: str | None = None) -> dict[str, Any]:
    """Check the pending week and publish it; ``run_id`` (default: Airflow's, if any) must match the merge's.

    Holds the pending week's lock throughout, so a merge of the same week waits. A retry
    after a publish that was interrupted before its clean-up finds its own run already
    live and only cleans up: publishing is idempotent, keyed by the run.
    """
    wh = Warehouse(config.paths.warehouse)
    pending = wh.pending(week)
    target = wh.partition("discover_weekly", week)
    mine = run_id or os.environ.get("AIRFLOW_CTX_DAG_RUN_ID")
    with wh.lock(pending):
        staged_run, live_run = read_run_id(pending), read_run_id(target)
        if staged_run is not None and live_run == staged_run:
            wh.discard_pending(week)  # an earlier attempt published it and died before cleaning up
            log.info("%s already holds run %s's table; removed the leftover pending folder", target, staged_run)
            return {"week": week, "path": str(target), "run_id": staged_run, "already_published": True}
        if not wh.has_pending_table(week):
            if mine is not None and live_run == mine:
                log.info("%s already holds this run's table (%s); nothing left to do", target, mine)
                return {"week": week, "path": str(target), "run_id": mine, "already_published": True}
            raise ValidationError(f"{pending}: nothing to validate; run the merge job for {week} first")
        if mine is not None and staged_run is not None and staged_run != mine:
            raise ValidationError(
                f"{pending} holds run {staged_run}'s table, not this run's ({mine}): another run's merge "
                f"replaced it; rerun this run's merge"
            )
        metrics = _check(config, wh, week)
        wh.publish_pending(week)
    return {**metrics, "path": str(target), "run_id": staged_run}


def _check(config: Config, wh: Warehouse, week: str) -> dict[str, Any]:
    """Every rule on the pending week; raises :class:`ValidationError` listing the broken ones."""
    problems = []
    pending = wh.read_pending(week)
    if not pending.schema.equals(arrow_schema("discover_weekly")):
        problems.append(f"schema {pending.schema} differs from the contract {arrow_schema('discover_weekly')}")
    table, eligible, excluded = pending.table, pending.eligible, pending.excluded
    plays = wh.plays_before_week(week)
    active = active_listeners(plays, week_cutoff(week), config.als.window_weeks)
    problems += check_coverage(
        active, eligible, dict(zip(excluded[USER_ID], excluded[REASON])), config.merge.thin_history
    )
    previous = wh.weeks("discover_weekly", before=week)
    last = (previous[-1], wh.read("discover_weekly", previous[-1], [USER_ID])[USER_ID].nunique()) if previous else None
    live = wh.read_optional("discover_weekly", week, [USER_ID])
    replaced = (week, live[USER_ID].nunique()) if live is not None and len(live) else None
    problems += check_size(table[USER_ID].nunique(), last, config.publish.min_listener_share, replaced)
    vectors = wh.read_optional("track_vectors", week, [TRACK_ID, SOURCE])
    cold = set(vectors.loc[vectors[SOURCE] == vocab.AUDIO, TRACK_ID]) if vectors is not None else None
    conf = config.merge
    catalog = read_catalog_table(config.paths.data, "tracks").set_index(TRACK_ID)[["title", ARTIST_ID]]
    problems += check_playlists(
        table, heard_pairs(plays), eligible, conf.k, conf.artist_cap, cold, conf.cold_slots, catalog
    )
    exposures = wh.pending(week) / "exposures"
    if exposures.is_dir():
        problems += check_exposures(table, pq.read_table(exposures).to_pandas())
    actions = wh.pending(week) / "bandit_actions"
    if exposures.is_dir() and actions.is_dir():
        problems += check_bandit_actions(pq.read_table(exposures).to_pandas(), pq.read_table(actions).to_pandas())
    if problems:
        raise ValidationError(f"discover_weekly {week} was not published: " + "; ".join(problems))
    return {
        "week": week,
        "rows": len(table),
        "listeners": len(eligible),
        "active_listeners": len(active),
        "left_out": {str(k): int(v) for k, v in excluded[REASON].value_counts().sort_index().items()},
        "accounting": account_listeners(
            set(plays[USER_ID]), active, table, dict(zip(excluded[USER_ID], excluded[REASON]))
        ),
    }


def check_exposures(table: pd.DataFrame, exposures: pd.DataFrame) -> list[str]:
    """The exposures log holds exactly the table's rows (listener, place, track, source, reason), each with
    a policy and a propensity in (0, 1]."""
    keys = [USER_ID, POSITION, TRACK_ID, SOURCE, REASON]
    problems = []
    shown = table[keys].merge(exposures[keys], how="outer", indicator=True)
    if (shown["_merge"] != "both").any():
        bad = shown[shown["_merge"] != "both"].iloc[0]
        problems.append(
            f"exposures differ from the table ({int((shown['_merge'] != 'both').sum())} rows), e.g. "
            f"{bad[USER_ID]} place {bad[POSITION]} only in the {'table' if bad['_merge'] == 'left_only' else 'log'}"
        )
    p = exposures["propensity"].to_numpy(dtype=float)
    if len(p) and not ((p > 0) & (p <= 1)).all():
        problems.append("exposure propensities outside (0, 1]")
    if exposures.duplicated([USER_ID, POSITION]).any():
        problems.append("exposures log a listener's place twice")
    if exposures["policy"].isna().any() or (exposures["policy"] == "").any():
        problems.append("exposures without a policy")
    return problems


def check_bandit_actions(exposures: pd.DataFrame, actions: pd.DataFrame) -> list[str]:
    """Each bandit place offers a distribution (probabilities adding up to 1) with exactly one action shown,
    and that action is the exposure logged at the place, with the same probability."""
    if not len(actions):
        return []
    problems = []
    place = actions.groupby([USER_ID, POSITION])
    total = place["probability"].sum()
    if not np.allclose(total.to_numpy(), 1.0, atol=1e-6):
        problems.append(f"bandit places whose offered probabilities do not add up to 1, e.g. {total.idxmax()}")
    if not (place["chosen"].sum() == 1).all():
        problems.append("bandit places without exactly one action shown")
    shown = actions[actions["chosen"]].merge(exposures, on=[USER_ID, POSITION], how="left", suffixes=("", "_shown"))
    same = (
        (shown[TRACK_ID] == shown[f"{TRACK_ID}_shown"])
        & (shown[REASON] == shown[f"{REASON}_shown"])
        & np.isclose(shown["probability"], shown["propensity"])
    )
    if not same.all():
        bad = shown[~same].iloc[0]
        problems.append(f"the bandit's shown action differs from the exposure at {bad[USER_ID]} place {bad[POSITION]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "validate",
        "Check the pending Discover Weekly table and publish it.",
        lambda config, week, _: run(config, week),
        argv,
        errors=(ValidationError,),
        metrics="validate",
    )


if __name__ == "__main__":
    sys.exit(main())
