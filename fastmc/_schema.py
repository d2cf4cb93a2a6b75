"""The samplers' settings and outputs as NumPy records: one definition each, shared by both backends.

Each dtype mirrors a struct of ``csrc/include/fastmc/core/records.hpp`` field for field
(``align=True`` lays the fields out as a C compiler does; the bindings check the item size), and
the Numba twins read and write the same records by field name. The Python layer allocates every
output once (:func:`fastmc._runtime.allocate`) and either backend fills it.
"""
import numpy as np

HMC_CONFIG = np.dtype([
    ("n_warmup", np.int64), ("n_samples", np.int64), ("transition", np.int64), ("max_depth", np.int64),
    ("n_leapfrog", np.int64), ("max_leapfrog", np.int64), ("metric_kind", np.int64), ("adapt_step", np.int64),
    ("integration_time", np.float64), ("jitter", np.float64), ("delta", np.float64), ("gamma", np.float64),
    ("kappa", np.float64), ("t0", np.float64), ("inv_temp", np.float64), ("checkpoint_every", np.int64),
    ("adapt_metric", np.int64), ("metric_from_grad", np.int64),
], align=True)

HMC_DRAW = np.dtype([
    ("log_density", np.float64), ("accept_stat", np.float64), ("energy", np.float64), ("energy_error", np.float64),
    ("max_energy_error", np.float64), ("step_size", np.float64), ("step_size_bar", np.float64),
    ("tree_depth", np.int64), ("n_leapfrog", np.int64),
    ("divergent", np.uint8), ("nonfinite", np.uint8), ("moved", np.uint8),
], align=True)

RWMH_CONFIG = np.dtype([
    ("n_warmup", np.int64), ("n_samples", np.int64), ("prop_kind", np.int64), ("adapt_scale", np.int64),
    ("adapt_cov", np.int64), ("target_accept", np.float64), ("inv_temp", np.float64),
], align=True)

RWMH_DRAW = np.dtype([("log_density", np.float64), ("accepted", np.uint8)], align=True)

CHAIN_INFO = np.dtype([
    ("n_done", np.int64), ("n_grad", np.int64), ("n_nonfinite", np.int64), ("adapted_kind", np.int64),
    ("n_divergent", np.int64), ("status", np.int64), ("target_code", np.int64), ("n_checkpoints", np.int64),
    ("final_step", np.float64), ("step_size", np.float64),
], align=True)

# How a chain ended (CHAIN_INFO.status), as in records.hpp.
CHAIN_DONE = 0
CHAIN_INTERRUPTED = 1
CHAIN_TARGET_STOP = 2

TRANSITION_NUTS = 0
TRANSITION_STATIC = 1

# HMC_CONFIG.adapt_metric, as in warmup.hpp
ADAPT_STAN = 0
ADAPT_FISHER = 1


def record(dtype, **values):
    """A (1,) array of ``dtype`` with the given fields (every field must be given)."""
    missing = set(dtype.names) - set(values)
    if missing:
        raise TypeError(f"record of {sorted(dtype.names)} is missing {sorted(missing)}")
    r = np.zeros(1, dtype)
    for k, v in values.items():
        r[0][k] = v
    return r
