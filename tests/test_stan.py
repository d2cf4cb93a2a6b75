"""Target.from_stan: the compiled library against independent NumPy implementations of the three
test programs (tests/stan/) and central differences; NUTS against exact posteriors (eight schools
and the linear regression by quadrature, a truncated normal with a `reject` statement) within 5
Monte Carlo standard errors; draws identical for any thread count and on both backends; Stan's
names, shapes and index order in the results and ArviZ; the cache; bad input.

Each program is compiled once per session, into the session's temporary directory (about 30 s of
CPU per program with g++ -O3). Skipped without httpstan (the ``stan`` extra) or a C++ compiler.
"""
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

import fastmc

pytest.importorskip("httpstan")
if not any(shutil.which(c) for c in ("g++", "clang++", "c++")):
    pytest.skip("no C++ compiler to build Stan models", allow_module_level=True)

from helpers import assert_same_draws  # noqa: E402

from fastmc.targets import stan as stan_mod  # noqa: E402

HERE = Path(__file__).parent / "stan"
EIGHT = json.loads((HERE / "eight_schools.json").read_text())


def _regression_data():
    rng = np.random.default_rng(11)
    N, K = 40, 3
    X = rng.normal(size=(N, K))
    y = 1.0 + X @ np.array([0.5, -1.0, 0.25]) + rng.normal(scale=0.8, size=N)
    return {"N": N, "K": K, "X": X, "y": y}


def _logistic_data():
    rng = np.random.default_rng(12)
    N, G = 120, 6
    group = np.repeat(np.arange(1, G + 1), N // G)
    x = rng.normal(size=N)
    a = rng.normal(0.3, 0.8, size=G)
    y = (rng.uniform(size=N) < special.expit(a[group - 1] + 0.7 * x)).astype(int)
    return {"N": N, "G": G, "group": group, "x": x, "y": y}


DATA = {"eight_schools_noncentered": EIGHT, "linear_regression": _regression_data(),
        "hierarchical_logistic": _logistic_data(), "truncated_normal": None}


@pytest.fixture(scope="session")
def stan_cache(tmp_path_factory):
    """The session's temporary directory (FASTMC_STAN_TEST_CACHE: a lasting one, for local reruns)."""
    kept = os.environ.get("FASTMC_STAN_TEST_CACHE")
    return Path(kept) if kept else tmp_path_factory.mktemp("stan_cache")


@pytest.fixture(scope="session")
def targets(stan_cache):
    """Each test program compiled once per session; ``compile_seconds`` records the times."""
    from concurrent.futures import ThreadPoolExecutor

    # both cores compile (the compiler runs in subprocesses); cache hits cost nothing
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda n: stan_mod.compile_stan(HERE / f"{n}.stan", cache_dir=stan_cache), DATA))
    out = {}

    def get(name):
        if name not in out:
            out[name] = fastmc.Target.from_stan(HERE / f"{name}.stan", DATA[name], cache_dir=stan_cache)
        return out[name]

    return get


@pytest.fixture
def sampling():
    """The backend of the sampling tests: C++. The Numba kernels compile around each model's C
    function (about a minute of CPU per model), so Numba samples Stan models in the slow tests
    (both backends bit-identical, the reject model) and evaluates them in the fast ones."""
    if "cpp" not in fastmc.available_backends():
        pytest.skip("the sampling tests of Stan models run on the C++ backend (Numba: the slow tests)")
    return "cpp"


# ------------------------------------------------------------ independent NumPy log densities
def _np_eight(u):
    mu, log_tau, z = u[0], u[1], u[2:]
    tau = math.exp(log_tau)
    y, sigma = np.array(EIGHT["y"], float), np.array(EIGHT["sigma"], float)
    theta = mu + tau * z
    return (stats.norm.logpdf(mu, 0, 5) + stats.cauchy.logpdf(tau, 0, 5) + log_tau
            + stats.norm.logpdf(z).sum() + stats.norm.logpdf(y, theta, sigma).sum())


def _np_regression(u):
    d = DATA["linear_regression"]
    K = d["K"]
    alpha, beta, log_sigma = u[0], u[1:1 + K], u[1 + K]
    sigma = math.exp(log_sigma)
    return (stats.norm.logpdf(alpha, 0, 10) + stats.norm.logpdf(beta, 0, 2).sum()
            + stats.expon.logpdf(sigma) + log_sigma
            + stats.norm.logpdf(d["y"], alpha + d["X"] @ beta, sigma).sum())


