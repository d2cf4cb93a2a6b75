"""
HMC with a temperature
======================

Hamiltonian Monte Carlo simulates the dynamics of ``H(q, p) = U(q) + K(p)`` with the potential
``U = -log pi(q) / T`` and the kinetic energy ``K = sum p^2 / 2``, then accepts with probability
``min(1, exp(H_0 - H_1))``. With a temperature ``T > 1`` the chain samples ``pi^(1/T)``, a
flatter density whose modes are joined by less improbable valleys, so the chain hops between
them. Here: two well-separated Gaussian modes, HMC with the same step size and trajectory at
``T = 1, 2, 5``, 4 chains each.
"""
import time

import matplotlib.pyplot as plt
import numpy as np

import fastmc

t_start = time.perf_counter()
mix = fastmc.GaussianMixture(weights=[0.5, 0.5], means=[[-3.0, 0.0], [3.0, 0.0]],
                             covs=[[[0.6, 0.0], [0.0, 1.0]], [[0.6, 0.3], [0.3, 1.0]]])
temps = [1.0, 2.0, 5.0]
n_draws, chains = 5_000, 4
runs = {}
for T in temps:
    t0 = time.perf_counter()
    r = fastmc.hmc(mix, np.zeros(2), n_draws, step_size=0.4, n_leapfrog=8, chains=chains,
                   temperature=T, seed=2, progress=False)
    seconds = time.perf_counter() - t0
    side = np.sign(r.draws[..., 0])
    hops = np.count_nonzero(np.diff(side, axis=1) != 0, axis=1)   # mode changes per chain
    ess = float(np.min(fastmc.ess(r)))
    runs[T] = dict(result=r, seconds=seconds, hops=hops, ess=ess)

print(f"{'T':>3} {'accept':>7} {'divergent':>9} {'E-BFMI':>7} {'mode hops/chain':>16} {'ESS':>7} {'ESS/s':>8}"
      f" {'P(x0 > 0)':>9}")
for T, x in runs.items():
    r = x["result"]
    print(f"{T:3.0f} {np.mean(r.acceptance_rate):7.3f} {int(np.sum(r.n_divergent)):9d} "
          f"{np.min(r.ebfmi):7.2f} {np.mean(x['hops']):16.1f} {x['ess']:7.0f} {x['ess'] / x['seconds']:8.0f}"
          f" {np.mean(r.draws[..., 0] > 0):9.2f}")

# %%
# Draws over the contours of pi^(1/T)
# -----------------------------------
# Chain 0's first 1,500 draws over the contours of ``log pi / T`` (the density the chain samples),
# and the first coordinate of every chain: at ``T = 1`` a chain stays in the mode it started
# near; at ``T = 5`` it crosses often.
g = np.linspace(-8, 8, 220)
X, Y = np.meshgrid(g, g)
logp = mix.logpdf(np.column_stack([X.ravel(), Y.ravel()])).reshape(X.shape)
fig, axes = plt.subplots(2, 3, figsize=(11, 6.5), gridspec_kw={"height_ratios": [3, 1.3]})
for ax, tr, T in zip(axes[0], axes[1], temps):
    r = runs[T]["result"]
    ax.contour(X, Y, logp / T, levels=np.linspace(-12, -1, 12), cmap="Greys", linewidths=0.7)
    d = r.draws[0, :1500]
    ax.plot(d[:, 0], d[:, 1], ".", ms=2, alpha=0.5)
    ax.set_title(f"T = {T:g}: {np.mean(runs[T]['hops']):.0f} mode hops per chain", fontsize=9)
    ax.set(xlim=(-8, 8), ylim=(-8, 8), aspect="equal")
    for c in range(chains):
        tr.plot(r.draws[c, :, 0], lw=0.4)
    tr.set_xlabel("iteration")
axes[1, 0].set_ylabel("x[0]")
fig.tight_layout()

# %%
# Energy
# ------
# The marginal energy distribution against the distribution of its change between iterations
# (the E-BFMI diagnostic compares their variances: values below 0.3 flag a sampler that cannot
# move through the energy levels). A divergence is an energy error above 1000.
fig, axes = plt.subplots(1, 3, figsize=(11, 3), sharey=False)
for ax, T in zip(axes, temps):
    e = runs[T]["result"].energy[0]
    ax.hist(e - e.mean(), bins=60, density=True, alpha=0.6, label="energy - mean")
    ax.hist(np.diff(e), bins=60, density=True, alpha=0.6, label="energy change")
    ax.set_title(f"T = {T:g}", fontsize=9)
axes[0].legend(fontsize=8)
fig.tight_layout()

# %%
# What the temperature does
# -------------------------
# The table: with the same step size a higher ``T`` divides the potential's gradient by ``T``, so
# the leapfrog integrates a flatter, easier Hamiltonian and the acceptance rate rises; the chains
# hop between the modes far more often, so the mixture's weights (``P(x0 > 0)``, 0.5 for
# ``pi``) are estimated from many hops instead of the few at ``T = 1``. The draws are from
# ``pi^(1/T)``, not ``pi``: wider modes and more mass between them. Using them for ``pi`` needs
# importance weights ``pi^(1 - 1/T)`` or a tempering scheme that swaps states between
# temperatures (not in fastmc).
print(f"runtime of this example: {time.perf_counter() - t_start:.1f} s")
