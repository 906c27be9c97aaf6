"""The configuration's sections: one frozen pydantic model per section, every setting with its
default, its bounds and its meaning (read by :mod:`jobs.config`, which loads, overrides,
validates and prints them; import the models from there). Nothing is read or written.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Under spark-submit this module may be imported from a zip (--py-files), so the root can
# be given explicitly; the DAG and the Makefile always set it.
PROJECT_ROOT = Path(os.environ.get("DW_PROJECT_ROOT") or Path(__file__).resolve().parents[2])


def _anchor(path: Path) -> Path:
    return path if path.is_absolute() else PROJECT_ROOT / path


def _iso_date(value: str) -> str:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO date") from None
    return value


def _monday(value: str) -> str:
    try:
        monday = dt.date.fromisoformat(value).weekday() == 0
    except ValueError:
        monday = False
    if not monday:
        raise ValueError("must be an ISO date that is a Monday")
    return value


def _jvm_size(value: str) -> str:
    if not re.fullmatch(r"\d+([kmgtp]b?)?", value, re.IGNORECASE):
        raise ValueError("must be a JVM memory size such as 4g or 512m")
    return value


# Types are strict (an integer is never a boolean or a string); a number accepts integers.
Int = StrictInt
Num = Annotated[float, Strict(), AllowInfNan(False)]  # a finite number: inf and NaN are refused
Bool = StrictBool
Str = StrictStr
Ints = tuple[StrictInt, ...]  # a YAML list of integers
Strs = tuple[StrictStr, ...]
AnchoredPath = Annotated[Path, AfterValidator(_anchor)]
IsoDate = Annotated[StrictStr, AfterValidator(_iso_date)]
Monday = Annotated[StrictStr, AfterValidator(_monday)]
JvmSize = Annotated[StrictStr, AfterValidator(_jvm_size)]


class _Section(BaseModel):
    """One section of the configuration: frozen, every key known, defaults validated too."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _dates_as_text(cls, data: Any) -> Any:
        """YAML reads an unquoted 2026-11-16 as a date; settings hold dates as ISO text."""
        if isinstance(data, dict):
            return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in data.items()}
        return data


class Paths(_Section):
    data: AnchoredPath = Field(Path("data/sample"), description="input root: raw/plays/, catalog/, audio/, web/")
    warehouse: AnchoredPath = Field(Path("data/warehouse"), description="every output table lives under here")
    checkpoints: AnchoredPath = Field(Path("data/checkpoints"), description="Spark checkpoints (ALS lineage)")
    cache: AnchoredPath = Field(
        Path("data/cache"),
        description="content-addressed caches (raw files' parsed rows, audio features, pages' terms, ALS fits, "
        "each by content hash and code version); deletable between runs without changing any output",
    )


class SparkConf(_Section):
    master: Str = Field("local[2]", description="when a job runs with plain python; spark-submit passes its own")
    driver_memory: JvmSize = Field("4g", description="spark-submit --driver-memory (the DAG); plain python: the same")
    executor_memory: JvmSize = Field("2g", description="spark-submit --executor-memory (the DAG; cluster masters)")
    shuffle_partitions: Int = Field(8, ge=1, description="spark.sql.shuffle.partitions")
    log_level: Literal["ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF", "TRACE"] = Field(
        "WARN", description="the SparkContext's log level"
    )


class DagConf(_Section):
    """How the Airflow DAG runs its tasks; read when dags/discover_weekly.py is parsed."""

    retries: Int = Field(2, ge=0, description="tries after a failed one, per task (0 = fail at once)")
    retry_delay_minutes: Num = Field(2.0, gt=0, description="wait before the first retry; doubles for each next one")
    paused_on_creation: Bool = Field(
        True, description="a scheduler (make airflow) creates the DAG paused: no Monday run until it is unpaused"
    )
    parallelism: Int = Field(
        2,
        ge=1,
        description="tasks at once in make run (a LocalExecutor with that many slots; 1 = one after another, "
        "as plain airflow dags test)",
    )
    reuse: Bool = Field(
        True,
        description="a rerun of a week reuses a step's outputs when its inputs, settings and code are unchanged "
        "(jobs.runtime.reuse); false computes every step again",
    )
    start_date: Monday = Field(
        "1970-01-05",
        description="the DAG's start_date (00:00 UTC); early, so any week's Monday is a valid logical date (no catchup)",
    )