def _np_logistic(u):
    d = DATA["hierarchical_logistic"]
    G = d["G"]
    mu, log_tau, z, beta = u[0], u[1], u[2:2 + G], u[2 + G]
    tau = math.exp(log_tau)
    a = mu + tau * z
    eta = a[d["group"] - 1] + beta * d["x"]
    ll = np.sum(d["y"] * eta - np.logaddexp(0, eta))
    return (stats.norm.logpdf(mu, 0, 2) + stats.halfnorm.logpdf(tau) + log_tau + stats.norm.logpdf(z).sum()
            + stats.norm.logpdf(beta, 0, 2) + ll)


NUMPY = {"eight_schools_noncentered": _np_eight, "linear_regression": _np_regression,
         "hierarchical_logistic": _np_logistic}


@pytest.mark.parametrize("name", list(NUMPY))
def test_log_density_equals_numpy_up_to_a_constant(name, targets, backend):
    """Stan drops constant terms (propto): differences between points agree to rounding."""
    t = targets(name)
    U = np.random.default_rng(3).uniform(-1.5, 1.5, size=(6, t.dim))
    lp, _ = t.logpdf_and_grad(U, backend=backend)
    ref = np.array([NUMPY[name](u) for u in U])
    diff, ref_diff = lp[1:] - lp[0], ref[1:] - ref[0]
    np.testing.assert_allclose(diff, ref_diff, rtol=1e-10, atol=1e-9 * np.abs(ref).max())


@pytest.mark.parametrize("name", list(NUMPY))
def test_gradient_equals_central_differences_of_numpy(name, targets):
    t = targets(name)
    f = NUMPY[name]
    for u in np.random.default_rng(4).uniform(-1.5, 1.5, size=(3, t.dim)):
        _, g = t.logpdf_and_grad(u)
        h = 1e-5
        fd = np.array([(f(u + h * e) - f(u - h * e)) / (2 * h) for e in np.eye(t.dim)])
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6 * max(1.0, np.abs(fd).max()))


# ------------------------------------------------------------------------ names and layout
def test_layout_names_shapes_and_index_order(targets):
    t = targets("eight_schools_noncentered")
    lay = t.layout
    assert [p.name for p in lay.params] == ["mu", "tau", "theta_tilde"]
    assert [p.name for p in lay.deterministics] == ["theta", "y_rep", "layout", "nested"]
    assert lay.shapes() == {"mu": (), "tau": (), "theta_tilde": (8,), "theta": (8,), "y_rep": (8,),
                            "layout": (2, 3), "nested": (2, 3)}
    u = np.random.default_rng(5).normal(size=(2, 3, t.dim))
    post = lay.constrain(u, seed=1)
    np.testing.assert_allclose(post["tau"], np.exp(u[..., 1]), rtol=1e-15)
    np.testing.assert_allclose(post["theta"], u[..., :1] + np.exp(u[..., 1:2]) * u[..., 2:], rtol=1e-14)
    # Stan's column-major values in C order: layout[i, j] = 10 (i + 1) + (j + 1)
    want = 10 * np.arange(1, 3)[:, None] + np.arange(1, 4)[None, :]
    np.testing.assert_array_equal(post["layout"], np.broadcast_to(want, (2, 3, 2, 3)))
    np.testing.assert_array_equal(post["nested"], np.broadcast_to(10 * want - 9 * np.arange(1, 4), (2, 3, 2, 3)))
    # unconstrain is Stan's transform_inits, the inverse of the constrain step
    one = {k: post[k][0, 0] for k in ("mu", "tau", "theta_tilde")}
    np.testing.assert_allclose(t.unconstrain(one), u[0, 0], rtol=1e-13)


