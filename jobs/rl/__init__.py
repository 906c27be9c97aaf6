"""Listener models and a reinforcement-learning playlist policy (after Tomasi et al., KDD 2023).

* :mod:`jobs.rl.responses`: what a play or an exposure answered: skip, listen longer than
  ``rl.listen_seconds``, complete; session places of organic plays. Pure.
* :mod:`jobs.rl.features`: the feature rows of (listener, track, place) the models read. Pure.
* :mod:`jobs.rl.history`: reads the warehouse into labelled rows and per-week features.
* :mod:`jobs.rl.user_model`: the Keras user model p(skip, listen, complete | context, item, place),
  its numpy forward pass and its metrics beside a per-track baseline.
* :mod:`jobs.rl.content_model`: one Keras network with a listener embedding over a track's audio
  attributes and audio vector: how much one listener likes a track's sound.
* :mod:`jobs.rl.world`: the world model, a seeded ``gymnasium.Env`` built on the user model.
* :mod:`jobs.rl.agent`: the action-head DQN trained against it, and its greedy playlists.

The stages are :mod:`jobs.listener_models` and :mod:`jobs.ahdqn`.
"""