class IngestConf(_Section):
    max_bad_share: Num = Field(0.05, ge=0, le=1, description="fail the run above this share of quarantined raw rows")
    service_start: IsoDate = Field("2008-10-07", description="plays before this date are impossible")
    max_ms_played: Int = Field(86_400_000, ge=1, description="a single play longer than this (24 h) is absurd")
    max_future_days: Int = Field(366, ge=0, description="plays this many days after the week are bad")
    cache: Bool = Field(
        True,
        description="reuse a raw file's parsed rows from <paths.cache>/ingest while its path, its bytes and the "
        "parser's code match (validation still runs on every row each week)",
    )


class AlsConf(_Section):
    window_weeks: Int = Field(8, ge=1, description="weeks of history before the target week that feed the model")
    decay_half_life_days: Num = Field(
        0.0, ge=0, description="0 = no recency decay; else a play's weight halves every N days"
    )
    min_ms_played: Int = Field(30_000, ge=0, description="shorter plays are skips: kept, not counted as plays")
    rank: Int = Field(32, ge=1, description="latent factors")
    reg_param: Num = Field(0.1, ge=0, description="L2 regularisation")
    alpha: Num = Field(8.0, ge=0, description="confidence c = 1 + alpha * log(1 + plays / eps)")
    eps: Num = Field(1.0, gt=0, description="see alpha")
    max_iter: Int = Field(12, ge=1, description="alternating least squares iterations")
    seed: Int = Field(42, description="random seed of the factor initialisation")
    num_blocks: Int = Field(2, ge=1, description="user and item blocks")
    checkpoint_interval: Int = Field(5, description="checkpoint the lineage every N iterations")
    cache: Bool = Field(
        True,
        description="reuse a fit's factors from <paths.cache>/als while its ratings, the settings above and the "
        "code match (the evaluation then reads back last week's fit)",
    )
    eval_k: Int = Field(30, ge=1, description="cut-off of the holdout metrics")
    eval_max_users: Int = Field(5000, ge=1, description="users sampled (seeded) for the holdout metrics")
    save_weight: Num = Field(
        2.0,
        ge=0,
        description="a save in the window adds this many counted plays to the (listener, track) weight before "
        "the log; 0 = saves ignored",
    )
    skip_weight: Num = Field(
        0.5,
        ge=0,
        description="a (listener, track) with no counted play and n >= 2 skips in the window gets rating "
        "-skip_weight * log(1 + (n - 1)): preference 0 with confidence 1 + alpha * |rating|; 0 = skips ignored",
    )


class MergeConf(_Section):
    k: Int = Field(30, ge=1, description="songs per playlist")
    engine: Literal["local", "spark"] = Field(
        "local",
        description="where the playlists are computed: blocks of listeners on this machine (local: merge.workers "
        "processes), or mapInPandas over blocks on spark.master (spark; same rows; for more listeners than one "
        "machine holds)",
    )
    spark_block: Int = Field(512, ge=1, description="with engine: spark, listeners per recommend_block call")
    workers: Int = Field(
        0,
        ge=0,
        description="with engine: local, processes that compute blocks of listeners at once (forked; same rows); "
        "0 = every core, 1 = in the merge's process",
    )
    artist_cap: Int = Field(2, ge=1, description="at most this many songs by one artist")
    min_plays: Int = Field(3, ge=0, description="counted plays in the window for a personal playlist")
    thin_history: Literal["fallback", "skip"] = Field(
        "fallback", description="listeners below min_plays: a flagged popular list (fallback) or none (skip)"
    )
    w_als: Num = Field(1.0, ge=0, description="blend weight; ALS and audio scores share the ALS scale")
    # w_audio, w_popularity, w_sequence and cluster_allotment: chosen on generator version 4's sample world,
    # weeks 2026-W44 and W45 (python -m studies.blend_setting, best recall@30 + NDCG@30; a weight moved only
    # when that value's paired gain over 0 excluded 0 and beat the old default's), scored on W46
    # (docs/measurements.md, "The blend, measured")
    w_audio: Num = Field(1.2, ge=0, description="blend weight of the audio (CNN) score")
    w_culture: Num = Field(0.1, ge=0, description="blend weight of the 0..1 similarity to the listener's top artists")
    w_popularity: Num = Field(
        4.0, ge=0, description="blend weight of a played track's listeners over the top track's (0 = none)"
    )
    popularity_days: Int = Field(  # 7: chosen with studies.blend_setting on W44-W45 like the weights above
        7,
        ge=0,
        description="the popularity prior counts listeners of the last N days before the week (0 = the window's)",
    )
    # 150: the prior's weight 4 was chosen on the sample world's ~1,500 listeners (W44-W45) and make tune chose
    # about 2 on MovieLens's 168 (weeks before 1998-W10): 4 * n / (n + 150) gives 3.6 and 2.1 (docs/measurements.md)
    popularity_shrinkage: Num = Field(
        150.0,
        ge=0,
        description="the prior's weight is scaled by n / (n + this), n = listeners with a counted play in the "
        "window: a popularity that few listeners back counts for less (0 = never scaled)",
    )
    cold_slots: Int = Field(5, ge=0, description="at most this many tracks nobody has played yet per playlist")
    min_cold_score: Num = Field(0.5, description="cold tracks need this share of the best ALS score as audio score")
    top_artists: Int = Field(5, ge=0, description="a listener's most-played artists that seed the culture source")
    new_release_days: Int = Field(14, ge=0, description="released this many days before the week: a new release")
    w_sequence: Num = Field(0.4, ge=0, description="blend weight of the 0..1 closeness to the taste vector (sequence)")
    sequence_candidates: Int = Field(100, ge=0, description="unheard songs nearest the taste vector per listener")
    # make bench, 2026-12-07: at 1M never-played tracks exact is 20.5 ms a listener, Annoy keeps 0.78 of the final 30
    annoy_min_cold: Int = Field(
        10_000_000, ge=0, description="more never-played tracks: Annoy finds audio candidates (faster, lower recall)"
    )
    audio_candidates: Int = Field(300, ge=1, description="never-played tracks one listener's Annoy query returns")
    cluster_allotment: Num = Field(  # 0.25: the smallest tried; every strength cost recall on W44-W45
        0.25, ge=0, le=1, description="share of the k places allotted to taste clusters by share of listening; 0 = off"
    )
    cluster_reference_listeners: Int = Field(
        2000, ge=0, description="listeners (seeded sample) also listed without allotment, for merge.json's reference"
    )


