"""The C++ backend: thin calls into the extension ``fastmc._core``.

Every method here has a twin of the same name, arguments and result in :mod:`.numba`.
"""
from __future__ import annotations

import os

from .. import _core


class CppBackend:
    """Calls the kernels of ``fastmc._core`` (threads in C++, the GIL released)."""

    name = "cpp"

    @staticmethod
    def default_threads() -> int:
        """Threads the diagnostics use: the CPUs this process may run on."""
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            return os.cpu_count() or 1

    # --------------------------------------------------------------------------- samplers
    # (target, config record (1,), inputs every chain reads, arrays with the chain first, threads)
    # -> the exception a Python target raised, or None; fastmc._runtime.run calls these.
    @staticmethod
    def hmc_run(target, config, shared, per_chain, n_threads, checked=False):
        """The HMC engine (static or NUTS, warm-up or none); shared (interrupt, phase), per_chain
        (x0, step0, state_in, inv_metric, rng_state, draws, stats, ckpt, info, stop_point)."""
        return _core.hmc_run(target._cpp_spec(checked), config, *shared, *per_chain, n_threads)

    @staticmethod
    def rwmh_run(target, config, shared, per_chain, n_threads, checked=False):
        """RWMH; shared (interrupt, prop), per_chain (x0, rng_state, draws, stats, adapted, info,
        stop_point)."""
        return _core.rwmh_run(target._cpp_spec(checked), config, *shared, *per_chain, n_threads)

    # ---------------------------------------------------------------------------- targets
    @staticmethod
    def target_logp_grad(target, X):
        """Log density (n,), gradient (n, d) of any target at X (n, d), the points evaluated
        before the target failed (n if it did not) and its failure code."""
        return _core.target_logp_grad(target._cpp_spec(checked=True), X)  # one-off calls: always checked

    @staticmethod
    def mixture_logp(mixture, X):
        """Log density (n,) of a GaussianMixture at X (n, d)."""
        return _core.mixture_logp(*mixture._arrays(), X)

    # ------------------------------------------------------------------------ diagnostics
    @staticmethod
    def normal_score_table(N, n_threads):
        return _core.normal_score_table(N, n_threads)

    @staticmethod
    def rank_normalize(flat, fold, center, ztab, want_sorted, want_folded, n_threads):
        """flat (d, N) -> (z (d, N), sorted (d, N or 0), folded z (d, N or 0))."""
        z, srt, _, zf = _core.rank_normalize(flat, fold, center, ztab, want_sorted, want_folded, n_threads)
        return z, srt, zf

    @staticmethod
    def ess_direct(Y, max_lag, relative, kind, a, b, n_threads, overwrite):
        """Geyer ESS per variable of Y (d, m, n); -1 where the lag sums need more than max_lag."""
        return _core.ess_direct(Y, max_lag, relative, kind, a, b, n_threads, overwrite)

    @staticmethod
    def ess_from_autocov(acov_mean, mean, relative):
        return _core.ess_from_autocov(acov_mean, mean, relative)

    @staticmethod
    def moments(flat, n_threads):
        """flat (d, N) -> (d, 3): mean, sum of squared deviations, sum of fourth powers."""
        return _core.moments(flat, n_threads)

    @staticmethod
    def rhat(Y, n_threads):
        return _core.rhat(Y, n_threads)


BACKEND = CppBackend()
