"""BaRT: a contextual bandit over (track, explanation) actions that fills a playlist's first places. Pure.

After McInerney et al., "Explore, Exploit, and Explain: Personalizing Explainable
Recommendations with Bandits" (RecSys 2018): the same track shown with another reason is
another action; a reward model ``P(stream | listener, track, explanation, place)`` is a
logistic regression over their features, trained counterfactually on the logged exposures
(each weighted by the inverse of the propensity it was shown with, clipped); the policy is
epsilon-greedy over it (Thompson sampling from the model's Laplace posterior as an option).

* Actions (:func:`fill_slots`): for a listener of the ``bart`` arm, every candidate the blend
  ranked (its own ``k`` plus ``bandit.pool`` more, all under the merge's rules, so any subset
  of them keeps the artist cap, one version of a song and the cold-slot limit) with each of
  its true reasons (:func:`jobs.recsys.playlists.true_reasons`). Slot after slot (places 1 to
  ``bandit.slots``), one action is drawn among those left; the other places take the blend's
  remaining candidates in order.
* Features (:func:`features`, :data:`FEATURE_NAMES`): the four parts of the blended score
  (model, culture, sequence, popularity prior), never-played, the listener's history size
  (``log1p`` of tracks heard, /5), the place (``log``), the explanation's kind
  (:func:`explanation_kind`) and the kind times the history size.
* Propensity: the probability with which the policy chose that action for that slot:
  ``(1 - eps) [a is the greedy action] + eps / |A|`` for epsilon-greedy; for Thompson the
  share of 200 posterior draws (seeded) whose best action it is (``(count + 1) / 201``); with
  no model yet, ``1 / |A|`` (uniform exploration).
* Reward (:func:`exposure_rewards`): a stream (a play of at least ``als.min_ms_played``, with
  ``context = discover_weekly`` when the logs say where plays came from) of the shown track by
  its listener in the week it was shown, plus ``bandit.save_bonus`` for a save that week.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobs.recsys.ranking import Pick
from schemas import vocab
from schemas.columns import CONTEXT, MS_PLAYED, PLAYED_AT, POSITION, REASON, SAVED_AT, SOURCE, TRACK_ID, USER_ID

KINDS = ("als_more", "als_because", "audio", "culture", "sequence", "popular", "other")
BASE_FEATURES = ("bias", "part_model", "part_culture", "part_sequence", "part_popularity", "never_played", "history")
FEATURE_NAMES = (
    *BASE_FEATURES,
    "log_place",
    *[f"kind_{k}" for k in KINDS[1:]],
    *[f"kind_{k}_x_history" for k in KINDS[1:]],
)
THOMPSON_DRAWS = 200
MAX_WEIGHT = 20.0  # inverse-propensity weights are clipped here


def explanation_kind(source: str, reason: str) -> str:
    """The pipeline's own kind of an explanation: its source, with ALS's two phrasings apart."""
    if source == vocab.ALS:
        return "als_more" if reason.startswith("More from") else "als_because"
    if source in ("audio", "culture", "sequence", "popular", "fallback"):
        return "popular" if source == "fallback" else source
    return "other"


def features(parts: np.ndarray, cold: np.ndarray, kinds: list[str], history: float, place: int) -> np.ndarray:
    """``(n, len(FEATURE_NAMES))`` for ``n`` actions of one listener at one place (see the module docstring)."""
    n = len(kinds)
    parts = np.asarray(parts, dtype=np.float64).reshape(n, 4) if n else np.zeros((0, 4))
    onehot = np.zeros((n, len(KINDS) - 1))
    for r, k in enumerate(kinds):
        i = KINDS.index(k)
        if i:
            onehot[r, i - 1] = 1.0
    base = np.column_stack(
        [np.ones(n), parts, np.asarray(cold, dtype=np.float64), np.full(n, history), np.full(n, np.log(place))]
    )
    return np.column_stack([base, onehot, onehot * history])


@dataclass(frozen=True)
class RewardModel:
    """A logistic reward model: ``P(reward > 0) = sigmoid(X @ weights)``, with its Laplace posterior covariance."""

    weights: np.ndarray
    covariance: np.ndarray
    names: tuple[str, ...] = FEATURE_NAMES

    def predict(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(np.asarray(X) @ self.weights)))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "feature": list(self.names),
                "weight": self.weights,
                "variance": np.diag(self.covariance),
                "covariance": [row.astype(np.float32).tolist() for row in self.covariance],
            }
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> RewardModel:
        """The model back from its table (the full posterior covariance where stored, else its diagonal)."""
        names = tuple(frame["feature"])
        if names != FEATURE_NAMES:
            raise ValueError(f"reward model features {names} differ from this code's {FEATURE_NAMES}")
        w = frame["weight"].to_numpy(dtype=np.float64)
        if "covariance" in frame.columns and frame["covariance"].notna().all():
            cov = np.array([np.asarray(r, dtype=np.float64) for r in frame["covariance"]])
            cov = (cov + cov.T) / 2  # float32 storage: keep it symmetric
        else:
            cov = np.diag(frame["variance"].to_numpy(dtype=np.float64))
        return cls(w, cov, names)


def fit_reward_model(
    X: np.ndarray,
    y: np.ndarray,
    propensity: np.ndarray,
    l2: float = 1.0,
    iterations: int = 50,
    top: float = 1.0,
) -> RewardModel:
    """Propensity-weighted L2 logistic regression by Newton's method (deterministic).

    Each row weighs ``min(1 / propensity, MAX_WEIGHT)``, the weights scaled to mean 1, so
    the model learns the reward of every action as if it had been shown uniformly (the
    counterfactual training of BaRT). The target is the reward over ``top`` (its largest
    value: a stream plus the save bonus), in [0, 1], so a save counts for more than a stream
    (the logistic loss takes fractional targets). The covariance is the inverse Hessian at
    the optimum (the Laplace posterior Thompson sampling draws from)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.clip(np.asarray(y, dtype=np.float64) / top, 0.0, 1.0)
    p = np.asarray(propensity, dtype=np.float64)
    if len(X) != len(y) or len(y) != len(p):
        raise ValueError(f"{len(X)} feature rows, {len(y)} rewards, {len(p)} propensities")
    if np.any(~(p > 0)) or np.any(p > 1):
        raise ValueError(f"propensities must be in (0, 1]; row {int(np.flatnonzero(~((p > 0) & (p <= 1)))[0])}")
    w_row = np.minimum(1.0 / p, MAX_WEIGHT)
    w_row = w_row / w_row.mean() if len(w_row) else w_row
    d = X.shape[1]
    reg = l2 * np.eye(d)
    reg[0, 0] = 1e-6  # the bias is not shrunk
    beta = np.zeros(d)
    for _ in range(iterations):
        mu = 1.0 / (1.0 + np.exp(-(X @ beta)))
        grad = X.T @ (w_row * (mu - y)) + reg @ beta
        H = (X * (w_row * mu * (1 - mu))[:, None]).T @ X + reg
        step = np.linalg.solve(H, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    mu = 1.0 / (1.0 + np.exp(-(X @ beta)))
    H = (X * (w_row * mu * (1 - mu))[:, None]).T @ X + reg
    return RewardModel(beta, np.linalg.inv(H))


def choice_probabilities(
    model: RewardModel | None, X: np.ndarray, method: str, epsilon: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """The policy's probability of each action (and the model's predictions, if any)."""
    n = len(X)
    if model is None:
        return np.full(n, 1.0 / n), None
    pred = model.predict(X)
    if method == "thompson":
        draws = rng.multivariate_normal(model.weights, model.covariance, THOMPSON_DRAWS, method="cholesky")
        best = np.argmax(X @ draws.T, axis=0)
        counts = np.bincount(best, minlength=n).astype(np.float64)
        probs = (counts + 1.0 / n) / (THOMPSON_DRAWS + 1.0)
        return probs / probs.sum(), pred
    probs = np.full(n, epsilon / n)
    probs[int(np.argmax(pred))] += 1.0 - epsilon  # ties: the first (the blend's order)
    return probs, pred


def fill_slots(
    candidates: list[Pick],
    k: int,
    slots: int,
    cold: np.ndarray,
    history: float,
    model: RewardModel | None,
    method: str,
    epsilon: float,
    rng: np.random.Generator,
) -> tuple[list[Pick], list[float], list[dict]]:
    """One listener's ``k`` picks: places ``1..slots`` drawn by the bandit, the rest in the blend's order.

    ``candidates``: the blend's picks, best first (more than ``k``); ``cold`` per item. Returns
    the picks, each place's propensity (1 for the blend's places) and every action offered
    at each bandit place (for the log: place, item, source, reason, kind, features, its
    probability, the model's prediction, whether it was chosen)."""
    left = list(range(len(candidates)))
    picks: list[Pick] = []
    propensities: list[float] = []
    offered: list[dict] = []
    for place in range(1, min(slots, k, len(candidates)) + 1):
        actions = [
            (c, o) for c in left for o in (candidates[c].options or ((candidates[c].source, candidates[c].reason),))
        ]
        kinds = [explanation_kind(src, why) for _, (src, why) in actions]
        parts = np.array([candidates[c].parts or (candidates[c].score, 0.0, 0.0, 0.0) for c, _ in actions])
        X = features(parts, cold[[candidates[c].item for c, _ in actions]], kinds, history, place)
        probs, pred = choice_probabilities(model, X, method, epsilon, rng)
        a = int(rng.choice(len(actions), p=probs))
        for j, ((c, (src, why)), kind) in enumerate(zip(actions, kinds, strict=True)):
            offered.append(
                {
                    POSITION: place,
                    "item": candidates[c].item,
                    SOURCE: src,
                    REASON: why,
                    "kind": kind,
                    "features": X[j].astype(np.float32).tolist(),
                    "probability": float(probs[j]),
                    "predicted": float(pred[j]) if pred is not None else float("nan"),
                    "chosen": j == a,
                }
            )
        c, (src, why) = actions[a]
        picks.append(candidates[c]._replace(source=src, reason=why))
        propensities.append(float(probs[a]))
        left.remove(c)
    for c in left[: k - len(picks)]:
        picks.append(candidates[c])
        propensities.append(1.0)
    return picks, propensities, offered


def exposure_rewards(
    exposures: pd.DataFrame,
    plays: pd.DataFrame,
    saves: pd.DataFrame | None,
    week_start: dt.datetime,
    min_ms: int,
    save_bonus: float,
) -> np.ndarray:
    """Each exposure's reward: 1 for a stream of its track by its listener in the week from ``week_start``,
    plus ``save_bonus`` for a save that week. A play whose context ends in ``.skipped`` is no stream; when
    some of the listener's plays that week say they came from Discover Weekly (``context =
    discover_weekly``), only those count, else any stream does (exports that do not name the surface)."""
    end = week_start + dt.timedelta(days=7)
    when = pd.to_datetime(plays[PLAYED_AT], utc=True)
    hit = (when >= week_start) & (when < end) & (plays[MS_PLAYED] >= min_ms)
    if CONTEXT in plays.columns:
        context = plays[CONTEXT]
        hit &= ~context.fillna("").str.endswith(vocab.SKIPPED_CONTEXT_SUFFIX)
        # attribution by the finest signal there is: where a listener's plays of the week say which came
        # from Discover Weekly, only those count; where none does (an export without it), any stream does
        from_dw = context == vocab.DISCOVER_WEEKLY_CONTEXT
        attributed = set(plays.loc[hit & from_dw, USER_ID])
        hit &= from_dw | ~plays[USER_ID].isin(attributed)
    streamed = set(zip(plays.loc[hit, USER_ID], plays.loc[hit, TRACK_ID], strict=True))
    pairs = list(zip(exposures[USER_ID], exposures[TRACK_ID], strict=True))
    reward = np.array([1.0 if p in streamed else 0.0 for p in pairs])
    if saves is not None and len(saves) and save_bonus:
        at = pd.to_datetime(saves[SAVED_AT], utc=True)
        kept = saves[(at >= week_start) & (at < end)]
        saved = set(zip(kept[USER_ID], kept[TRACK_ID], strict=True))
        reward += save_bonus * np.array([1.0 if p in saved else 0.0 for p in pairs])
    return reward
