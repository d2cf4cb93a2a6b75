"""Training loops: AEVB (ELBO), IWAE and wake-sleep, with Adam and learning-rate schedules."""
from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from . import bounds as _b
from .._validation import as_positive_float
from ._checks import check_count, check_fits, check_seed
from .data import binarize
from .model import VAE
from .optim import Adam

__all__ = ["train", "evaluate_bound", "EpochInfo", "paper_schedule", "short_schedule", "OBJECTIVES"]

OBJECTIVES = ("elbo", "iwae", "wake-sleep")


@dataclass
class EpochInfo:
    """Progress after one epoch, passed to the ``callback`` of :func:`train`.

    Attributes
    ----------
    epoch : int
        1-based epoch number.
    epochs : int
        Total number of epochs.
    lr : float
        Learning rate used in this epoch.
    train_objective : float
        Mean training objective over the epoch's minibatches (for wake-sleep:
        the wake-phase ``mean log p(x, z)``).
    test_bound : float or None
        Mean held-out bound (``L_{eval_k}``) if held-out data were given.
    test_se : float or None
        Its standard error over images.
    seconds : float
        Wall time of the epoch's training steps (evaluation excluded).
    eval_seconds : float
        Wall time of the held-out evaluation.
    extra : dict
        Free-form additions (empty by default).
    """

    epoch: int
    epochs: int
    lr: float
    train_objective: float
    test_bound: float | None = None
    test_se: float | None = None
    seconds: float = 0.0
    eval_seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def paper_schedule(n_stages=8, lr=1e-3):
    """Burda et al.'s schedule: stage ``i`` runs ``3**i`` epochs at ``lr * 10**(-i/7)``.

    Parameters
    ----------
    n_stages : int, optional
        Number of stages (8 in the paper: 3280 epochs in total).
    lr : float, optional
        Initial learning rate.

    Returns
    -------
    list of float
        One learning rate per epoch.
    """
    n_stages = check_count(n_stages, "n_stages")
    if n_stages > 15:  # (3**16 - 1) / 2 = 21.5 M epochs: a list no run could use
        raise ValueError(f"n_stages must be at most 15 (stage i runs 3**i epochs), got {n_stages}")
    lr = as_positive_float("lr", lr)
    return [lr * 10 ** (-i / 7) for i in range(n_stages) for _ in range(3**i)]


def short_schedule(epochs=30, n_final=6, lr=1e-3, lr_final=1e-4):
    """``epochs - n_final`` epochs at ``lr`` followed by ``n_final`` at ``lr_final``.

    Parameters
    ----------
    epochs : int, optional
    n_final : int, optional
    lr, lr_final : float, optional

    Returns
    -------
    list of float
        One learning rate per epoch.
    """
    epochs = check_count(epochs, "epochs")
    if isinstance(n_final, bool) or not isinstance(n_final, numbers.Integral) or not 0 <= n_final <= epochs:
        raise ValueError(f"n_final must be an integer in [0, epochs={epochs}], got {n_final!r}")
    lr, lr_final = as_positive_float("lr", lr), as_positive_float("lr_final", lr_final)
    check_fits(epochs, "epochs")
    return [lr] * (epochs - n_final) + [lr_final] * n_final


def _check_lr(lr, epochs):
    if isinstance(lr, numbers.Real) and not isinstance(lr, bool):
        if not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"lr must be positive and finite, got {lr!r}")
        return [float(lr)] * epochs
    try:
        lrs = [float(v) for v in lr]
    except (TypeError, ValueError):
        raise TypeError(f"lr must be a positive float or a sequence of per-epoch floats, got {lr!r}") from None
    if len(lrs) != epochs:
        raise ValueError(f"lr: a per-epoch schedule must have epochs={epochs} entries, got {len(lrs)}")
    if not all(v > 0 and math.isfinite(v) for v in lrs):
        raise ValueError("lr: every learning rate must be positive and finite")
    return lrs


def _check_finite(value, objective, epoch, batch, lr):
    """Stop a diverged run: a NaN or infinite objective means the parameters are ruined."""
    if not math.isfinite(value):
        raise FloatingPointError(
            f"training diverged: the {objective} objective is {value} in epoch {epoch + 1}, minibatch {batch + 1} "
            f"(learning rate {lr:g}); the model's parameters are no longer usable, try a smaller lr"
        )


