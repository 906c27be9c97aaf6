"""What the listener models learn from, read from the warehouse: labelled rows and features at any week.

:class:`History` reads, for run week ``W``: every play before ``W``'s cutoff (with its context
where the table has one), the ``exposures`` of the ``rl.history_weeks`` weeks before ``W``
(published with those weeks' tables), the ``saves``, the catalog's durations and artists, the
ALS fits of those weeks (``user_factors``, and ``track_vectors`` or else ``item_factors``), the
RNN's ``taste_vectors`` and the ``song_vectors`` where they exist, and ``audio_attributes`` and
``audio_vectors`` of ``W``. It writes nothing.

* :meth:`History.labelled_rows`: one row per Discover Weekly exposure (its responses,
  :func:`jobs.rl.responses.exposure_responses`; its place and the shares of listens and skips
  at the list's earlier places) and per organic play (a seeded sample of ``rl.max_play_rows``;
  its place in its session), each with the ISO week it happened in.
* :meth:`History.features`: the rows of :mod:`jobs.rl.features` for (listener, track, week,
  kind[, place, shares]). A row of week ``w`` uses the latest ALS fit of a week up to ``w``
  (fitted on plays before ``w``: it never saw the row's answer); a week older than every fit
  uses the oldest one, which did see it, and is counted in ``leaky_rows``. Every older fit is
  rotated onto the newest (:func:`jobs.recsys.items.procrustes`), so the models read one coordinate system.
* :meth:`History.content_pairs`: (listener, track) pairs with audio, liked or not, for the
  content model; :func:`content_scorer` feeds the trained one back into :meth:`History.features`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.config import Config
from jobs.evaluation.metrics import as_matrix
from jobs.feedback.bandit import explanation_kind
from jobs.recsys.items import procrustes
from jobs.rl import features as F
from jobs.rl.content_model import ContentNet
from jobs.rl.responses import exposure_responses, is_skipped, list_history, play_responses, session_places
from jobs.warehouse.catalog import read_catalog
from jobs.warehouse.saves import read_saves
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import cutoff, shift, utc_nanoseconds, week_of, week_start
from schemas import vocab
from schemas.columns import (
    ARTIST_ID,
    CONTEXT,
    MS_PLAYED,
    PLAYED_AT,
    POSITION,
    REASON,
    SAVED_AT,
    SOURCE,
    TRACK_ID,
    USER_ID,
    VECTOR,
)

log = logging.getLogger("rl")
RECENT_DAYS = 28
ContentScore = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]  # (users, tracks) -> scores, has


@dataclass(frozen=True)
class Fit:
    """One week's ALS vectors (and sequence vectors where they exist), indexed by id."""

    week: str
    users: dict[str, int]
    U: np.ndarray
    items: dict[str, int]
    V: np.ndarray
    taste: dict[str, np.ndarray]
    songs: dict[str, np.ndarray]


def _vectors(frame: pd.DataFrame | None, key: str) -> tuple[dict[str, int], np.ndarray]:
    if frame is None or not len(frame):
        return {}, np.zeros((0, 0), dtype=np.float32)
    return {k: i for i, k in enumerate(frame[key])}, as_matrix(frame[VECTOR]).astype(np.float32)


def _unit(frame: pd.DataFrame | None, key: str) -> dict[str, np.ndarray]:
    ids, M = _vectors(frame, key)
    if not ids:
        return {}
    M = M / np.maximum(np.linalg.norm(M, axis=1, keepdims=True), 1e-9)
    return {k: M[i] for k, i in ids.items()}


def _days(stamps: pd.Series) -> np.ndarray:
    """UTC day numbers (days since 1970-01-01) of timezone-aware timestamps."""
    return utc_nanoseconds(stamps) // (86_400 * 10**9)


def _week_labels(days: np.ndarray) -> np.ndarray:
    """The ISO week (``YYYY-Www``) of each UTC day number, formatted once per distinct day."""
    distinct, at = np.unique(np.asarray(days, dtype=np.int64), return_inverse=True)
    epoch = dt.date(1970, 1, 1)
    labels = np.array([week_of(epoch + dt.timedelta(days=int(d))) for d in distinct], dtype=object)
    return labels[at.reshape(-1)]


