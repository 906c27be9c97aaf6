"""The rules a raw play must pass before it enters ``plays``, and what ingest says about the ones that fail.

:func:`validate` gives every raw row a ``reason`` (a :data:`schemas.vocab.QUARANTINE_REASONS` code,
the first rule it breaks, or none; the optional ``context`` checked against
:data:`CONTEXT_PATTERN`), :func:`deduplicate` keeps one row per (listener, track,
start), :func:`hints` and :func:`bad_share_problem` turn the counts into the messages a user
sees (a likely cause, the setting that decides it). Pure functions over Spark DataFrames and
plain values; the ``ingest`` stage (:mod:`jobs.ingest`) reads the raw files and publishes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from schemas.columns import CONTEXT, MS_PLAYED, PLAYED_AT, REASON, TRACK_ID, USER_ID
from schemas.vocab import (
    ABSURD_MS_PLAYED,
    AFTER_CUTOFF,
    BAD_CONTEXT,
    BAD_ENCODING,
    BAD_MS_PLAYED,
    BAD_PLAYED_AT,
    MISSING_TRACK_ID,
    MISSING_USER_ID,
    NEGATIVE_MS_PLAYED,
    PLAYED_BEFORE_SERVICE_START,
    PLAYED_IN_FUTURE,
    UNKNOWN_TRACK_ID,
)

MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01
# ids that mean "no id" (compared lower-cased, after trimming): quarantined as missing_user_id / missing_track_id
MISSING_IDS = ("", "null", "none", "nan", "n/a", "-", "\\n", "undefined")  # \N: a database dump's NULL
# a play's context after trimming: a short lower-case token (one of them, or a MISSING_IDS word, is no
# context: null); anything else is quarantined as bad_context rather than guessed at (no lower-casing)
CONTEXT_PATTERN = r"[a-z][a-z0-9_:.-]{0,63}"  # must match the whole value, a line break included
# reasons whose outcome a setting decides: named in the hints and in a failure's message
REASON_SETTINGS = {
    PLAYED_BEFORE_SERVICE_START: ("service_start", "YYYY-MM-DD"),
    PLAYED_IN_FUTURE: ("max_future_days", "DAYS"),
    ABSURD_MS_PLAYED: ("max_ms_played", "MS"),
}


# ----------------------------------------------------------------------------- transforms


def validate(
    rows: Any, track_ids: Any, service_start: dt.datetime, cutoff: dt.datetime, max_ms: int, max_future_days: int = 366
) -> Any:
    """Type and check raw rows: adds ``played_at_ts``, ``ms`` and ``reason`` (null when good).

    ``rows`` has the text columns of the contract plus ``error`` (and, optionally, ``context``);
    ``track_ids`` is a one-column (``track_id``) DataFrame of the catalog. The first failing rule wins.
    Rows at or after ``cutoff`` get reason ``after_cutoff`` (not bad: a later week's) unless
    they lie more than ``max_future_days`` past it (``played_in_future``). Text that is not
    valid UTF-8 (decoded with replacement characters) is ``bad_encoding``. An id that is
    empty or one of :data:`MISSING_IDS` (``NULL``, ``None``, ``NaN``, ``N/A``, ``-``, ``\\N``,
    ``undefined``, any case) is missing. ``context`` comes back trimmed, null when it is empty
    or a :data:`MISSING_IDS` word; one that does not match :data:`CONTEXT_PATTERN` (e.g.
    ``Discover Weekly``) is ``bad_context``.
    """
    from pyspark.sql import functions as F

    uid = F.trim(USER_ID)
    tid = F.trim(TRACK_ID)
    pa_raw = F.trim(PLAYED_AT)
    epoch = F.when(pa_raw.rlike(r"^-?\d{1,16}$"), pa_raw.cast("long"))
    iso_ok = pa_raw.rlike(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
    ts = F.when((epoch >= 0) & (epoch < MAX_EPOCH_MS), F.timestamp_millis(epoch)).when(
        iso_ok, F.try_to_timestamp(pa_raw)
    )
    ms_raw = F.trim(MS_PLAYED)
    ms = F.when(ms_raw.rlike(r"^-?\d{1,18}(\.0+)?$"), F.regexp_replace(ms_raw, r"\.0+$", "").cast("long"))
    known = track_ids.select(F.col(TRACK_ID).alias("_known")).distinct()
    if CONTEXT not in rows.columns:
        rows = rows.withColumn(CONTEXT, F.lit(None).cast("string"))
    ctx_raw = F.trim(CONTEXT)
    ctx = F.when(~F.lower(ctx_raw).isin(*MISSING_IDS), ctx_raw)
    df = rows.withColumn(USER_ID, uid).withColumn(TRACK_ID, tid).withColumn("played_at_ts", ts).withColumn("ms", ms)
    df = df.withColumn(CONTEXT, ctx)
    df = df.join(F.broadcast(known), df[TRACK_ID] == known["_known"], "left")
    reason = (
        F.when(F.col("error").isNotNull(), F.col("error"))
        .when(F.col("raw").contains("\ufffd"), BAD_ENCODING)
        .when(F.col(USER_ID).isNull() | F.lower(USER_ID).isin(*MISSING_IDS), MISSING_USER_ID)
        .when(F.col(TRACK_ID).isNull() | F.lower(TRACK_ID).isin(*MISSING_IDS), MISSING_TRACK_ID)
        .when(F.col("played_at_ts").isNull(), BAD_PLAYED_AT)
        .when(F.col("played_at_ts") < F.lit(service_start), PLAYED_BEFORE_SERVICE_START)
        .when(F.col("ms").isNull(), BAD_MS_PLAYED)
        .when(F.col("ms") < 0, NEGATIVE_MS_PLAYED)
        .when(F.col("ms") > max_ms, ABSURD_MS_PLAYED)
        .when(F.col(CONTEXT).isNotNull() & ~F.col(CONTEXT).rlike(rf"\A{CONTEXT_PATTERN}\z"), BAD_CONTEXT)
        .when(F.col("_known").isNull(), UNKNOWN_TRACK_ID)
        .when(F.col("played_at_ts") >= F.lit(cutoff + dt.timedelta(days=max_future_days)), PLAYED_IN_FUTURE)
        .when(F.col("played_at_ts") >= F.lit(cutoff), AFTER_CUTOFF)
    )
    return df.withColumn(REASON, reason).drop("_known")


def deduplicate(good: Any) -> Any:
    """One row per ``(user_id, track_id, played_at)``; the longest ``ms_played`` wins, with its ``context``
    (of equally long ones, a given context over none, then the greatest)."""
    from pyspark.sql import functions as F

    ctx = F.col(CONTEXT) if CONTEXT in good.columns else F.lit(None).cast("string")
    best = F.max(F.struct(F.col("ms").alias("m"), ctx.alias("c")))
    return good.groupBy(USER_ID, TRACK_ID, F.col("played_at_ts").alias(PLAYED_AT)).agg(
        best["m"].alias(MS_PLAYED), best["c"].alias(CONTEXT)
    )


def looks_like_epoch_seconds(service_start: dt.datetime, cutoff: dt.datetime, max_future_days: int) -> Any:
    """Whether a row's ``played_at`` is a whole number that, read as epoch seconds, is a time ingest accepts."""
    from pyspark.sql import functions as F

    text = F.trim(PLAYED_AT)
    ms = F.when(text.rlike(r"^\d{1,12}$"), text.cast("long") * 1000)
    low = int(service_start.timestamp() * 1000)
    high = int((cutoff + dt.timedelta(days=max_future_days)).timestamp() * 1000)
    return F.coalesce((ms >= low) & (ms < high), F.lit(False))


def hints(counts: dict[str, int], epoch_seconds: dict[str, int], settings: dict[str, Any]) -> list[str]:
    """What likely caused some of the reasons in ``counts``, and which setting decides them.

    ``epoch_seconds``: per file, the rows quarantined as played_before_service_start whose
    played_at reads as a valid time in epoch seconds; ``settings``: the ingest section.
    """
    out = []
    if epoch_seconds:
        n = sum(epoch_seconds.values())
        files = ", ".join(sorted(epoch_seconds)[:5]) + (", ..." if len(epoch_seconds) > 5 else "")
        out.append(
            f"{n} played_at values quarantined as played_before_service_start look like epoch seconds ({files}): "
            "played_at must be epoch milliseconds or ISO-8601"
        )
    for reason, (key, example) in REASON_SETTINGS.items():
        if counts.get(reason):
            out.append(
                f"{reason} depends on ingest.{key} (now {settings[key]}): change it in the configuration "
                f"or with the environment variable DW__INGEST__{key.upper()}={example}"
            )
    return out


def bad_share_problem(
    counts: dict[str, int],
    total: int,
    limit: float,
    by_file: dict[str, dict[str, int]],
    notes: list[str] | tuple[str, ...] = (),
) -> str | None:
    """The failure message when the quarantined share passes ``limit``, else None; ``notes`` are appended."""
    bad = sum(counts.values())
    if total == 0 or bad / total <= limit:
        return None
    worst = sorted(by_file.items(), key=lambda kv: -sum(kv[1].values()))[:10]
    lines = [f"  {f}: " + ", ".join(f"{r}={n}" for r, n in sorted(c.items())) for f, c in worst]
    return (
        f"{bad} of {total} raw rows ({bad / total:.1%}) were quarantined, above the limit of {limit:.1%} "
        f"(ingest.max_bad_share). Reasons: {dict(sorted(counts.items()))}. Worst files:\n"
        + "\n".join(lines)
        + "".join(f"\nHint: {n}" for n in notes)
    )


# ----------------------------------------------------------------------------- job
