"""NUTS and the adaptive engine: twin parity, reproducibility, exact continuation, moments within
Monte Carlo error, dual averaging, divergences, warnings and bad input."""
import warnings

import numba
import numpy as np
import pytest

import fastmc
from fastmc.adaptation import SamplingWarning
from fastmc.nuts import nuts
from fastmc.workloads import workload
from helpers import leapfrog_steps_for


def _fast_backend():
    return "cpp" if "cpp" in fastmc.available_backends() else "numba"


# ---------------------------------------------------------------- test-local ESS (Vehtari et al. 2021)

def _ess(x):
    """Multi-chain ESS of x (chains, n) with Geyer's initial monotone sequence."""
    m, n = x.shape
    xc = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(xc, n=2 * n, axis=1)
    acov = np.fft.irfft(f * np.conj(f), axis=1)[:, :n] / n
    chain_var = acov[:, 0] * n / (n - 1)
    W = chain_var.mean()
    B_over_n = x.mean(axis=1).var(ddof=1) if m > 1 else 0.0
    var_plus = W * (n - 1) / n + B_over_n
    rho = 1.0 - (W - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    t, s, prev = 0, 0.0, np.inf
    while t + 1 < n:
        pair = rho[t] + rho[t + 1]
        if pair < 0:
            break
        pair = min(pair, prev)
        s += pair
        prev = pair
        t += 2
    tau = -1.0 + 2.0 * s
    return m * n / max(tau, 1.0 / np.log10(m * n))


def _bulk_ess(draws):
    """Bulk ESS per dimension of draws (chains, n, d): ESS of the rank-normalised draws."""
    from scipy.stats import norm, rankdata

    c, n, d = draws.shape
    out = np.empty(d)
    for j in range(d):
        r = rankdata(draws[:, :, j].ravel()).reshape(c, n)
        z = norm.ppf((r - 0.375) / (c * n + 0.25))
        out[j] = _ess(z)
    return out


def _check_moments(r, mix, z=4.5):
    """Mean and second moment of every coordinate within z MCSE (MCSE from the ESS)."""
    x = r.draws
    for f, truth in ((lambda a: a, mix.mean()), (lambda a: (a - mix.mean()) ** 2, np.diag(mix.cov()))):
        y = f(x)
        est = y.reshape(-1, x.shape[2]).mean(axis=0)
        mcse = np.array([y[:, :, j].std() / np.sqrt(_ess(y[:, :, j])) for j in range(x.shape[2])])
        bad = np.abs(est - truth) > z * mcse
        assert not bad.any(), (np.flatnonzero(bad), est[bad], truth[bad], mcse[bad])


# ---------------------------------------------------------------- twins and reproducibility


def test_hmc_resumes_a_dense_state_without_restating_it():
    """hmc(resume=state) takes the metric, step size and chains from the state, as nuts does
    (it used to default to metric="diag" and reject the (chains, d, d) inverse metric)."""
    mix, _ = workload("T2")
    warm = fastmc.hmc(mix, np.zeros(mix.dim), 5, step_size=0.3, n_leapfrog=6, n_warmup=100, metric="dense",
                      chains=2, seed=9, warn=False)
    r = fastmc.hmc(mix, None, 30, n_leapfrog=6, resume=warm.state, warn=False)
    assert r.state.metric == "dense" and r.draws.shape == (2, 30, mix.dim)
    np.testing.assert_array_equal(r.state.inv_metric, warm.state.inv_metric)
    np.testing.assert_array_equal(r.sample_stats["step_size"], np.repeat(warm.state.step_size[:, None], 30, axis=1))
    with pytest.raises(ValueError, match="step_size is required"):
        fastmc.hmc(mix, np.zeros(mix.dim), 10, n_leapfrog=6)


def test_result_fields_and_warmup_separate(backend):
    mix, _ = workload("T1")
    r = nuts(mix, [0.0, 0.0], 60, n_warmup=40, chains=2, seed=1, max_treedepth=6, backend=backend, warn=False)
    assert r.draws.shape == (2, 60, 2) and r.warmup.draws.shape == (2, 40, 2)
    for a in (r.accept_prob, r.energy, r.divergent, r.sample_stats["tree_depth"], r.sample_stats["n_leapfrog"]):
        assert a.shape == (2, 60)
    depth, nl = r.sample_stats["tree_depth"], r.sample_stats["n_leapfrog"]
    assert np.all((depth >= 1) & (depth <= 6)) and np.all((nl >= 2 ** depth - 1) & (nl <= 2 ** (depth + 1) - 1))
    assert np.all((r.accept_prob >= 0) & (r.accept_prob <= 1))
    np.testing.assert_allclose(r.log_density, mix.logpdf(r.draws.reshape(-1, 2)).reshape(2, 60), rtol=1e-12)
    assert r.ebfmi.shape == (2,) and r.state.inv_metric.shape == (2, 2) and r.state.step_size.shape == (2,)
    assert np.all(r.n_grad_evals >= 1 + nl.sum(axis=1) + r.warmup.sample_stats["n_leapfrog"].sum(axis=1))
    # the step size is constant after warm-up and equals the adapted one
    assert np.all(r.sample_stats["step_size"] == r.state.step_size[:, None])
    # accepted: the draw differs from the one before (the start point before the first warm-up draw)
    allx = np.concatenate([np.zeros((2, 1, 2)), r.warmup.draws, r.draws], axis=1)
    moved = np.any(allx[:, 1:] != allx[:, :-1], axis=2)
    np.testing.assert_array_equal(r.warmup.accepted, moved[:, :40])
    np.testing.assert_array_equal(r.accepted, moved[:, 40:])
    assert moved.any() and not moved.all()


# ---------------------------------------------------------------- statistics

@pytest.mark.parametrize("name", ["T1", "T2"])
def test_nuts_reproduces_exact_moments(name):
    mix, _ = workload(name)
    r = nuts(mix, np.zeros(mix.dim), 1500, n_warmup=500, chains=4, seed=21, backend=_fast_backend(), warn=False)
    assert r.divergent.sum() == 0
    _check_moments(r, mix)


@pytest.mark.parametrize("name", ["T1", "T2"])
def test_adapted_hmc_reproduces_exact_moments(name):
    mix, s = workload(name)
    r = fastmc.hmc(mix, np.zeros(mix.dim), 2000, step_size=0.1, n_leapfrog=10, n_warmup=500, chains=4, seed=22,
                   backend=_fast_backend(), warn=False)
    _check_moments(r, mix)


# ---------------------------------------------------------------- tempering with warm-up

def _gaussian(S):
    return fastmc.GaussianMixture([1.0], [[1.0, -1.0]], [S])


@pytest.mark.parametrize("sampler", ["nuts", "hmc"])
@pytest.mark.parametrize("metric", ["diag", "dense"])
def test_tempered_warmup_reproduces_the_tempered_moments(sampler, metric):
    """pi^(1/T) of N(mu, S) is N(mu, T S): with warm-up at T = 3 the draws have its mean and
    variances within Monte Carlo error, and log_density is log pi of the draws (untempered)."""
    S = np.array([[1.0, 0.6], [0.6, 2.0]])
    target, T = _gaussian(S), 3.0
    kw = dict(n_warmup=1000, metric=metric, temperature=T, chains=4, seed=3, backend=_fast_backend())
    if sampler == "nuts":
        r = nuts(target, np.zeros(2), 2000, **kw)
    else:
        # (8 steps of the adapted size make about a period of this harmonic target: no mixing)
        r = fastmc.hmc(target, np.zeros(2), 2000, step_size=0.5, integration_time=2.0, **kw)
    assert r.settings["temperature"] == T and r.state.temperature == T
    _check_moments(r, _gaussian(T * S))
    np.testing.assert_allclose(r.log_density, target.logpdf(r.draws.reshape(-1, 2)).reshape(4, 2000),
                               rtol=1e-13, atol=1e-13)
    # the energy is the tempered Hamiltonian: -log pi / T + kinetic >= -log pi / T
    assert np.all(r.energy >= -r.log_density / T - 1e-12)


def test_tempered_python_target():
    """A Python target (run chain by chain in C++) is tempered too: N(0, I)^(1/4) = N(0, 4 I)."""
    target = fastmc.Target.from_python(lambda x: (-0.5 * float(x @ x), -x), 2)
    r = fastmc.hmc(target, np.zeros(2), 1500, step_size=0.5, n_leapfrog=5, n_warmup=500, temperature=4.0, chains=2,
                   seed=2, warn=False)
    _check_moments(r, fastmc.GaussianMixture([1.0], [[0.0, 0.0]], [4.0 * np.eye(2)]))
    np.testing.assert_allclose(r.log_density, -0.5 * np.sum(r.draws ** 2, axis=2), rtol=1e-13)


@pytest.mark.slow
def test_t3_dense_metric_mixes_and_reproduces_moments():
    mix, _ = workload("T3")
    r = nuts(mix, np.zeros(mix.dim), 1000, n_warmup=1000, metric="dense", chains=4, seed=23,
             backend=_fast_backend(), warn=False)
    ess = _bulk_ess(r.draws)
    assert ess.min() / (4 * 1000) > 0.5, ess.min()
    _check_moments(r, mix)


@pytest.mark.slow
def test_t3_adapted_hmc_reproduces_moments():
    """Static HMC on T3 with a dense metric in one Stan-style call: integration time 2*pi (Stan's
    default), 2000 warm-up iterations, step-size jitter 0.5.

    Why the jitter: after the warm-up the whitened target is close to N(0, I) (the adapted
    metric's eigen-directions have frequencies omega from about 0.2 to 2.3) and a trajectory of
    length T turns each direction by about omega * T. At a fixed T = 2*pi, and at the former fixed
    L = 20, every chain (32 checked, seeds 24-31) has a direction turned by a full period to within
    1.3 %: lag-1 autocorrelation > 0.997 there, a slow component the ESS estimator misses, and
    some mean or variance lands more than 4.5 MCSE off on 6 of 10 seeds (5000 draws per chain).
    Jittering the step by +-50 % (Stan's stepsize_jitter; L follows the nominal step, so the time
    varies as much) breaks the resonance: 20 of 20 seeds (1-19, 24) pass."""
    mix, _ = workload("T3")
    r = fastmc.hmc(mix, np.zeros(mix.dim), 5000, step_size=0.1, integration_time=2 * np.pi, n_warmup=2000,
                   metric="dense", step_size_jitter=0.5, chains=4, seed=24, backend=_fast_backend(), warn=False)
    assert r.divergent.sum() == 0
    assert np.all(r.sample_stats["step_size"] != r.state.step_size[:, None])  # jittered around the nominal step
    assert np.all(np.abs(r.sample_stats["step_size"] / r.state.step_size[:, None] - 1.0) <= 0.5)
    np.testing.assert_array_equal(r.sample_stats["n_leapfrog"],
                                  np.broadcast_to(leapfrog_steps_for(2 * np.pi, r.state.step_size[:, None], 1024),
                                                  r.sample_stats["n_leapfrog"].shape))
    _check_moments(r, mix)


@pytest.mark.parametrize("name, n_warmup", [("T1", 1000), ("T2", 1000), ("T3", 400)])
def test_dual_averaging_reaches_the_target_acceptance(name, n_warmup):
    """Over the terminal buffer (step size adapted, metric fixed) dual averaging drives the mean
    acceptance statistic to target_accept."""
    mix, _ = workload(name)
    r = nuts(mix, np.zeros(mix.dim), 1, n_warmup=n_warmup, chains=4, seed=25, backend=_fast_backend(),
             metric="dense" if name == "T3" else "diag", warn=False)
    term = int(0.1 * n_warmup) if n_warmup < 150 else 50
    a = r.warmup.accept_prob[:, -term:].mean()
    assert abs(a - 0.8) < 0.05, a
    r9 = nuts(mix, np.zeros(mix.dim), 1, n_warmup=n_warmup, chains=4, seed=25, target_accept=0.95,
              backend=_fast_backend(), metric="dense" if name == "T3" else "diag", warn=False)
    assert abs(r9.warmup.accept_prob[:, -term:].mean() - 0.95) < 0.05
    assert np.all(r9.state.step_size < r.state.step_size)


# ---------------------------------------------------------------- robustness and warnings

def test_divergences_are_counted_and_reported(backend):
    """A 2-D Gaussian with scales 1 and 1e-3 under a fixed step of 0.05: the narrow direction
    is unstable, energy errors explode, sampling completes and reports them."""
    mix = fastmc.GaussianMixture([1.0], [[0.0, 0.0]], [[[1.0, 0.0], [0.0, 1e-6]]])
    with pytest.warns(SamplingWarning, match="divergent"):
        r = nuts(mix, [0.0, 0.0], 200, n_warmup=0, step_size=0.05, chains=2, seed=3, backend=backend)
    assert r.divergent.sum() > 100 and r.n_divergent.shape == (2,)
    assert np.all(np.isfinite(r.draws)) and np.all(np.isfinite(r.energy))
    # after warm-up the step size adapts to the narrow scale and the divergences disappear
    r2 = nuts(mix, [0.0, 0.0], 200, n_warmup=300, chains=2, seed=3, backend=backend, warn=False)
    assert r2.divergent.sum() == 0


def test_nonfinite_trajectories_do_not_crash(backend):
    mix = fastmc.default_mixture()
    r = nuts(mix, [0.0, 0.0], 50, n_warmup=0, step_size=1e200, chains=2, seed=1, backend=backend, warn=False)
    assert r.divergent.all() and np.all(r.draws == 0.0) and np.all(r.accept_prob == 0)
    assert np.all(r.sample_stats["n_leapfrog"] == 1)
    # every trajectory stopped at its first, non-finite, leaf: counted as for rwmh and hmc
    assert r.n_nonfinite.dtype == np.int64 and np.all(r.n_nonfinite == 50)
    h = fastmc.hmc(mix, [0.0, 0.0], 50, step_size=1e200, n_leapfrog=3, n_warmup=20, adapt_step_size=False,
                   chains=2, seed=1, backend=backend, warn=False)
    assert np.all(h.n_nonfinite == 50) and np.all(h.warmup.n_nonfinite == 20) and not h.accept_prob.any()


@numba.njit
def _half_normal(x, grad, data):
    """Standard normal restricted to x[0] > 0 (-inf outside, with a non-finite gradient)."""
    if x[0] <= 0.0:
        grad[:] = np.nan
        return -np.inf
    s = 0.0
    for i in range(x.size):
        s += x[i] * x[i]
        grad[i] = -x[i]
    return -0.5 * s


def test_nonfinite_log_densities_inside_a_trajectory_are_counted():
    """Trajectories that leave the support stop there (divergent, counted in n_nonfinite), the
    draw comes from the states inside, and both twins count the same transitions."""
    t = fastmc.Target.from_numba(_half_normal, 2)
    runs = [nuts(t, [0.5, 0.0], 500, n_warmup=300, chains=2, seed=5, backend=be, warn=False)
            for be in fastmc.available_backends()]
    for r in runs:
        assert np.all(r.draws[..., 0] > 0) and np.all(np.isfinite(r.log_density))
        assert np.all(r.n_nonfinite > 0) and np.all(r.warmup.n_nonfinite > 0)
        assert np.all(r.n_nonfinite <= r.divergent.sum(axis=1))
    for r in runs[1:]:
        np.testing.assert_array_equal(r.n_nonfinite, runs[0].n_nonfinite)
        np.testing.assert_array_equal(r.draws, runs[0].draws)


def test_warnings_are_suppressible_and_treedepth_saturation_reported(backend):
    mix, _ = workload("T1")
    with pytest.warns(SamplingWarning, match="max_treedepth"):
        nuts(mix, [0.0, 0.0], 50, n_warmup=0, step_size=1e-3, max_treedepth=3, chains=2, seed=1, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplingWarning)
        nuts(mix, [0.0, 0.0], 50, n_warmup=0, step_size=1e-3, max_treedepth=3, chains=2, seed=1, backend=backend,
             warn=False)


# ---------------------------------------------------------------- bad input

BAD = [
    (dict(max_treedepth=0), ValueError, "max_treedepth must be >= 1"),
    (dict(max_treedepth=2.0), TypeError, "max_treedepth must be an integer"),
    (dict(target_accept=1.0), ValueError, r"target_accept must be in \(0, 1\)"),
    (dict(target_accept=0.0), ValueError, r"target_accept must be in \(0, 1\)"),
    (dict(target_accept="a"), TypeError, "target_accept must be a real number"),
    (dict(n_warmup=-1), ValueError, "n_warmup must be >= 0"),
    (dict(metric="full"), ValueError, "metric must be one of"),
    (dict(metric="dense", inv_metric=np.ones(2)), ValueError, r"inv_metric for metric='dense' must have shape"),
    (dict(metric="dense", inv_metric=[[1.0, 2.0], [2.0, 1.0]]), ValueError, "inv_metric.* must be positive definite"),
    (dict(metric="dense", inv_metric=[[1.0, 0.5], [0.0, 1.0]]), ValueError, r"inv_metric.* must be symmetric"),
    (dict(inv_metric=[1.0, -1.0]), ValueError, "inv_metric must be finite and > 0"),
    (dict(inv_metric=[1.0, 1.0, 1.0]), ValueError, r"inv_metric for metric='diag' must have shape"),
    (dict(inv_metric=[["a", "b"]]), TypeError, "inv_metric must contain real numbers"),
    (dict(step_size=0.0), ValueError, "step_size must be finite and > 0"),
    (dict(chains=0), ValueError, "chains must be >= 1"),
    (dict(resume=object()), TypeError, "resume must be an AdaptedState"),
    (dict(n_samples=0), ValueError, "n_samples must be >= 1"),
    (dict(temperature=-1.0), ValueError, "temperature must be finite and > 0"),
    (dict(temperature=np.inf), ValueError, "temperature must be finite and > 0"),
    (dict(temperature="2"), TypeError, "temperature must be a real number"),
]


@pytest.mark.parametrize("kw, exc, match", BAD)
def test_bad_input_raises_before_work(kw, exc, match):
    mix = fastmc.default_mixture()
    kw = dict(kw)
    n = kw.pop("n_samples", 10)
    with pytest.raises(exc, match=match):
        nuts(mix, [0.0, 0.0], n, **kw)


def test_bad_hmc_warmup_input():
    mix = fastmc.default_mixture()
    with pytest.raises(ValueError, match="n_warmup must be >= 0"):
        fastmc.hmc(mix, [0.0, 0.0], 10, step_size=0.1, n_leapfrog=3, n_warmup=-5)
    with pytest.raises(ValueError, match="temperature must be finite and > 0"):
        fastmc.hmc(mix, [0.0, 0.0], 10, step_size=0.1, n_leapfrog=3, n_warmup=5, temperature=0.0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        fastmc.hmc(mix, [0.0, 0.0], 10, step_size=0.1, n_leapfrog=3, n_warmup=5, kappa_typo=1.0)


# ---------------------------------------------------------------- static HMC with an integration time


BAD_TIME = [
    (dict(n_leapfrog=5, integration_time=1.0), ValueError, "exactly one of n_leapfrog and integration_time.*both"),
    (dict(), ValueError, "exactly one of n_leapfrog and integration_time.*neither"),
    (dict(integration_time=0.0), ValueError, "integration_time must be finite and > 0"),
    (dict(integration_time=-1.0), ValueError, "integration_time must be finite and > 0"),
    (dict(integration_time=np.inf), ValueError, "integration_time must be finite and > 0"),
    (dict(integration_time=np.nan), ValueError, "integration_time must be finite and > 0"),
    (dict(integration_time="2"), TypeError, "integration_time must be a real number"),
    (dict(integration_time=1.0, max_leapfrog=0), ValueError, "max_leapfrog must be >= 1"),
    (dict(integration_time=1.0, max_leapfrog=2.5), TypeError, "max_leapfrog must be an integer"),
]


@pytest.mark.parametrize("n_warmup", [0, 10])
@pytest.mark.parametrize("kw, exc, match", BAD_TIME)
def test_bad_integration_time_raises_before_work(kw, exc, match, n_warmup):
    calls = []

    def logp_and_grad(x):
        calls.append(1)
        return -0.5 * float(x @ x), -x

    t = fastmc.Target.from_python(logp_and_grad, 2, check_gradient=False)
    with pytest.raises(exc, match=match):
        fastmc.hmc(t, [0.0, 0.0], 10, step_size=0.1, n_warmup=n_warmup, **kw)
    assert not calls