def _rows(users, tracks, week, place, prev_listen, prev_skip, kind, dw: float, resp: np.ndarray) -> pd.DataFrame:  # noqa: ANN001
    """Labelled rows: listener, track, week, place, the shares before it, the explanation's kind, surface, responses."""
    return pd.DataFrame(
        {
            USER_ID: np.asarray(users),
            TRACK_ID: np.asarray(tracks),
            "week": week if isinstance(week, str) else np.asarray(week),
            POSITION: np.asarray(place),
            "prev_listen": np.asarray(prev_listen),
            "prev_skip": np.asarray(prev_skip),
            "kind": kind,
            "dw": dw,
            "skip": resp[:, 0],
            "listen": resp[:, 1],
            "complete": resp[:, 2],
        }
    )


@dataclass(frozen=True)
class _PlayCodes:
    """Plays as integer codes sorted by time: listener and track codes, each (listener, track) pair as
    ``user * n_tracks + track`` and the time of its first play; for per-week counts without copying the plays."""

    users: pd.Index
    tracks: pd.Index
    when: np.ndarray  # int64 ns since the epoch (UTC), ascending
    pair: np.ndarray  # the pair of each play, in the order of ``when``
    first_pair: np.ndarray  # the distinct pairs, in the order of their first play
    first_when: np.ndarray  # ... and that first play's time

    @classmethod
    def of(cls, plays: pd.DataFrame) -> _PlayCodes:
        user, users = pd.factorize(plays[USER_ID], sort=True)
        track, tracks = pd.factorize(plays[TRACK_ID], sort=True)
        when = utc_nanoseconds(plays[PLAYED_AT])
        order = np.argsort(when, kind="stable")
        pair = user.astype(np.int64)[order] * max(len(tracks), 1) + track[order]
        first_pair, first_at = np.unique(pair, return_index=True)
        by_time = np.argsort(first_at, kind="stable")
        return cls(users, tracks, when[order], pair, first_pair[by_time], when[order][first_at[by_time]])

    @property
    def n_tracks(self) -> int:
        return max(len(self.tracks), 1)

    @staticmethod
    def _ns(at: dt.datetime) -> int:
        return int(pd.Timestamp(at).value)

    def first_pairs(self, cut: dt.datetime) -> np.ndarray:
        """The pairs first played before ``cut``."""
        return self.first_pair[: np.searchsorted(self.first_when, self._ns(cut), side="left")]

    def pairs_between(self, start: dt.datetime, cut: dt.datetime) -> np.ndarray:
        """The pair of every play in ``[start, cut)``."""
        lo, hi = np.searchsorted(self.when, [self._ns(start), self._ns(cut)], side="left")
        return self.pair[lo:hi]

    def users_between(self, start: dt.datetime, cut: dt.datetime) -> np.ndarray:
        """The listener code of every play in ``[start, cut)``."""
        return self.pairs_between(start, cut) // self.n_tracks

    def per_user(self, codes: np.ndarray) -> np.ndarray:
        return np.bincount(codes, minlength=len(self.users)).astype(np.int64)

    def per_track(self, pairs: np.ndarray) -> np.ndarray:
        return np.bincount(pairs % self.n_tracks, minlength=len(self.tracks)).astype(np.int64)


