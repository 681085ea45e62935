"""How the OpenMP threads of LightGBM (and scikit-learn) wait; set before OpenMP loads.

GNU OpenMP reads its settings once, when the library is loaded, i.e. at the first
``import lightgbm`` (or sklearn). Left alone, a thread that runs out of work spins 300,000
rounds before it sleeps, at every one of the many synchronisation points of a boosting round;
on a machine whose cores are all busy, those spins take the cores the other threads are waiting
for. ``bench/lightgbm_threads.py`` measured one demo-sized model on 2 cores (results in
``bench/results/lightgbm_threads.md``): GNU's default 2.0 s alone but 11–88 s beside one busy
process; ``OMP_WAIT_POLICY=PASSIVE`` (no spin) 3.4 s busy but 4.8 s alone; a short spin of 1,000
rounds 2.3 s alone and 4.3 s busy. The short spin is the default here: close to the best on a
quiet machine, and never the worst case on a busy one.

A wait policy or spin count already in the environment wins, so
``OMP_WAIT_POLICY=PASSIVE pestcast train`` still works. The number of threads is set per model by
``pestcast.models.spec.lightgbm_params``.
"""

from __future__ import annotations

import os

__all__ = ["OPENMP_DEFAULTS", "apply_openmp_defaults"]

OPENMP_DEFAULTS = {"GOMP_SPINCOUNT": "1000"}
_USER_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def apply_openmp_defaults() -> None:
    """Set :data:`OPENMP_DEFAULTS` unless the environment already says how threads wait.

    Takes effect only if called before LightGBM or scikit-learn is first imported in the
    process: the ``pestcast`` command calls it first thing.
    """
    if any(name in os.environ for name in _USER_SETTINGS):
        return
    os.environ.update(OPENMP_DEFAULTS)