class SequenceConf(_Section):
    """Sessions, word2vec song vectors, the RNN taste vector and Annoy (jobs/song_vectors.py, taste_vectors.py)."""

    session_gap_minutes: Num = Field(30.0, gt=0, description="a longer pause between two plays starts a new session")
    top_n: Int = Field(  # 200: chosen on the sample world's W44-W45 (1,500 tracks; docs/measurements.md); scale it with the catalog
        200, ge=2, description="word2vec is trained on the N most listened tracks only"
    )
    dimension: Int = Field(32, ge=2, description="song vector length")
    window: Int = Field(5, ge=1, description="word2vec context: songs on each side")
    negative: Int = Field(10, ge=1, description="negative samples per positive (CBOW with negative sampling)")
    min_count: Int = Field(2, ge=1, description="songs seen fewer times in the documents get no vector")
    epochs: Int = Field(20, ge=1, description="word2vec passes over the documents")
    min_documents: Int = Field(20, ge=1, description="fewer documents of 2+ songs: the song vectors are skipped")
    history: Int = Field(10, ge=1, description="n: the RNN reads the previous n songs")
    units: Int = Field(64, ge=1, description="GRU units")
    rnn_epochs: Int = Field(6, ge=1, description="upper bound; early stopping on the last tenth of the pairs")
    batch_size: Int = Field(256, ge=1, description="pairs per RNN training batch")
    learning_rate: Num = Field(0.003, gt=0, description="Adam learning rate of the RNN")
    min_sequences: Int = Field(50, ge=1, description="fewer (history, next song) pairs: the taste vectors are skipped")
    max_pairs: Int = Field(30_000, ge=1, description="the RNN trains on at most this many most recent pairs")
    new_songs_only: Bool = Field(
        False, description="the RNN's next songs are only first listens (songs new to the listener); else every listen"
    )
    holdout_days: Int = Field(7, ge=1, description="next songs of the last N days before the cutoff are held out")
    eval_k: Int = Field(10, ge=1, description="hit rate: the true next song among the k nearest songs")
    evaluate: Bool = Field(True, description="hold-out evaluation each run (trains a second RNN)")
    seed: Int = Field(13, description="seed of word2vec, the RNN and Annoy")
    n_trees: Int = Field(20, ge=1, description="Annoy trees (more: better recall, bigger index)")
    warm_start: Bool = Field(
        True,
        description="the taste RNN starts from the newest earlier week's weights, turned onto this week's song "
        "vector axes, instead of random weights",
    )
    warm_epochs: Int = Field(2, ge=1, description="upper bound on the epochs of a warm-started RNN training")
    full_retrain_weeks: Int = Field(
        4,
        ge=1,
        description="the RNN trains from random weights when its chain of warm starts began this many weeks ago",
    )
    engine: Literal["local", "spark"] = Field(
        "local",
        description="where the plays are cut into sessions: this process (local), or Spark (spark; only the "
        "documents and the listens of songs with a vector reach the driver; the same vectors)",
    )


