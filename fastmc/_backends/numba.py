"""The Numba backend: the twins in ``fastmc._numba``, with outputs allocated here as the C++
bindings allocate theirs. Every method has a twin of the same name, arguments and result in
:mod:`.cpp`."""
from __future__ import annotations

import contextlib
import warnings

import numba
import numpy as np


@contextlib.contextmanager
def threads(n_threads):
    """Run the kernels inside on ``n_threads`` of Numba's threads (restored afterwards)."""
    from numba.core.errors import NumbaExperimentalFeatureWarning

    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        # the sampler kernels take a target's compiled functions as arguments on purpose (one
        # kernel for every target): Numba's note that first-class functions are experimental is
        # not for users
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NumbaExperimentalFeatureWarning)
            yield
    finally:
        numba.set_num_threads(old)


class NumbaBackend:
    """Calls the Numba twins (threads from Numba's ``prange``)."""

    name = "numba"

    @staticmethod
    def default_threads() -> int:
        return int(numba.get_num_threads())

    # --------------------------------------------------------------------------- samplers
    @staticmethod
    def hmc_run(target, config, shared, per_chain, n_threads, checked=False):
        from .._numba.adapt.warmup import hmc_run

        nt = target._numba_target(checked)
        (logp_grad, grad, make_work), tdata = (nt.logp_grad, nt.grad, nt.make_work), nt.tdata
        inv_temp = float(config[0]["inv_temp"])
        if inv_temp != 1.0:
            from .._numba.targets.tempered import tempered_data, tempered_functions

            logp_grad, grad, make_work = tempered_functions(logp_grad, grad, make_work, isinstance(tdata, tuple))
            tdata = tempered_data(tdata, inv_temp)
        x0, step0, state_in, A, *rest = per_chain
        with threads(n_threads):
            hmc_run(logp_grad, grad, nt.failed, nt.failure, make_work, tdata, config, *shared, x0, step0, state_in,
                    A.reshape(x0.shape[0], -1), *rest)
        return None

    @staticmethod
    def rwmh_run(target, config, shared, per_chain, n_threads, checked=False):
        from .._numba.rwmh.rwmh import rwmh_run

        nt = target._numba_target(checked)
        with threads(n_threads):
            rwmh_run(nt.logp, nt.failed, nt.failure, nt.make_work, nt.tdata, config, *shared, *per_chain)
        return None

    # ---------------------------------------------------------------------------- targets
    @staticmethod
    def target_logp_grad(target, X):
        from .._numba.targets.batch import batch_logp_grad

        nt = target._numba_target(checked=True)  # one-off calls: always checked
        return batch_logp_grad(nt.logp_grad, nt.failed, nt.failure, nt.make_work, nt.tdata, X)

    @staticmethod
    def mixture_logp(mixture, X):
        from .._numba.targets.mixture import mixture_logp_batch

        return mixture_logp_batch(X, mixture._numba_arrays())

    # ------------------------------------------------------------------------ diagnostics
    @staticmethod
    def normal_score_table(N, n_threads):
        from .._numba.diagnostics import normal_quantile as nq

        z = np.empty(N)
        nq.normal_score_table(N, z, n_threads)
        return z

    @staticmethod
    def rank_normalize(flat, fold, center, ztab, want_sorted, want_folded, n_threads):
        from .._numba.diagnostics import rank as nb

        d, N = flat.shape
        z = np.empty((d, N))
        srt = np.empty((d, N if want_sorted else 0))
        zf = np.empty((d, N if want_folded else 0))
        tied = np.empty(d, dtype=np.int64)
        large = N >= nb.MSD_MIN
        Tw = max(1, n_threads if large else min(n_threads, d))  # workers
        shape = (1, 2 if want_folded else 1, N) if large else (Tw, 2, N)  # as the C++ binding
        keys = np.empty(shape, dtype=np.uint64)
        idx = np.empty(shape, dtype=np.uint32)
        hist = np.empty((Tw, 8, 256), dtype=np.int64)
        bins = np.empty((Tw, nb.MSD_BINS if large else 1), dtype=np.int64)
        tw = np.empty(Tw, dtype=np.int64)
        nb.rank_normalize(flat, fold, center, ztab, z, srt, tied, keys, idx, bins, hist, tw, Tw, zf)
        return z, srt, zf

    @staticmethod
    def ess_direct(Y, max_lag, relative, kind, a, b, n_threads, overwrite):
        from .._numba.diagnostics import ess as nb

        out = np.empty(Y.shape[0])
        nb.ess_direct(Y, max_lag, relative, kind, a, b, out, n_threads, overwrite)
        return out

    @staticmethod
    def ess_from_autocov(acov_mean, mean, relative):
        from .._numba.diagnostics import ess as nb

        return nb.ess_from_autocov(acov_mean, mean, relative, np.empty(acov_mean.shape[0] + 2))

    @staticmethod
    def moments(flat, n_threads):
        from .._numba.diagnostics import ess as nb

        out = np.empty((flat.shape[0], 3))
        nb.moments(flat, out, n_threads)
        return out

    @staticmethod
    def rhat(Y, n_threads):
        from .._numba.diagnostics import ess as nb

        out = np.empty(Y.shape[0])
        nb.rhat(Y, out, n_threads)
        return out


BACKEND = NumbaBackend()
