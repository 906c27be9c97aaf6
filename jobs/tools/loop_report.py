"""The simulated weeks' curves per arm, and the off-policy estimates beside the simulator's truth.

Reads a simulation folder (:mod:`jobs.tools.simulate`): the published ``exposures`` and
``bandit_actions`` of every simulated week and the ``bandit`` run metrics from its
warehouse, the plays table (which tracks anybody had played before a week), and
``truth/responses`` (what the listeners did, and the probabilities they did it with). Writes
``loop.json`` and ``loop.html`` into the folder:

* per week and arm (policy): listeners, shown rows, **stream rate** (streams of 30 s or more
  per shown track), **save rate** (saves per shown track), **completion rate** (tracks played
  to 90% or more per shown track), **session reward** (per listener and list: streams
  + ``rl.reward_complete`` x completions + ``rl.reward_skip`` x skips, the reward the AH-DQN is
  trained for), **catalog coverage** (distinct tracks shown over the catalog) and the **share of
  streamed tracks nobody had played before** the week; the last week's rates with 95% intervals
  over listeners, and each arm's difference from ``blend`` (listeners resampled within each arm:
  the arms hold different listeners), also pooled over the weeks every learned policy served
  a model in;
* the world model against the simulator: for the ``ahdqn`` arm's places, the world model's
  p(listen) (``models/ahdqn/week=W/lists.parquet``) beside the simulator's true stream
  probability (open x look x stream), overall and by place;
* for each week the bandit logged with a randomised policy: each target policy's IPS,
  SNIPS and doubly robust estimates of its stream rate per bandit place (as the ``bandit``
  job computed them from the logs alone) beside its true value (the simulator's expected
  stream probability of the target's action at each logged place), and their relative error.

``python -m jobs.tools.loop_report SIM [SIM ...]`` writes the pages of each folder, and with
several folders (seeds) ``--combined FILE`` the per-arm rates of the last week averaged over
them, with the spread across seeds.
"""

from __future__ import annotations

import argparse
import html
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import RlConf
from jobs.evaluation.stats import bootstrap_mean
from jobs.feedback.bandit import RewardModel, exposure_rewards
from jobs.feedback.offpolicy import evaluate_targets, target_probabilities
from jobs.feedback.ope import relative_error
from jobs.tools.world.live import load_sim_world
from jobs.tools.world.respond import REASON_KINDS, expected_reward, probabilities, reason_kind
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import cutoff, week_start
from schemas.columns import CONTEXT, MS_PLAYED, PLAYED_AT, POSITION, REASON, TRACK_ID, USER_ID

METRICS = (
    "stream_rate",
    "save_rate",
    "completion_rate",
    "session_reward",
    "catalog_coverage",
    "new_track_stream_share",
)
PER_LISTENER = (
    ("stream_rate", "streamed"),
    ("save_rate", "saved"),
    ("completion_rate", "completed"),
    ("session_reward", "session_reward"),
)
REWARDS = RlConf()  # the agent's reward of a complete and of a skip (the defaults)


def _independent_difference(a: np.ndarray, b: np.ndarray, seed: int = 0, n: int = 2000) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    da = a[rng.integers(0, len(a), (n, len(a)))].mean(1)
    db = b[rng.integers(0, len(b), (n, len(b)))].mean(1)
    low, high = np.quantile(da - db, [0.025, 0.975])
    return {"mean": round(float(a.mean() - b.mean()), 4), "low": round(float(low), 4), "high": round(float(high), 4)}