class PublishConf(_Section):
    min_listener_share: Num = Field(
        0.5,
        ge=0,
        le=1,
        description="refuse a week whose playlists reach fewer listeners than this share of the last published week's",
    )


class TuneConf(_Section):
    apply: Bool = Field(
        True,
        description="read the ALS and blend settings the tune DAG (or make tune) chose on this warehouse's earlier "
        "weeks (<warehouse>/tuned/settings.yaml), under the configuration file and the environment",
    )


class PlaylistConf(_Section):
    policy: Literal["greedy", "bart", "ahdqn"] = Field(
        "greedy",
        description="who orders every listener's 30 when experiment.arms is empty: greedy (the blend's order), "
        "bart (the blend with the bandit's slots) or ahdqn (the action-head DQN fills all 30 from the blend's "
        "top k + rl.pool candidates)",
    )


class ExperimentConf(_Section):
    arms: tuple[Literal["als", "blend", "bart", "ahdqn", "random"], ...] = Field(
        (),
        description="policies listeners are split into at random (equal shares, a seeded hash of the id): "
        "als (ALS scores only), blend (the blended order), bart (the blend with bandit slots), ahdqn (the "
        "agent's order), random (a random 30 of the agent's candidate pool); empty = everyone on playlist.policy",
    )
    seed: Int = Field(101, description="seed of the split (a new seed reshuffles every listener)")


class RlConf(_Section):
    """The user model, the world model and the action-head DQN (jobs/rl/), and the per-listener content model."""

    listen_seconds: Num = Field(30.0, gt=0, description="a response 'listens longer than X s' (X); shorter = a skip")
    complete_share: Num = Field(0.9, gt=0, le=1, description="a play of this share of the track is a completion")
    history_weeks: Int = Field(8, ge=2, description="weeks of plays and exposures the listener models learn from")
    max_play_rows: Int = Field(
        60_000, ge=1000, description="organic plays (a seeded sample) the user model learns from"
    )
    hidden: Ints = Field((64, 32), min_length=1, description="units of the user model's dense layers")
    epochs: Int = Field(8, ge=1, description="passes over the user model's rows")
    batch_size: Int = Field(256, ge=8, description="rows per gradient step (user and content models)")
    learning_rate: Num = Field(0.002, gt=0, description="Adam's step (user and content models)")
    reward_complete: Num = Field(0.2, description="reward of a completion on top of the listen's 1")
    reward_skip: Num = Field(-0.1, description="reward of a skip (a play shorter than listen_seconds)")
    pool: Int = Field(40, ge=0, description="candidates past the blend's own k the agent may choose from")
    train: Literal["weekly", "reuse"] = Field(
        "weekly", description="train the agent every week, or reuse the last week's (a full retrain when none)"
    )
    retrain_weeks: Int = Field(4, ge=1, description="with train: reuse, retrain when the last agent is this old")
    train_listeners: Int = Field(400, ge=1, description="listeners (a seeded sample) whose pools the agent trains on")
    episodes: Int = Field(800, ge=1, description="simulated sessions the agent trains on")
    q_hidden: Ints = Field((64, 32), min_length=1, description="units of the Q-network's dense layers")
    gamma: Num = Field(
        0.5, ge=0, le=1, description="discount per place (0.5: chosen in the world model, which the agent trains in)"
    )
    epsilon_start: Num = Field(1.0, ge=0, le=1, description="exploration at the first episode")
    epsilon_end: Num = Field(0.05, ge=0, le=1, description="exploration from 70% of the episodes on")
    replay: Int = Field(20_000, ge=100, description="transitions the replay memory keeps")
    dqn_batch: Int = Field(128, ge=8, description="transitions per gradient step")
    dqn_learning_rate: Num = Field(0.001, gt=0, description="Adam's step of the Q-network")
    target_sync: Int = Field(200, ge=1, description="gradient steps between copies to the target network")
    update_every: Int = Field(4, ge=1, description="environment steps per gradient step")
    expected_reward: Bool = Field(
        True, description="train on the world model's expected reward of each step (true) or the drawn one"
    )
    content_embedding: Int = Field(8, ge=1, description="size of the content model's listener embedding")
    content_epochs: Int = Field(10, ge=1, description="passes over the content model's pairs")
    seed: Int = Field(23, description="seed of every sample, initialisation and exploration")


