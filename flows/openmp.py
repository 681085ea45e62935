"""How the OpenMP threads of LightGBM (and scikit-learn) wait; set before OpenMP loads.

GNU OpenMP reads ``OMP_WAIT_POLICY`` once, when the library is loaded, i.e. at the first
``import lightgbm`` (or sklearn). Left unset, a thread that runs out of work spins 300,000
rounds before it sleeps, at every one of the many synchronisation points of a boosting round;
on a machine whose cores are all busy, those spins take the cores the other threads are waiting
for. ``PASSIVE`` makes waiting threads sleep at once (``bench/lightgbm_threads.py`` measures
both). The number of threads is set per model by ``pestcast.models.spec.lightgbm_params``.

Values already in the environment win, so ``OMP_WAIT_POLICY=ACTIVE pestcast train`` still works.
"""

from __future__ import annotations

import os

__all__ = ["OPENMP_DEFAULTS", "apply_openmp_defaults"]

OPENMP_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}


def apply_openmp_defaults() -> None:
    """Set :data:`OPENMP_DEFAULTS` where the environment has no value.

    Takes effect only if called before LightGBM or scikit-learn is first imported in the
    process: the ``pestcast`` command calls it first thing.
    """
    for name, value in OPENMP_DEFAULTS.items():
        os.environ.setdefault(name, value)
