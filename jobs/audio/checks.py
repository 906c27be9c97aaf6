"""Checks around the audio features: attribute accuracy against known answers, and audio paths kept inside the data root.

:func:`accuracy_vs_truth` scores tempo, key, mode and meter against a truth table (the sample
world's ``truth/track_attributes.csv``); :func:`inside_data_root` resolves a catalog's
``audio_path`` and refuses one that leaves the data folder. Pure apart from resolving the path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from schemas.columns import TRACK_ID


def accuracy_vs_truth(attrs: pd.DataFrame, truth: pd.DataFrame) -> dict[str, Any]:
    """Attribute accuracy against known answers (the sample world's ``truth/track_attributes.csv``).

    ``truth`` has ``track_id, bpm, key, mode, time_signature`` ("3/4"); tempo is right
    within 4%, an octave error is x2 or x1/2, a 3:2 error x3/2 or x2/3.
    """
    df = attrs.merge(truth[[TRACK_ID, "bpm", "key", "mode", "time_signature"]], on=TRACK_ID, suffixes=("", "_true"))
    if df.empty:
        return {"tracks": 0}
    ratio = df["tempo_bpm"] / df["bpm"]

    def near(x: float) -> pd.Series:
        return (ratio - x).abs() / x <= 0.04

    meter_true = df["time_signature_true"].astype(str).str.split("/").str[0].astype(int)
    right = {
        "tempo": near(1.0),
        "key_mode": (df["key"] == df["key_true"]) & (df["mode"] == df["mode_true"]),
        "time_signature": df["time_signature"].astype(int) == meter_true,
    }
    conf = {"tempo": "tempo_confidence", "key_mode": "key_confidence", "time_signature": "time_signature_confidence"}
    out: dict[str, Any] = {
        "tracks": len(df),
        "tempo_within_4pct": round(float(right["tempo"].mean()), 4),
        "tempo_octave_errors": round(float((near(2.0) | near(0.5)).mean()), 4),
        "tempo_3_2_errors": round(float((near(1.5) | near(2 / 3)).mean()), 4),
        "key_and_mode": round(float(right["key_mode"].mean()), 4),
        "key": round(float((df["key"] == df["key_true"]).mean()), 4),
        "mode": round(float((df["mode"] == df["mode_true"]).mean()), 4),
        "time_signature": round(float(right["time_signature"].mean()), 4),
    }
    out["mean_confidence_right_wrong"] = {
        name: [
            round(float(df.loc[ok, conf[name]].mean()), 3) if ok.any() else None,
            round(float(df.loc[~ok, conf[name]].mean()), 3) if (~ok).any() else None,
        ]
        for name, ok in right.items()
    }
    return out


# ----------------------------------------------------------------------------- job


def inside_data_root(data: Path, audio_path: str) -> Path | None:
    """``audio_path`` (relative to the data folder) as a path under it, or ``None`` when it leads outside.

    The catalog's text is checked, not the folder's layout: an absolute path or one whose
    ``..`` climbs out of the folder is refused; a link the data's owner placed inside the
    folder (``audio/`` linked to a disk elsewhere) is followed, as any reader would.
    """
    if Path(audio_path).is_absolute():
        return None
    root = Path(os.path.abspath(data))
    path = Path(os.path.normpath(root / audio_path))
    return path if root in path.parents else None
