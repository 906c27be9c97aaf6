"""Listeners split at random into the configured policies (the arms of an experiment). Pure.

``experiment.arms`` names the policies a week's listeners are split into, in equal shares:
a listener's arm is ``arms[crc32("<seed>/<user_id>") % len(arms)]``, so it depends on nothing
but the id and ``experiment.seed`` (the same arm every week; a new seed reshuffles). The
policies:

* ``als``: ALS scores only (no audio, culture, sequence or popularity part, no taste-cluster
  allotment, no never-played tracks);
* ``blend``: the blended order (:mod:`jobs.recsys.playlists`), greedy;
* ``bart``: the blend, with the first ``bandit.slots`` places chosen by the bandit
  (:mod:`jobs.feedback.bandit`);
* ``ahdqn``: the action-head DQN's order (:mod:`jobs.rl.agent`), all ``k`` places chosen one
  at a time from the blend's ``k + rl.pool`` candidates;
* ``random``: ``k`` of the same ``k + rl.pool`` candidates in a random order (a reference).

With ``experiment.arms`` empty (the default) every listener is on ``playlist.policy``
(:func:`configured_arms`: ``greedy`` is the arm ``blend``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

from jobs.config import Config, MergeConf

ALS, BLEND, BART, AHDQN, RANDOM = "als", "blend", "bart", "ahdqn", "random"
POLICIES = (ALS, BLEND, BART, AHDQN, RANDOM)
PLAYLIST_POLICY_ARM = {"greedy": BLEND, "bart": BART, "ahdqn": AHDQN}  # playlist.policy -> arm


def configured_arms(config: Config) -> tuple[str, ...]:
    """The arms of the week: ``experiment.arms``, or ``playlist.policy``'s one arm when it is empty."""
    return tuple(config.experiment.arms) or (PLAYLIST_POLICY_ARM[config.playlist.policy],)


def arm_of(user_ids: Iterable[str], arms: Sequence[str], seed: int) -> dict[str, str]:
    """Each listener's arm (policy name) among ``arms``."""
    arms = list(arms)
    unknown = sorted(set(arms) - set(POLICIES))
    if not arms or unknown:
        raise ValueError(f"experiment.arms: {arms} must name one or more of {list(POLICIES)}")
    return {u: arms[zlib.crc32(f"{seed}/{u}".encode()) % len(arms)] for u in user_ids}


def policy_merge_conf(policy: str, merge: MergeConf) -> MergeConf:
    """The merge settings a policy ranks with: ``als`` keeps the ALS part alone, the others the blend's."""
    if policy == ALS:
        return merge.model_copy(
            update={
                "w_audio": 0.0,
                "w_culture": 0.0,
                "w_sequence": 0.0,
                "w_popularity": 0.0,
                "cluster_allotment": 0.0,
                "cold_slots": 0,
            }
        )
    return merge