def test_generated_quantities_reproducible_per_seed_and_chain(targets):
    t = targets("eight_schools_noncentered")
    u = np.random.default_rng(6).normal(size=(2, 500, t.dim))
    a = t.layout.constrain(u, seed=7)["y_rep"]
    np.testing.assert_array_equal(a, t.layout.constrain(u, seed=7)["y_rep"])
    # chain 1 on its own is chain 1 of the pair: its generator depends on (seed, chain, draw) only
    assert not np.array_equal(a, t.layout.constrain(u, seed=8)["y_rep"])
    assert not np.array_equal(a[0], a[1])
    # y_rep ~ normal(theta, sigma): standardised residuals are N(0, 1)
    theta = t.layout.constrain(u, seed=7)["theta"]
    z = ((a - theta) / np.array(EIGHT["sigma"], float)).ravel()
    assert abs(z.mean()) < 5 / math.sqrt(z.size) and abs(z.std() - 1) < 5 / math.sqrt(2 * z.size)


def test_initial_points_stan_default_and_user_inits(targets, stan_cache):
    t = targets("eight_schools_noncentered")
    x = t.initial_points(4, seed=1)
    assert x.shape == (4, t.dim) and np.all(np.abs(x) <= 2)
    np.testing.assert_array_equal(x[:2], t.initial_points(2, seed=1))  # chain c from (seed, c) only
    assert not np.array_equal(x, t.initial_points(4, seed=2))
    t2 = fastmc.Target.from_stan(HERE / "eight_schools_noncentered.stan", EIGHT, cache_dir=stan_cache,
                                 inits={"tau": 3.0, "mu": 1.5})
    x2 = t2.initial_points(3, seed=1)
    np.testing.assert_allclose(x2[:, 0], 1.5)
    np.testing.assert_allclose(x2[:, 1], math.log(3.0))
    assert np.all(np.abs(x2[:, 2:]) <= 2)
    with pytest.raises(ValueError, match=r"inits\['tau'\]: .*Lower bounded variable is -1"):
        fastmc.Target.from_stan(HERE / "eight_schools_noncentered.stan", EIGHT, cache_dir=stan_cache,
                                inits={"tau": -1.0})
    with pytest.raises(ValueError, match="'sigma' is not a parameter of the model"):
        fastmc.Target.from_stan(HERE / "eight_schools_noncentered.stan", EIGHT, cache_dir=stan_cache,
                                inits={"sigma": 1.0})


# ----------------------------------------------------------------------------- statistics
def _within_mcse(draws, exact_mean, exact_sd, what):
    """Per-element mean and sd of draws (chains, n, ...) within 5 MCSE of the exact values."""
    d = draws.reshape(draws.shape[0], draws.shape[1], -1)
    flat = d.reshape(-1, d.shape[2])
    zm = np.abs(flat.mean(0) - np.ravel(exact_mean)) / fastmc.mcse(d, method="mean")
    zs = np.abs(flat.std(0, ddof=1) - np.ravel(exact_sd)) / fastmc.mcse(d, method="sd")
    assert np.all(zm < 5) and np.all(zs < 5), (what, zm.max(), zs.max())


def _eight_schools_exact():
    """Posterior means and sds of mu, tau and theta by quadrature: theta integrated out
    analytically (y_j ~ N(mu, sigma_j^2 + tau^2)), then a fine grid over (mu, log tau)."""
    y, s = np.array(EIGHT["y"], float), np.array(EIGHT["sigma"], float)
    mu = np.linspace(-40, 50, 901)[:, None, None]
    lt = np.linspace(-12, 7, 1201)[None, :, None]
    tau = np.exp(lt)
    v = s ** 2 + tau ** 2
    logw = (stats.norm.logpdf(mu[..., 0], 0, 5) + stats.cauchy.logpdf(tau[..., 0], 0, 5) + lt[..., 0]
            + stats.norm.logpdf(y, mu, np.sqrt(v)).sum(-1))
    w = np.exp(logw - logw.max())
    w /= w.sum()
    prec = 1 / s ** 2 + 1 / tau ** 2
    m = (y / s ** 2 + mu / tau ** 2) / prec  # E[theta | mu, tau, y]
    out = {}
    for name, val, var in (("mu", mu[..., 0] + 0 * lt[..., 0], 0.0), ("tau", tau[..., 0] + 0 * mu[..., 0], 0.0)):
        e = (w * val).sum()
        out[name] = (e, math.sqrt((w * (val - e) ** 2).sum()))
    e = (w[..., None] * m).sum((0, 1))
    var = (w[..., None] * (1 / prec + (m - e) ** 2)).sum((0, 1))
    out["theta"] = (e, np.sqrt(var))
    return out