def _per_listener(out: Path) -> tuple[pd.DataFrame, dict[tuple[str, str], pd.DataFrame], list[str]]:
    """Per week and arm the metrics, each listener's rates and session reward per (week, arm), and the
    weeks every learned policy served a model in (the bandit's other weeks explore uniformly; the agent's
    arm gets the blend's order before its first model)."""
    wh = Warehouse(out / "warehouse")
    state = json.loads((out / "sim.json").read_text())
    n_catalog = len(pd.read_csv(out / "data" / "catalog" / "tracks.csv", usecols=[TRACK_ID]))
    rows, per_listener, model_weeks = [], {}, []
    for week in state["weeks_done"]:
        resp = pd.read_parquet(out / "truth" / "responses" / f"{week}.parquet")
        exp = wh.read("exposures", week)[[USER_ID, POSITION, "policy", "policy_version"]]
        learned = [
            exp.loc[exp["policy"] == arm, "policy_version"].str.startswith(prefix).any()
            for arm, prefix in (("bart", "model-"), ("ahdqn", "ahdqn-"))
            if (exp["policy"] == arm).any()
        ]
        if learned and all(learned):
            model_weeks.append(week)
        resp = resp.merge(exp.drop(columns="policy_version"), on=[USER_ID, POSITION], how="left")
        heard = set(wh.plays_before(cutoff(week), (TRACK_ID,))[TRACK_ID])
        skipped = resp["looked"] & ~resp["streamed"]
        resp["session_reward"] = (
            resp["streamed"] + REWARDS.reward_complete * resp["completed"] + REWARDS.reward_skip * skipped
        )
        for policy, g in resp.groupby("policy"):
            streamed = g.loc[g["streamed"], TRACK_ID]
            rows.append(
                {
                    "week": week,
                    "policy": policy,
                    "listeners": g[USER_ID].nunique(),
                    "shown": len(g),
                    "stream_rate": g["streamed"].mean(),
                    "save_rate": g["saved"].mean(),
                    "completion_rate": g["completed"].mean(),
                    "session_reward": g.groupby(USER_ID)["session_reward"].sum().mean(),
                    "catalog_coverage": g[TRACK_ID].nunique() / n_catalog,
                    "new_track_stream_share": (~streamed.isin(heard)).mean() if len(streamed) else 0.0,
                }
            )
            per = g.groupby(USER_ID)[["streamed", "saved", "completed"]].mean()
            per["session_reward"] = g.groupby(USER_ID)["session_reward"].sum()
            per_listener[(week, policy)] = per
    return pd.DataFrame(rows), per_listener, model_weeks