def train(
    model,
    data,
    objective="elbo",
    k=1,
    epochs=1,
    batch_size=100,
    lr=1e-3,
    seed=0,
    test_data=None,
    eval_k=1,
    eval_seed=12345,
    callback=None,
    binarize_data=True,
    batch_callback=None,
):
    """Train ``model`` in place with Adam, reshuffling every epoch.

    Parameters
    ----------
    model : VAE
    data : array_like, shape (N, n_visible)
        Training images. With ``binarize_data`` (Bernoulli models) they are
        pixel intensities in [0, 1], re-binarised every time an image is seen
        (dynamic binarisation, as in Burda et al.).
    objective : {"elbo", "iwae", "wake-sleep"}
        ``"elbo"``: AEVB with ``k`` samples and analytic KL. ``"iwae"``: the
        ``L_k`` bound, gradient through normalised importance weights.
        ``"wake-sleep"``: Hinton et al. (1995); the wake phase updates the
        generative network on ``z ~ q(z|x)`` (``k`` samples per image), the
        sleep phase updates the recognition network on ``batch_size`` dreams
        ``(x, z) ~ p(x, z)``.
    k : int, optional
        Samples per image, >= 1.
    epochs : int, optional
        Passes through the data, >= 1.
    batch_size : int, optional
        Minibatch size, >= 1.
    lr : float or sequence of float, optional
        Adam step size, or one per epoch (see :func:`paper_schedule`,
        :func:`short_schedule`).
    seed : int, optional
        Seed of the single ``numpy.random.Generator`` driving shuffling,
        binarisation and all noise: equal seeds give bit-identical training.
    test_data : array_like, shape (M, n_visible), optional
        Held-out images (already binarised, or intensities) on which
        ``L_{eval_k}`` is reported after every epoch.
    eval_k : int, optional
        ``k`` of the held-out bound.
    eval_seed : int, optional
        Seed of the held-out evaluation noise (same noise every epoch).
    callback : callable, optional
        Called as ``callback(info)`` with an :class:`EpochInfo` after every
        epoch.
    binarize_data : bool, optional
        Dynamic binarisation (Bernoulli likelihood only).
    batch_callback : callable, optional
        Called as ``batch_callback(epoch, batches_done, n_batches, objective)`` after every
        minibatch: ``epoch`` 1-based, ``objective`` the mean training objective over the epoch's
        minibatches so far (what :class:`EpochInfo` reports at the epoch's end). For progress
        displays within an epoch; its time counts in ``EpochInfo.seconds``.

    Returns
    -------
    list of EpochInfo
        The history.

    Raises
    ------
    TypeError, ValueError
        On a bad argument, before any work (the model is unchanged).
    FloatingPointError
        If training diverges (a minibatch objective is NaN or infinite); the model's parameters
        are then no longer usable.
    """
    # validate everything before any work
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a fastmc.vae.VAE, got {type(model).__name__}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    k = check_count(k, "k")
    epochs = check_count(epochs, "epochs")
    batch_size = check_count(batch_size, "batch_size")
    eval_k = check_count(eval_k, "eval_k")
    lrs = _check_lr(lr, epochs)
    data = model.check_data(data, "data")
    if test_data is not None:
        test_data = model.check_data(test_data, "test_data")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    if batch_callback is not None and not callable(batch_callback):
        raise TypeError(f"batch_callback must be callable, got {type(batch_callback).__name__}")
    binarize_data = bool(binarize_data) and model.likelihood == "bernoulli"

    rng = np.random.default_rng(check_seed(seed, "seed"))
    check_seed(eval_seed, "eval_seed")
    opt = Adam(model.params, lr=lrs[0])
    n_data = data.shape[0]
    dz = model.n_latent
    history = []
    n_batches = -(-n_data // batch_size)
    for epoch in range(epochs):
        opt.lr = lrs[epoch]
        t0 = time.perf_counter()
        perm = rng.permutation(n_data)
        total, count = 0.0, 0
        for start in range(0, n_data, batch_size):
            idx = perm[start : start + batch_size]
            xb = data[idx]
            if binarize_data:
                xb = binarize(xb, rng, model.dtype)
            n = xb.shape[0]
            eps = rng.standard_normal((k, n, dz), dtype=model.dtype)
            # overflow in a diverging run shows as a non-finite objective, which _check_finite
            # turns into one FloatingPointError instead of a stream of NumPy warnings
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                if objective == "wake-sleep":
                    mu, lv = model.encode(xb)
                    z = model.sample_latent(mu, lv, eps)
                    value, grads = model.wake_objective_and_grad(xb, z)
                    _check_finite(value, objective, epoch, start // batch_size, opt.lr)
                    opt.step(grads)
                    xd, zd = model.dream(batch_size, rng)
                    _, grads = model.sleep_objective_and_grad(xd, zd)
                    opt.step(grads)
                else:
                    # xb and eps are valid by construction: skip the per-batch checks
                    value, grads = model.objective_and_grad(xb, objective, eps, validate=False)
                    _check_finite(value, objective, epoch, start // batch_size, opt.lr)
                    opt.step(grads)
            total += value * n
            count += n
            if batch_callback is not None:
                batch_callback(epoch + 1, start // batch_size + 1, n_batches, total / count)
        seconds = time.perf_counter() - t0
        info = EpochInfo(epoch=epoch + 1, epochs=epochs, lr=lrs[epoch], train_objective=total / count, seconds=seconds)
        if test_data is not None:
            t1 = time.perf_counter()
            vals = evaluate_bound(model, test_data, eval_k, eval_seed)
            info.test_bound, info.test_se = _b.paired_se(vals)
            info.eval_seconds = time.perf_counter() - t1
        history.append(info)
        if callback is not None:
            callback(info)
    return history


def evaluate_bound(model, x, k, seed=0, batch_size=100):
    """Per-image ``L_k`` on a data set, in batches (``k >= 500`` uses chunking).

    Parameters
    ----------
    model : VAE
    x : array_like, shape (n, n_visible)
    k : int
    seed : int, optional
    batch_size : int, optional
        Images per batch.

    Returns
    -------
    ndarray, float64, shape (n,)
    """
    x = model.check_data(x)
    k = check_count(k, "k")
    rng = np.random.default_rng(check_seed(seed, "seed"))
    if k >= 500:
        return _b.log_likelihood(model, x, k, rng=rng, batch_size=batch_size)
    out = np.empty(x.shape[0])
    for s in range(0, x.shape[0], batch_size):
        out[s : s + batch_size] = _b.iwae_bound(model, x[s : s + batch_size], k, rng=rng)
    return out