class History:
    """See the module docstring."""

    def __init__(self, config: Config, week: str) -> None:
        self.config, self.week, self.rl = config, week, config.rl
        wh = self.wh = Warehouse(config.paths.warehouse)
        tracks, _ = read_catalog(config.paths.data)
        tracks = tracks.drop_duplicates(TRACK_ID).set_index(TRACK_ID)
        self.duration = tracks["duration_ms"] if "duration_ms" in tracks.columns else pd.Series(dtype=float)
        self.artist = tracks[ARTIST_ID]
        self.song_key = (
            (tracks["title"].astype(str).str.lower() + "/" + tracks[ARTIST_ID].astype(str))
            if "title" in tracks.columns
            else pd.Series(tracks.index, index=tracks.index)
        )
        try:
            self.plays = wh.plays_before(cutoff(week), (USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED, CONTEXT))
        except (KeyError, ValueError):
            self.plays = wh.plays_before(cutoff(week), (USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED))
        self.plays[PLAYED_AT] = pd.to_datetime(self.plays[PLAYED_AT], utc=True)
        self.first = shift(week, -self.rl.history_weeks)
        weeks = [w for w in wh.weeks("exposures", before=week) if w >= self.first]
        frames = [wh.read("exposures", w).assign(week=w) for w in weeks]
        frames = [f for f in frames if len(f)]
        self.exposures = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        self.saves = read_saves(wh, week)
        self.attributes = wh.read_optional("audio_attributes", week)
        self.audio_vectors = _unit(wh.read_optional("audio_vectors", week), TRACK_ID)
        self.fit_weeks = wh.weeks("user_factors", until=week)
        self._fits: dict[str, Fit] = {}
        self._context: dict[str, pd.DataFrame] = {}
        self._items: dict[str, pd.DataFrame] = {}
        self._codes: _PlayCodes | None = None
        self._exposure_rows: pd.DataFrame | None = None
        self.content: ContentScore | None = None
        self.leaky_rows = 0

    # --- fits -------------------------------------------------------------------------
    def fit_for(self, week: str) -> tuple[Fit, bool]:
        """The latest fit of a week up to ``week`` (``False``), else the oldest one (``True``: it saw the week)."""
        if not self.fit_weeks:
            raise ValueError(
                f"{self.wh.table_dir('user_factors')}: no ALS fit up to {self.week}; run the als job first"
            )
        i = bisect.bisect_right(self.fit_weeks, week)
        leaky = i == 0
        fw = self.fit_weeks[0] if leaky else self.fit_weeks[i - 1]
        if fw not in self._fits:
            users, U = _vectors(self.wh.read("user_factors", fw), USER_ID)
            items_frame = self.wh.read_optional("track_vectors", fw)
            if items_frame is None:
                items_frame = self.wh.read("item_factors", fw)
            items, V = _vectors(items_frame, TRACK_ID)
            taste = _unit(self.wh.read_optional("taste_vectors", fw), USER_ID)
            songs = _unit(self.wh.read_optional("song_vectors", fw), TRACK_ID) if taste else {}
            if fw != self.fit_weeks[-1]:
                ref = self.fit_for(self.fit_weeks[-1])[0]
                R = procrustes(V, items, ref.V, ref.items)
                U, V = U @ R, V @ R
            self._fits[fw] = Fit(fw, users, U, items, V, taste, songs)
        return self._fits[fw], leaky

    @property
    def rank(self) -> int:
        return int(self.fit_for(self.week)[0].U.shape[1])

    # --- labelled rows ----------------------------------------------------------------
    def exposure_rows(self) -> pd.DataFrame:
        """Every logged exposure of the history weeks with its responses, place and earlier shares."""
        if self._exposure_rows is not None:
            return self._exposure_rows
        if not len(self.exposures):
            self._exposure_rows = pd.DataFrame(
                columns=[
                    USER_ID,
                    TRACK_ID,
                    "week",
                    POSITION,
                    "prev_listen",
                    "prev_skip",
                    "kind",
                    "dw",
                    "skip",
                    "listen",
                    "complete",
                ]
            )
            return self._exposure_rows
        parts = []
        for w, exp in self.exposures.groupby("week", sort=True):
            start = dt.datetime.combine(week_start(w), dt.time(0), tzinfo=dt.UTC)
            resp = exposure_responses(
                exp, self.plays, self.saves, start, self.duration, self.listen_ms, self.rl.complete_share
            )
            prev = list_history(exp, resp)
            kinds = [explanation_kind(s, r) for s, r in zip(exp[SOURCE], exp[REASON], strict=True)]
            parts.append(
                _rows(
                    exp[USER_ID],
                    exp[TRACK_ID],
                    w,
                    exp[POSITION],
                    prev["prev_listen"],
                    prev["prev_skip"],
                    kinds,
                    1.0,
                    resp,
                )
            )
        self._exposure_rows = pd.concat(parts, ignore_index=True)
        return self._exposure_rows

    @property
    def listen_ms(self) -> float:
        return self.rl.listen_seconds * 1000.0

    def responses(self, plays: pd.DataFrame) -> np.ndarray:
        """:func:`jobs.rl.responses.play_responses` of plays, with the catalog's durations."""
        duration = self.duration.reindex(plays[TRACK_ID]).to_numpy(dtype=np.float64)
        skipped = is_skipped(plays.get(CONTEXT), len(plays))
        return play_responses(
            plays[MS_PLAYED].to_numpy(), np.nan_to_num(duration), skipped, self.listen_ms, self.rl.complete_share
        )

    def organic_rows(self) -> pd.DataFrame:
        """A seeded sample of the history weeks' plays that did not come from Discover Weekly, labelled."""
        p = self.plays[self.plays[PLAYED_AT] >= cutoff(self.first)]
        if CONTEXT in p.columns:
            p = p[p[CONTEXT].fillna("") != vocab.DISCOVER_WEEKLY_CONTEXT]
        p = p.reset_index(drop=True)
        resp = self.responses(p)
        places = session_places(p, resp)
        week = _week_labels(_days(p[PLAYED_AT]))
        rows = _rows(
            p[USER_ID], p[TRACK_ID], week, places[POSITION], places["prev_listen"], places["prev_skip"], None, 0.0, resp
        )
        if len(rows) > self.rl.max_play_rows:
            keep = np.sort(np.random.default_rng(self.rl.seed).choice(len(rows), self.rl.max_play_rows, replace=False))
            rows = rows.iloc[keep].reset_index(drop=True)
        return rows

    def labelled_rows(self) -> pd.DataFrame:
        """:meth:`exposure_rows` then :meth:`organic_rows`."""
        return pd.concat([self.exposure_rows(), self.organic_rows()], ignore_index=True)

    # --- per-week context and item statistics -------------------------------------------
    def _play_codes(self) -> _PlayCodes:
        """The plays as integer codes, sorted by time (built once, for :meth:`context_at` and :meth:`items_at`)."""
        if self._codes is None:
            self._codes = _PlayCodes.of(self.plays)
        return self._codes

    def context_at(self, week: str) -> pd.DataFrame:
        """Per listener at ``week``: tracks heard, plays of the last 28 days, earlier exposures, listens, skips."""
        if week not in self._context:
            codes = self._play_codes()
            cut = cutoff(week)
            heard = codes.per_user(codes.first_pairs(cut) // codes.n_tracks)
            frame = pd.DataFrame(
                {
                    "heard": heard,
                    "recent": codes.per_user(codes.users_between(cut - dt.timedelta(days=RECENT_DAYS), cut)),
                },
                index=codes.users,
            )
            frame = frame[frame["heard"] > 0]
            ex = self.exposure_rows()
            ex = ex[ex["week"] < week]
            dw = ex.groupby(USER_ID)[["listen", "skip"]].agg(["sum", "count"]) if len(ex) else None
            if dw is not None:
                frame = frame.join(
                    pd.DataFrame(
                        {
                            "dw_n": dw[("listen", "count")],
                            "dw_listen": dw[("listen", "sum")],
                            "dw_skip": dw[("skip", "sum")],
                        }
                    ),
                    how="outer",
                )
            self._context[week] = frame.reindex(columns=["heard", "recent", "dw_n", "dw_listen", "dw_skip"]).fillna(0.0)
        return self._context[week]

    def items_at(self, week: str) -> pd.DataFrame:
        """Per track at ``week``: listeners in the last 28 days, and whether anyone ever played it."""
        if week not in self._items:
            codes = self._play_codes()
            cut = cutoff(week)
            recent = codes.per_track(np.unique(codes.pairs_between(cut - dt.timedelta(days=RECENT_DAYS), cut)))
            played = codes.per_track(codes.first_pairs(cut)) > 0
            self._items[week] = pd.DataFrame(
                {"popularity": recent[played].astype(np.float64), "played": True}, index=codes.tracks[played]
            )
        return self._items[week]

    def features(
        self,
        users: np.ndarray,
        tracks: np.ndarray,
        weeks: np.ndarray,
        kinds: list[str | None],
        session: np.ndarray | None = None,
    ) -> np.ndarray:
        """Feature rows (static part only when ``session`` is ``None``), in the given order."""
        users, tracks, weeks = np.asarray(users), np.asarray(tracks), np.asarray(weeks)
        n = len(users)
        out = np.zeros((n, F.static_width(self.rank)), dtype=np.float32)
        audio = F.audio_columns(self.attributes, pd.Series(tracks))
        if self.content is not None:
            score, has = self.content(users, tracks)
        else:
            score, has = np.full(n, 0.5), np.zeros(n)
        onehot = F.kind_onehot(list(kinds))
        for w in sorted(set(weeks.tolist())):
            m = weeks == w
            fit, leaky = self.fit_for(w)
            self.leaky_rows += int(m.sum()) if leaky else 0
            ctx = self.context_at(w).reindex(users[m]).fillna(0.0)
            context = F.context_stats(ctx["heard"], ctx["recent"], ctx["dw_n"], ctx["dw_listen"], ctx["dw_skip"])
            stats = self.items_at(w)
            popularity = stats["popularity"].reindex(tracks[m], fill_value=0.0).to_numpy(dtype=np.float64)
            played = stats["played"].reindex(tracks[m], fill_value=False).to_numpy(dtype=bool)
            item = np.column_stack([np.log1p(popularity) / 5.0, ~played, audio[m], score[m], has[m]])
            ui = np.array([fit.users.get(u, -1) for u in users[m]])
            ti = np.array([fit.items.get(t, -1) for t in tracks[m]])
            U = np.where((ui >= 0)[:, None], fit.U[np.maximum(ui, 0)], 0.0)
            V = np.where((ti >= 0)[:, None], fit.V[np.maximum(ti, 0)], 0.0)
            taste_cos = np.zeros(int(m.sum()))
            has_taste = np.zeros(int(m.sum()))
            if fit.taste:
                for r, (u, t) in enumerate(zip(users[m], tracks[m], strict=True)):
                    a, b = fit.taste.get(u), fit.songs.get(t)
                    if a is not None and b is not None and len(a) == len(b):
                        taste_cos[r], has_taste[r] = float(a @ b), 1.0
            out[m] = F.static_rows(U, context, item, onehot[m], V, taste_cos, has_taste)
        return out if session is None else np.hstack([out, session.astype(np.float32)])

    def row_features(self, rows: pd.DataFrame) -> np.ndarray:
        """:meth:`features` of :meth:`labelled_rows`-shaped rows, session part included."""
        session = F.session_columns(
            rows[POSITION].to_numpy(),
            rows["prev_listen"].to_numpy(),
            rows["prev_skip"].to_numpy(),
            rows["dw"].to_numpy(),
        )
        return self.features(
            rows[USER_ID].to_numpy(), rows[TRACK_ID].to_numpy(), rows["week"].to_numpy(), list(rows["kind"]), session
        )

    # --- the content model's pairs -------------------------------------------------------
    def content_features(self, tracks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Audio attributes (without ``has_audio``) and the unit audio vector of each track; and which have both."""
        audio = F.audio_columns(self.attributes, pd.Series(tracks))
        dim = len(next(iter(self.audio_vectors.values()))) if self.audio_vectors else 0
        vec = np.zeros((len(tracks), dim), dtype=np.float32)
        has_vec = np.zeros(len(tracks), dtype=bool)
        for r, t in enumerate(tracks):
            v = self.audio_vectors.get(t)
            if v is not None:
                vec[r], has_vec[r] = v, True
        return np.hstack([audio[:, 1:], vec]), (audio[:, 0] > 0) & has_vec

    def content_pairs(self) -> pd.DataFrame:
        """Per (listener, track with audio) and week of first play in the history weeks: listened, completed,
        skipped (0/1 maxima over that week's plays; a save that week counts as completed)."""
        p = self.plays[self.plays[PLAYED_AT] >= cutoff(self.first)]
        resp = self.responses(p)
        frame = pd.DataFrame(
            {
                USER_ID: p[USER_ID].to_numpy(),
                TRACK_ID: p[TRACK_ID].to_numpy(),
                "day": _days(p[PLAYED_AT]),
                "skipped": resp[:, 0],
                "listened": resp[:, 1],
                "completed": resp[:, 2],
            }
        )
        if len(self.saves):
            at = pd.to_datetime(self.saves[SAVED_AT], utc=True)
            kept = at >= cutoff(self.first)
            s, at = self.saves[kept], at[kept]
            frame = pd.concat(
                [
                    frame,
                    pd.DataFrame(
                        {
                            USER_ID: s[USER_ID].to_numpy(),
                            TRACK_ID: s[TRACK_ID].to_numpy(),
                            "day": _days(at),
                            "skipped": 0.0,
                            "listened": 1.0,
                            "completed": 1.0,
                        }
                    ),
                ]
            )
        pairs = (
            frame.groupby([USER_ID, TRACK_ID], sort=True)
            .agg(
                day=("day", "min"),
                skipped=("skipped", "max"),
                listened=("listened", "max"),
                completed=("completed", "max"),
            )
            .reset_index()
        )
        pairs.insert(2, "week", _week_labels(pairs.pop("day").to_numpy()))
        _, ok = self.content_features(pairs[TRACK_ID].to_numpy())
        return pairs[ok].reset_index(drop=True)


def model_folder(config: Config, week: str) -> Path:
    """Where the listener models of ``week`` live (``models/listener_models/week=W``)."""
    return Warehouse(config.paths.warehouse).model_dir("listener_models", week)


AGENT_LISTS = "lists.parquet"  # the ahdqn arm's lists in the agent's folder


def agent_folder(config: Config, week: str) -> Path:
    """Where the AH-DQN of ``week`` and its arm's lists live (``models/ahdqn/week=W``)."""
    return Warehouse(config.paths.warehouse).model_dir("ahdqn", week)


def content_scorer(hist: History, net: ContentNet) -> ContentScore:
    """The content model as :meth:`History.features` reads it: (listeners, tracks) -> (scores, has a score)."""

    def score(users: np.ndarray, tracks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X, has = hist.content_features(np.asarray(tracks))
        s = np.full(len(users), 0.5)
        if has.any():
            s[has] = net(np.asarray(users)[has], X[has])
        return s, has.astype(np.float64)

    return score