def weekly_curves(out: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per week and arm, the four metrics; the last week's rates with intervals and differences from blend,
    and the same pooled over the weeks the bandit had a model in (each listener's mean over them)."""
    curves, per_listener, model_weeks = _per_listener(out)
    last = str(curves["week"].max()) if len(curves) else None
    return curves, {
        "week": last,
        "arms": _pooled(per_listener, [last]),
        "pooled": {"weeks": model_weeks, "arms": _pooled(per_listener, model_weeks)},
    }


def _pooled(per_listener: dict, weeks: list[str]) -> dict[str, Any]:
    """Per arm, each listener's mean rates and session reward over ``weeks``, with intervals, and the
    difference from ``blend`` (listeners resampled within each arm)."""
    frames: dict[str, list[pd.DataFrame]] = {}
    for (week, policy), frame in per_listener.items():
        if week in weeks:
            frames.setdefault(policy, []).append(frame)
    means = {p: pd.concat(f).groupby(level=0).mean() for p, f in frames.items()}
    out: dict[str, Any] = {}
    for policy, frame in means.items():
        out[policy] = {m: bootstrap_mean(frame[c].to_numpy(), seed=1).as_dict(4) for m, c in PER_LISTENER}
        out[policy]["listeners"] = len(frame)
        if policy != "blend" and "blend" in means:
            out[policy]["minus_blend"] = {
                m: _independent_difference(frame[c].to_numpy(), means["blend"][c].to_numpy()) for m, c in PER_LISTENER
            }
    return out


def off_policy_check(out: Path, min_ms: int = 30_000) -> list[dict[str, Any]]:
    """Per logged week: each target's estimates from the logs alone (the week's ``bandit_actions``, and the
    plays of that week ingested by the next week's run) beside the simulator's truth for the same places."""
    wh = Warehouse(out / "warehouse")
    state = json.loads((out / "sim.json").read_text())
    settings = state["settings"]
    from jobs.tools.simulate import world_conf

    sim = load_sim_world(world_conf(settings["size"], settings["seed"]))
    done = state["weeks_done"]
    found = []
    for j, (logged, after) in enumerate(itertools.pairwise(done)):
        actions = wh.read("bandit_actions", logged).assign(week=logged).reset_index(drop=True)
        if not len(actions):
            continue
        plays = wh.plays_before(cutoff(after), (USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED, CONTEXT))
        start = pd.Timestamp(week_start(logged)).tz_localize("UTC").to_pydatetime()
        stream = exposure_rewards(actions, plays, None, start, min_ms, 0.0)
        frame = wh.read_optional("bandit_model", logged)  # the model the week was served with
        model = RewardModel.from_frame(frame) if frame is not None and len(frame) else None
        ope = evaluate_targets(actions, stream, model, seed=1)
        fatigue = np.load(out / "truth" / "fatigue" / f"{done[j - 1]}.npy") if j else np.zeros(sim.users)
        users = actions[USER_ID].map(sim.user_index).to_numpy()
        tracks = actions[TRACK_ID].map(sim.track_index).to_numpy()
        kinds = actions[REASON].map(lambda r: REASON_KINDS.index(reason_kind(r))).to_numpy()
        p = probabilities(
            sim.ctx, sim.traits, users, tracks, actions[POSITION].to_numpy(), kinds, sim.conf.weeks + j, fatigue
        )
        truth_row = expected_reward(p, 0.0)
        slot = actions.groupby(["week", USER_ID, POSITION], sort=False).ngroup().to_numpy()
        entry: dict[str, Any] = {"logged_week": logged, "places": ope["places"], "model": model is not None}
        for name, probs in target_probabilities(actions).items():
            if "skipped" in ope[name]:
                continue
            ok = pd.Series(~np.isnan(probs)).groupby(slot).transform("all").to_numpy()
            value = pd.Series(np.where(ok, probs * truth_row, 0.0)).groupby(slot).sum()
            truth = float(value[pd.Series(ok).groupby(slot).first()].mean())
            entry[name] = {
                "truth": round(truth, 4),
                **{
                    est: {
                        "value": round(v["value"], 4),
                        "low": round(v["low"], 4),
                        "high": round(v["high"], 4),
                        "effective_n": round(v["effective_n"], 1),
                        "relative_error": round(relative_error(v["value"], truth), 4),
                    }
                    for est, v in ope[name].items()
                },
            }
        found.append(entry)
    return found


def world_model_check(out: Path) -> list[dict[str, Any]]:
    """Per week the agent served: the world model's p(listen) of each of the ``ahdqn`` arm's places beside the
    simulator's true probability that it was streamed (open x look x stream), overall and by place."""
    found = []
    state = json.loads((out / "sim.json").read_text())
    for week in state["weeks_done"]:
        path = out / "warehouse" / "models" / "ahdqn" / f"week={week}" / "lists.parquet"
        if not path.exists():
            continue
        lists = pd.read_parquet(path)[[USER_ID, POSITION, TRACK_ID, "p_listen"]]
        resp = pd.read_parquet(out / "truth" / "responses" / f"{week}.parquet")
        rows = lists.merge(resp, on=[USER_ID, POSITION, TRACK_ID], how="inner")  # the places it served
        if not len(rows):
            continue
        truth = rows["p_open"] * rows["p_look"] * rows["p_stream"]
        bucket = pd.cut(rows[POSITION], [0, 5, 10, 20, 30], labels=["1-5", "6-10", "11-20", "21-30"])
        by_place = (
            pd.DataFrame({"place": bucket, "predicted": rows["p_listen"], "true": truth, "streamed": rows["streamed"]})
            .groupby("place", observed=True)
            .mean()
            .round(4)
        )
        found.append(
            {
                "week": week,
                "places": len(rows),
                "predicted": round(float(rows["p_listen"].mean()), 4),
                "true": round(float(truth.mean()), 4),
                "streamed": round(float(rows["streamed"].mean()), 4),
                "correlation": round(float(np.corrcoef(rows["p_listen"], truth)[0, 1]), 4),
                "by_place": by_place.reset_index().astype({"place": str}).to_dict("records"),
            }
        )
    return found


def _svg(curves: pd.DataFrame, metric: str) -> str:
    weeks = sorted(curves["week"].unique())
    if not weeks:
        return ""
    w, h, pad = 420, 180, 36
    top = max(float(curves[metric].max()) * 1.1, 1e-6)
    colours = {
        "als": "#d62728",
        "blend": "#1f77b4",
        "bart": "#2ca02c",
        "ahdqn": "#9467bd",
        "random": "#8c564b",
        "fallback": "#999999",
    }
    x = {wk: pad + i * (w - 2 * pad) / max(len(weeks) - 1, 1) for i, wk in enumerate(weeks)}
    parts = [f'<svg width="{w}" height="{h}" role="img"><title>{metric}</title>']
    parts.append(f'<text x="{pad}" y="14" font-size="12">{metric} (0 to {top:.3f})</text>')
    for policy, g in curves.groupby("policy"):
        pts = " ".join(
            f"{x[r.week]:.1f},{h - pad - (getattr(r, metric) / top) * (h - 2 * pad):.1f}" for r in g.itertuples()
        )
        parts.append(f'<polyline fill="none" stroke="{colours.get(policy, "#000")}" stroke-width="2" points="{pts}"/>')
        last = g.iloc[-1]
        parts.append(
            f'<text x="{w - pad + 2}" y="{h - pad - (last[metric] / top) * (h - 2 * pad):.1f}" font-size="10">{policy}</text>'
        )
    parts.append(f'<text x="{pad}" y="{h - 8}" font-size="10">{weeks[0]} .. {weeks[-1]}</text></svg>')
    return "".join(parts)


def write_loop_report(out: Path) -> tuple[Path, Path]:
    """``loop.json`` and ``loop.html`` in the simulation folder ``out``."""
    curves, summary = weekly_curves(out)
    checks = off_policy_check(out)
    world = world_model_check(out)
    state = json.loads((out / "sim.json").read_text())
    data = {
        "settings": state["settings"],
        "weeks": state["weeks_done"],
        "seconds_per_week": {w: t.get("total") for w, t in state.get("times", {}).items()},
        "curves": curves.round(4).to_dict("records"),
        "last_week": summary,
        "off_policy": checks,
        "world_model": world,
    }
    json_path = out / "loop.json"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    body = [f"<h1>The loop: {len(state['weeks_done'])} simulated weeks</h1>"]
    body.append(f"<p>Settings: {html.escape(json.dumps(state['settings']))}. Arms are listeners split at random.</p>")
    body += [_svg(curves, m) for m in METRICS] if len(curves) else ["<p>No week yet.</p>"]
    body.append("<h2>Last week, with 95% intervals over listeners</h2><pre>")
    body.append(html.escape(json.dumps(summary, indent=1)))
    body.append("</pre><h2>Off-policy estimates against the simulator's truth (stream rate per bandit place)</h2><pre>")
    body.append(html.escape(json.dumps(checks, indent=1)))
    body.append("</pre><h2>The world model's p(listen) beside the simulator's truth (the agent's places)</h2><pre>")
    body.append(html.escape(json.dumps(world, indent=1)))
    body.append("</pre>")
    html_path = out / "loop.html"
    html_path.write_text("<!doctype html><meta charset='utf-8'><title>loop</title>" + "".join(body))
    return json_path, html_path


def combined(folders: list[Path]) -> dict[str, Any]:
    """Several simulations (seeds) together: each listener's rates pooled over the weeks the bandit had a
    model in, every seed's listeners in one sample, per arm with intervals and differences from blend;
    and each seed's own pooled means."""
    merged: dict[tuple[str, str], list[pd.DataFrame]] = {}
    seeds = {}
    for i, folder in enumerate(folders):
        _, per_listener, model_weeks = _per_listener(folder)
        for (week, policy), frame in per_listener.items():
            if week in model_weeks:
                merged.setdefault(("pooled", policy), []).append(frame.set_axis([f"{i}/{u}" for u in frame.index]))
        seeds[str(folder)] = {
            "weeks": model_weeks,
            **{p: {m: v[m]["mean"] for m, _ in PER_LISTENER} for p, v in _pooled(per_listener, model_weeks).items()},
        }
    frames = {key: pd.concat(f) for key, f in merged.items()}
    return {"seeds": seeds, "pooled": _pooled(frames, ["pooled"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.tools.loop_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--combined", type=Path, help="write the seeds' last-week rates here (JSON)")
    args = parser.parse_args(argv)
    for folder in args.folders:
        print(write_loop_report(folder)[1])
    if args.combined:
        args.combined.write_text(json.dumps(combined(args.folders), indent=2) + "\n")
        print(args.combined)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