def test_eight_schools_nuts_matches_quadrature(targets, sampling):
    t = targets("eight_schools_noncentered")
    r = fastmc.nuts(t, None, 2000, chains=4, seed=11, target_accept=0.95, warn=False, backend=sampling)
    assert r.divergent.sum() < 40
    for name, (m, s) in _eight_schools_exact().items():
        _within_mcse(r.posterior[name], m, s, name)


def test_linear_regression_nuts_matches_quadrature(targets, sampling):
    """Given sigma the coefficients are Gaussian (normal priors); sigma's marginal by quadrature."""
    t = targets("linear_regression")
    d = DATA["linear_regression"]
    Xt = np.column_stack([np.ones(d["N"]), d["X"]])
    prior_prec = 1 / np.array([100.0, 4, 4, 4])
    sig = np.exp(np.linspace(-3, 1.5, 2001))
    logw, means, covs = [], [], []
    for s in sig:
        A = Xt.T @ Xt / s ** 2 + np.diag(prior_prec)
        C = np.linalg.inv(A)
        m = C @ (Xt.T @ d["y"]) / s ** 2
        # log p(y | sigma) = log N(y | 0, sigma^2 I + Xt S0 Xt^T), by the matrix determinant lemma
        logdet = 2 * d["N"] * math.log(s) + np.linalg.slogdet(A)[1] + np.log(1 / prior_prec).sum()
        quad = d["y"] @ d["y"] / s ** 2 - m @ A @ m
        logw.append(-0.5 * (logdet + quad) + stats.expon.logpdf(s) + math.log(s))
        means.append(m)
        covs.append(np.diag(C))
    logw = np.array(logw)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    means, covs = np.array(means), np.array(covs)
    e = w @ means
    sd = np.sqrt(w @ (covs + (means - e) ** 2))
    es = w @ sig
    ss = math.sqrt(w @ (sig - es) ** 2)
    r = fastmc.nuts(t, None, 2000, chains=4, seed=12, warn=False, backend=sampling)
    _within_mcse(r.posterior["alpha"], e[0], sd[0], "alpha")
    _within_mcse(r.posterior["beta"], e[1:], sd[1:], "beta")
    _within_mcse(r.posterior["sigma"], es, ss, "sigma")


#: The hierarchical logistic model has no closed form: means, their MCSE, sds, their MCSE of a long
#: run (fastmc NUTS, 4 x 25000 draws, target_accept 0.9, seed 2026, no divergences; its log
#: density and gradient are checked against NumPy above)
_LOGISTIC_REFERENCE = {
    "mu": ([0.43675], [0.00203], [0.39435], [0.00214]),
    "tau": ([0.77133], [0.00217], [0.37441], [0.00166]),
    "beta": ([0.83826], [0.00082], [0.25122], [0.00088]),
    "a": ([1.04043, 1.0341, 0.38289, -0.01817, -0.33311, 0.61253],
          [0.00187, 0.00174, 0.00118, 0.00142, 0.00194, 0.0012],
          [0.51249, 0.48304, 0.42707, 0.43312, 0.48306, 0.42673],
          [0.0015, 0.00133, 0.00128, 0.00122, 0.00138, 0.00128]),
}


def test_hierarchical_logistic_nuts_matches_a_long_reference_run(targets, sampling):
    t = targets("hierarchical_logistic")
    r = fastmc.nuts(t, None, 2000, chains=4, seed=14, target_accept=0.9, warn=False, backend=sampling)
    for name, (m, em, s, es) in _LOGISTIC_REFERENCE.items():
        d = r.posterior[name].reshape(4, 2000, -1)
        flat = d.reshape(-1, d.shape[2])
        zm = np.abs(flat.mean(0) - m) / np.hypot(fastmc.mcse(d, method="mean"), em)
        zs = np.abs(flat.std(0, ddof=1) - s) / np.hypot(fastmc.mcse(d, method="sd"), es)
        assert np.all(zm < 5) and np.all(zs < 5), (name, zm.max(), zs.max())