class BanditConf(_Section):
    slots: Int = Field(10, ge=0, description="places of a bart playlist the bandit fills (the first ones), 0 = none")
    pool: Int = Field(40, ge=1, description="candidates past the blend's own list the bandit may also choose from")
    method: Literal["epsilon_greedy", "thompson"] = Field(
        "epsilon_greedy", description="epsilon-greedy (BaRT) or Thompson sampling from the reward model's posterior"
    )
    epsilon: Num = Field(0.2, ge=0, le=1, description="share of slots filled uniformly at random (epsilon-greedy)")
    min_exposures: Int = Field(
        300, ge=1, description="fewer logged bart exposures with a known outcome: no model yet, slots explore uniformly"
    )
    history_weeks: Int = Field(8, ge=1, description="weeks of logged exposures the reward model learns from")
    save_bonus: Num = Field(0.5, ge=0, description="reward of a save on top of the stream's 1")
    l2: Num = Field(1.0, gt=0, description="L2 penalty (prior precision) of the logistic reward model")
    reason_share: Num = Field(
        0.25, gt=0, le=1, description="a part of a track's score this share of its largest part is a true reason"
    )
    seed: Int = Field(17, description="seed of the exploration (with the week and the listener)")


class AudioConf(_Section):
    sample_rate: Int = Field(22_050, ge=8000, description="Hz; clips are resampled to it")
    window_seconds: Num = Field(30.0, gt=0, description="the middle of each file; shorter clips are padded (-100 dB)")
    n_mels: Int = Field(128, ge=8, le=512, description="mel bands")
    hop_length: Int = Field(512, ge=1, description="samples between spectrogram frames")
    n_fft: Int = Field(2048, ge=1, description="FFT window in samples")
    min_seconds: Num = Field(1.0, ge=0, description="shorter clips are rejected as too_short")
    workers: Int = Field(0, ge=0, description="processes for spectrograms; 0 = all cores")
    clip_timeout_seconds: Num = Field(
        120.0, ge=1, description="a clip taking longer ends its worker and is rejected (timed_out)"
    )
    cache: Bool = Field(
        True, description="reuse a clip's features from <paths.cache>/audio while its bytes and the feature code match"
    )
    engine: Literal["local", "spark"] = Field(
        "local",
        description="where clips are decoded: a process pool of audio.workers (local), or mapInPandas on "
        "spark.master's executors (spark; the same tables; every executor must see the data root)",
    )


