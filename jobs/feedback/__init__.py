"""The feedback loop's domain code: what listeners did with what they were shown. Pure.

* :mod:`jobs.feedback.ope`: off-policy estimators (IPS, self-normalised IPS, doubly robust)
  of a target policy's value from exposures logged with their propensities.
* :mod:`jobs.feedback.bandit`: BaRT (McInerney et al., RecSys 2018), a contextual bandit over
  (track, explanation) actions: features, the propensity-weighted reward model, epsilon-greedy
  and Thompson choice, and the rewards of logged exposures.
* :mod:`jobs.feedback.arms`: listeners split at random into the configured policies (arms).

The ``bandit`` stage (:mod:`jobs.bandit`) trains the reward model; the merge uses it.
"""