@pytest.mark.parametrize("backend", ["cpp", pytest.param("numba", marks=pytest.mark.slow)])
def test_reject_samples_the_truncated_posterior_and_counts_rejections(targets, backend):
    if backend not in fastmc.available_backends():
        pytest.skip(f"backend {backend!r} is not available")
    t = targets("truncated_normal")
    assert np.all(t.initial_points(8, seed=2) >= 0.5)  # Stan's retries past the rejected region
    rc, lp, _, msg = t._stan.logp_explained(np.array([0.0]))
    assert rc == 1 and lp == -math.inf and "x must be at least 0.5" in msg
    assert t.logpdf(np.array([0.0])) == -math.inf
    r = fastmc.nuts(t, None, 3000, chains=4, seed=13, warn=False, backend=backend)
    a = 0.5
    dist = stats.truncnorm(a, np.inf)
    _within_mcse(r.posterior["x"], dist.mean(), dist.std(), "x")
    assert r.posterior["x"].min() >= 0.5
    assert r.n_nonfinite.sum() + r.warmup.n_nonfinite.sum() > 0


# --------------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("name", list(NUMPY))
def test_draws_independent_of_threads(name, targets, sampling):
    t = targets(name)
    kw = {"n_warmup": 100, "chains": 3, "seed": 9, "warn": False}
    a = fastmc.nuts(t, None, 100, n_threads=1, **kw, backend=sampling)
    b = fastmc.nuts(t, None, 100, n_threads=2, **kw, backend=sampling)
    assert_same_draws(a, b)


@pytest.mark.slow  # the Numba backend compiles its kernels around the model's C function: ~1-2 min here
def test_draws_identical_on_both_backends(targets, both_backends):
    t = targets("eight_schools_noncentered")
    kw = {"n_warmup": 100, "chains": 3, "seed": 9, "warn": False, "n_threads": 2}
    a = fastmc.nuts(t, None, 100, backend="cpp", **kw)
    c = fastmc.nuts(t, None, 100, backend="numba", **kw)
    assert_same_draws(a, c)


def test_a_stan_target_travels_to_process_workers(targets, sampling):
    """from_stan pickles as its call: a spawned worker loads the library from the cache directory
    it names, and the run on the executor equals the local one bit for bit."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    t = targets("eight_schools_noncentered")
    kw = {"n_warmup": 100, "chains": 4, "seed": 9, "warn": False, "backend": sampling, "progress": False}
    local = fastmc.nuts(t, None, 100, **kw)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = fastmc.nuts(t, None, 100, executor=pool, chains_per_task=2, **kw)
    assert_same_draws(remote, local)


def test_to_arviz_has_stans_names(targets, sampling):
    t = targets("eight_schools_noncentered")
    r = fastmc.nuts(t, None, 50, n_warmup=50, chains=2, seed=1, warn=False, backend=sampling)
    dt = r.to_arviz()
    post = dt["posterior"]
    for name, shape in t.layout.shapes().items():
        assert post[name].shape == (2, 50, *shape)
    np.testing.assert_array_equal(post["theta"].values, r.posterior["theta"])
    assert set(dt["unconstrained_posterior"].data_vars) == {"mu", "tau", "theta_tilde"}
    assert dt["warmup_posterior"]["y_rep"].shape == (2, 50, 8)


# ------------------------------------------------------------------------------------ cache
def test_cache_hit_runs_no_compiler_and_new_data_do_not_recompile(targets, stan_cache, monkeypatch):
    t = targets("eight_schools_noncentered")
    calls = []

    def counting(cmd):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "counted, not compiled")

    monkeypatch.setattr(stan_mod, "_run_compiler", counting)
    path = HERE / "eight_schools_noncentered.stan"
    t2 = fastmc.Target.from_stan(path, EIGHT, cache_dir=stan_cache)
    assert calls == [] and t2.compile_info["compiled"] is False and t2.library == t.library
    assert t2.compile_info["seconds"] < 1.0
    data = dict(EIGHT, y=[0.0] * 8)
    t3 = fastmc.Target.from_stan(path.read_text(), data, cache_dir=stan_cache)  # same text, given as text
    assert calls == [] and t3.library == t.library
    u = np.linspace(-1, 1, t.dim)
    assert t3.logpdf(u) != t.logpdf(u)  # the new data are used
    # one more character is another program: the compiler runs (and here fails on purpose)
    with pytest.raises(RuntimeError, match="counted, not compiled"):
        fastmc.Target.from_stan(path.read_text() + " ", EIGHT, cache_dir=stan_cache)
    assert len(calls) == 1


def test_compile_times_are_recorded(targets):
    """Records the first build's time (the session fixture compiled it) for the report."""
    t = targets("linear_regression")
    info = t.compile_info
    assert info["stan_version"] == "2.35.0" and set(info["program"]["inputs"]) == {"N", "K", "X", "y"}
    assert info["seconds"] > (1.0 if info["compiled"] else 0.0)