class AudioCnnConf(_Section):
    min_plays: Int = Field(5, ge=0, description="tracks with fewer plays in the window are not training targets")
    crop_frames: Int = Field(128, ge=8, description="random crops (128 frames x 512 / 22050 Hz ~ 3 s)")
    filters: Ints = Field((64, 128, 128), min_length=1, description="Conv1D filters per layer, mel bands as channels")
    pools: Ints = Field((4, 2, 1), description="max pooling after each conv layer (1 = none)")
    kernel_size: Int = Field(4, ge=1, description="Conv1D kernel in frames")
    dense_units: tuple[Annotated[StrictInt, Field(ge=1)], ...] = Field(
        (256, 128), min_length=1, description="dense layers after the temporal pooling, each followed by dropout"
    )
    dropout: Num = Field(0.3, ge=0, lt=1, description="dropout after each dense layer")
    learning_rate: Num = Field(0.001, gt=0, description="Adam learning rate")
    batch_size: Int = Field(64, ge=1, description="crops per training batch")
    max_epochs: Int = Field(40, ge=1, description="upper bound; early stopping usually ends sooner")
    patience: Int = Field(5, ge=0, description="early stopping on validation loss")
    validation_share: Num = Field(0.1, gt=0, lt=1, description="split by track")
    seed: Int = Field(11, description="random seed of crops, split and weights")
    evaluate: Bool = Field(True, description="cold-start evaluation each run (trains a second model)")
    holdout_share: Num = Field(0.15, gt=0, lt=1, description="tracks held out by the cold-start evaluation")
    eval_k: Int = Field(30, ge=1, description="cut-off of the cold-start metrics")
    warm_start: Bool = Field(
        True,
        description="start from the newest earlier week's model (same architecture and settings), rotated onto "
        "this week's ALS axes, instead of random weights",
    )
    warm_epochs: Int = Field(8, ge=1, description="upper bound on the epochs of a warm-started training")
    full_retrain_weeks: Int = Field(
        4, ge=1, description="train from random weights when the chain of warm starts began this many weeks ago"
    )

    @field_validator("pools")
    @classmethod
    def _one_pool_per_filter(cls, pools: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        filters = info.data.get("filters")
        if filters is not None and len(filters) != len(pools):
            raise ValueError(f"must have one entry per layer of audio_cnn.filters ({len(filters)})")
        return pools


class TasteClustersConf(_Section):
    recent_weeks: Int = Field(4, ge=1, description="weeks before the run week whose counted plays are clustered")
    max_tracks: Int = Field(200, ge=1, description="a listener's most-played recent tracks that are clustered")
    max_clusters: Int = Field(5, ge=1, description="k is chosen from 1..this per listener (by BIC)")
    restarts: Int = Field(4, ge=1, description="k-means++ starts per k; the tightest is kept")
    seed: Int = Field(13, description="seed of the starts (with each listener's id, so lists do not interact)")


class CrawlConf(_Section):
    seeds: Strs = Field((), description="extra seed URLs; <data>/web/seeds.txt is always read")
    allowed_domains: Strs = Field((), description="hosts to crawl (and their subdomains); empty = the seeds' hosts")
    allow_private_seeds: Bool = Field(True, description="a loopback/private seed may be crawled, on its own origin")
    user_agent: Str = Field("DiscoverWeeklyBot/0.1 (+https://example.org/discover-weekly-bot)", description="sent")
    delay_seconds: Num = Field(1.0, ge=0, description="between two requests to one host (file:// has none)")
    connect_timeout_seconds: Num = Field(5.0, gt=0, description="per connection")
    read_timeout_seconds: Num = Field(10.0, gt=0, description="deadline for the whole response, after the connect")
    max_bytes: Int = Field(2_000_000, ge=1024, description="per page")
    max_pages: Int = Field(2000, ge=1, description="per run")
    max_depth: Int = Field(4, ge=0, description="link hops from a seed")
    max_redirects: Int = Field(5, ge=0, description="per request")
    max_retries: Int = Field(2, ge=0, description="for 5xx and timeouts, with exponential backoff")
    backoff_seconds: Num = Field(0.5, ge=0, description="first backoff; doubles each retry")


class CultureConf(_Section):
    window: Literal["sentence", "tokens"] = Field(
        "sentence", description="terms come from the sentence of a mention, or from +-window_tokens (tokens)"
    )
    window_tokens: Int = Field(12, ge=1, description="see window")
    top_k: Int = Field(20, ge=1, description="terms kept per artist and term type")
    neighbours: Int = Field(10, ge=1, description="similar artists kept per artist")
    batch_size: Int = Field(64, ge=1, description="documents per nlp.pipe batch")
    cache: Bool = Field(
        True,
        description="reuse a page's terms from <paths.cache>/culture while its text, the artists and the code match",
    )
    min_term_count: Int = Field(1, ge=1, description="rarer terms are dropped")
    engine: Literal["local", "spark"] = Field(
        "local",
        description="where spaCy reads the pages not in the page cache: this process (local), or mapInPandas on "
        "spark.master's executors, the model loaded once per executor worker (spark; the same tables)",
    )


class WorldConf(_Section):
    """The generated sample world (jobs/tools/world/)."""

    seed: Int = Field(7, description="one seed for the whole world")
    users: Int = Field(1500, ge=2, description="listeners")
    artists: Int = Field(120, ge=12, description="at least one per genre")
    tracks: Int = Field(1500, ge=1, description="tracks with a play history (new releases come on top)")
    new_releases: Int = Field(40, ge=0, description="tracks released during the last week, unplayed")
    weeks: Int = Field(8, ge=2, description="weeks of plays")
    plays_per_user_week: Num = Field(14.0, gt=0, description="mean; heavy and light listeners spread around it")
    clip_seconds: Num = Field(8.0, gt=0, description="length of each generated audio clip")
    end: Monday = Field("2026-11-16", description="plays stop before it; the first week to publish is its ISO week")
    bad_row_share: Num = Field(0.003, ge=0, le=1, description="malformed rows mixed into the raw logs on purpose")
    audio_tracks: Int = Field(
        0, ge=0, description="clips for a seeded sample of this many played tracks (+ new releases); 0 = every track"
    )
    web_artists: Int = Field(
        0, ge=0, description="web pages about a seeded sample of this many artists; 0 = every artist"
    )
