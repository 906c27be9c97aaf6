"""The ``implicit`` library's CPU ALS with the project's recipe, for checks beside Spark's fit.

Spark MLlib (:mod:`jobs.als`) is the pipeline's ALS. This fast single-machine ALS serves two
places that need a second fit quickly: the audio CNN's cold-start evaluation, which refits
the space without the held-out tracks' plays (:func:`jobs.audio.cold_start.refit_without`), and
the Spark-vs-implicit benchmark (:mod:`bench.als_implicit`). Reads and writes nothing.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import AlsConf
from schemas.columns import TRACK_ID, USER_ID


def confidence_matrix(pairs: pd.DataFrame, conf: AlsConf, column: str = "weight") -> tuple[Any, np.ndarray, np.ndarray]:
    """CSR users x items of confidence ``1 + alpha * log(1 + column / eps)``, with the sorted user and item ids.

    The recipe of :mod:`jobs.als` (Spark's implicit ALS is given ``rating = log(1 +
    weight / eps)`` and applies ``1 + alpha * rating`` itself); the ``implicit`` library
    takes the whole confidence as the matrix value (``alpha`` 1 there).
    """
    from scipy.sparse import csr_matrix

    users, u = np.unique(pairs[USER_ID].to_numpy(dtype=str), return_inverse=True)
    items, i = np.unique(pairs[TRACK_ID].to_numpy(dtype=str), return_inverse=True)
    values = 1.0 + conf.alpha * np.log1p(pairs[column].to_numpy(dtype=np.float64) / conf.eps)
    matrix = csr_matrix((values.astype(np.float32), (u, i)), shape=(len(users), len(items)))
    return matrix, users, items


def fit_implicit(matrix: Any, conf: AlsConf, use_cg: bool = False, threads: int = 2) -> tuple[Any, Any, float]:
    """The ``implicit`` library's CPU ALS on a confidence matrix: (user factors, item factors, fit seconds).

    ``rank``, ``reg_param``, ``max_iter`` and ``seed`` (the random state) from ``conf``;
    ``use_cg=False`` solves each row exactly (Cholesky), as Spark does. Unlike Spark
    (ALS-WR), the regularisation is not scaled by a row's number of ratings.
    """
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # implicit parallelises over rows itself (its documented advice)
        model = AlternatingLeastSquares(
            factors=conf.rank,
            regularization=conf.reg_param,
            alpha=1.0,  # the matrix already holds the confidence
            iterations=conf.max_iter,
            use_cg=use_cg,
            use_native=True,
            calculate_training_loss=False,
            random_state=conf.seed,
            num_threads=threads,
        )
        t0 = time.perf_counter()
        model.fit(matrix, show_progress=False)
        seconds = time.perf_counter() - t0
    return model.user_factors, model.item_factors, seconds