# -------------------------------------------------------------------------------- bad input
def test_syntax_error_shows_stancs_message_with_the_line(stan_cache):
    with pytest.raises(ValueError, match=r"(?s)stanc could not.*line 3, column 0.*2:    real x.*\";\" expected"):
        fastmc.Target.from_stan("parameters {\n  real x\n}\nmodel { x ~ normal(0, 1); }\n", cache_dir=stan_cache)


def test_program_without_parameters(stan_cache):
    with pytest.raises(ValueError, match="no parameters"):
        fastmc.Target.from_stan("data { real y; }\nmodel { }\n", cache_dir=stan_cache)


def test_missing_and_misshaped_data_name_the_variable(targets, stan_cache):
    targets("eight_schools_noncentered")
    path = HERE / "eight_schools_noncentered.stan"
    with pytest.raises(ValueError, match="missing 'y'"):
        fastmc.Target.from_stan(path, {"J": 8, "sigma": EIGHT["sigma"]}, cache_dir=stan_cache)
    with pytest.raises(ValueError, match=r"variable name=y.*dims declared=\(8\); dims found=\(7\)"):
        fastmc.Target.from_stan(path, dict(EIGHT, y=EIGHT["y"][:7]), cache_dir=stan_cache)
    with pytest.raises(ValueError, match=r"sigma\[1\] is -1, but must be greater than or equal to 0"):
        fastmc.Target.from_stan(path, dict(EIGHT, sigma=[-1.0] * 8), cache_dir=stan_cache)
    with pytest.raises(TypeError, match=r"data\['y'\]"):
        fastmc.Target.from_stan(path, dict(EIGHT, y="abc"), cache_dir=stan_cache)
    with pytest.raises(TypeError, match="data must be None, a dict"):
        fastmc.Target.from_stan(path, [1, 2], cache_dir=stan_cache)


def test_bad_program_argument_and_no_compiler(stan_cache, tmp_path):
    with pytest.raises(ValueError, match="no Stan file"):
        fastmc.Target.from_stan(tmp_path / "absent.stan", cache_dir=stan_cache)
    with pytest.raises(TypeError, match="program must be"):
        fastmc.Target.from_stan(42, cache_dir=stan_cache)
    with pytest.raises(RuntimeError, match="no C.. compiler found"):
        fastmc.Target.from_stan(HERE / "truncated_normal.stan", cache_dir=stan_cache, compiler="no-such-c++")


# ------------------------------------------------------------------------------ command line
def test_cli_samples_a_stan_program(targets, stan_cache, monkeypatch, capsys, sampling):
    from fastmc import cli

    targets("eight_schools_noncentered")  # compiled: the command line finds it in the cache
    monkeypatch.setenv("FASTMC_STAN_CACHE", str(stan_cache))
    program = str(HERE / "eight_schools_noncentered.stan")
    code = cli.main(["sample", program, "--data", str(HERE / "eight_schools.json"), "--seed", "1", "--chains", "2",
                     "--draws", "200", "--warmup", "200", "--no-progress", "--backend", sampling])
    out = capsys.readouterr().out
    assert code in (0, 1) and "theta_tilde[7]" in out and "seed 1" in out
    assert cli.main(["sample", program, "--data", "absent.json"]) == 2
    assert "--data: no such file" in capsys.readouterr().err
    assert cli.main(["sample", program, "--data", str(HERE / "eight_schools.json"), "--chains", "1", "--backend",
                     sampling]) in (0, 1)
    bad = stan_cache / "bad.json"
    bad.write_text('{"J": 8}')
    assert cli.main(["sample", program, "--data", str(bad)]) == 2
    assert "--data: data: missing 'y'" in capsys.readouterr().err
