"""Listeners split at random into the configured policies (the arms of an experiment). Pure.

``experiment.arms`` names the policies a week's listeners are split into, in equal shares:
a listener's arm is ``arms[crc32("<seed>/<user_id>") % len(arms)]``, so it depends on nothing
but the id and ``experiment.seed`` (the same arm every week; a new seed reshuffles). The
policies:

* ``als``: ALS scores only (no audio, culture, sequence or popularity part, no taste-cluster
  allotment, no never-played tracks);
* ``blend``: the blended order (:mod:`jobs.recsys.playlists`), greedy;
* ``bart``: the blend, with the first ``bandit.slots`` places chosen by the bandit
  (:mod:`jobs.feedback.bandit`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

from jobs.config import MergeConf

ALS, BLEND, BART = "als", "blend", "bart"
POLICIES = (ALS, BLEND, BART)


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
