"""A sampling result as an ArviZ ``xarray.DataTree``, with ArviZ's names.

Built with ``arviz_base.from_dict`` (the ``arviz`` extra), so it is what ArviZ 1.x reads; ArviZ
0.23 converts it with ``arviz.InferenceData.from_datatree``.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["to_datatree", "sample_stats"]


def sample_stats(result, *, warmup: bool = False) -> dict:
    """The per-draw statistics of a result under ArviZ's names, each (chains, n).

    Parameters
    ----------
    result : SamplingResult
    warmup : bool
        The statistics of ``result.warmup`` (the warm-up iterations) instead.

    Returns
    -------
    dict
        HMC and NUTS: ``lp`` (log density), ``acceptance_rate`` (the acceptance statistic),
        ``step_size`` (the step of each transition), ``n_steps`` (leapfrog steps),
        ``diverging``, ``energy``, ``energy_error`` (the selected state's Hamiltonian minus the
        initial one; static HMC: the proposal's), ``max_energy_error`` (the trajectory's largest in
        absolute value, with its sign), ``step_size_bar`` (during warm-up dual averaging's
        averaged step so far, then the adapted step); NUTS adds ``tree_depth`` and
        ``reached_max_treedepth``. RWMH:
        ``lp`` and ``acceptance_rate`` (1.0 where the proposal was accepted, else 0.0).
    """
    part = result.warmup if warmup else result
    out = {"lp": part.log_density}
    if part.sampler == "rwmh":
        out["acceptance_rate"] = part.accepted.astype(np.float64)
        return out
    out["acceptance_rate"] = part.accept_prob
    ss = part.sample_stats or {}
    if "step_size" in ss:
        out["step_size"] = ss["step_size"]
    elif "step_size" in result.settings:
        out["step_size"] = np.full(part.log_density.shape, float(result.settings["step_size"]))
    for name in ("step_size_bar", "energy_error", "max_energy_error"):
        if name in ss:
            out[name] = ss[name]
    if "tree_depth" in ss:
        out["tree_depth"] = ss["tree_depth"]
        max_depth = result.settings.get("max_treedepth")
        if max_depth is not None:
            out["reached_max_treedepth"] = ss["tree_depth"] >= max_depth
    if "n_leapfrog" in ss:
        out["n_steps"] = ss["n_leapfrog"]
    elif "n_leapfrog" in result.settings:
        out["n_steps"] = np.full(part.log_density.shape, int(result.settings["n_leapfrog"]), dtype=np.int64)
    out["diverging"] = part.divergent
    out["energy"] = part.energy
    return out


def _attr(value):
    """A setting as an attribute netCDF can store (numbers, strings, arrays), or None to drop."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (numbers.Number, str)):
        return value
    a = np.asarray(value)
    return a if a.dtype.kind in "biuf" else str(value)


def to_datatree(result, *, save_warmup: bool = True, unconstrained: bool = True):
    """Convert a run to an ArviZ ``xarray.DataTree``.

    Parameters
    ----------
    result : SamplingResult
    save_warmup : bool
        Include ``warmup_posterior`` and ``warmup_sample_stats`` when the run had warm-up.
    unconstrained : bool
        Include ``unconstrained_posterior``: the raw draws, one variable per block of the
        unconstrained vector (``tau_log__``), shapes (chain, draw, *block shape).

    Returns
    -------
    xarray.DataTree
        Groups ``posterior`` (every named quantity in the constrained space, deterministics
        included, dims and coords from the target's layout), ``sample_stats`` (ArviZ's names,
        see :func:`sample_stats`), optionally ``warmup_posterior``, ``warmup_sample_stats``,
        ``unconstrained_posterior``, and for PyMC targets ``observed_data`` and
        ``constant_data``. Attributes: ``inference_library="fastmc"``,
        ``inference_library_version``, ``sampler``, ``backend``, ``seed``, ``sampling_time``
        (seconds in the kernels) and every sampler setting.

    Raises
    ------
    ImportError
        When ``arviz_base`` is not installed (``pip install "fastmc[arviz]"``).
    """
    try:
        from arviz_base import from_dict
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("to_arviz needs arviz-base: pip install 'fastmc[arviz]'") from exc
    from . import __version__
    from .results import constrain

    layout = result._layout()
    data = {"posterior": dict(result.posterior), "sample_stats": sample_stats(result)}
    has_warmup = result.warmup is not None and result.warmup.n_samples > 0
    if save_warmup and has_warmup:
        data["warmup_posterior"] = constrain(layout, result.warmup.draws, result.seed, warmup=True)
        data["warmup_sample_stats"] = sample_stats(result, warmup=True)
    if unconstrained:
        data["unconstrained_posterior"] = layout.split(result.draws)
    observed = getattr(layout, "observed_data", None)
    if observed:
        data["observed_data"] = dict(observed)
    constant = getattr(layout, "constant_data", None)
    if constant:
        data["constant_data"] = dict(constant)
    attrs = {"inference_library": "fastmc", "inference_library_version": __version__,
             "sampler": result.sampler, "backend": result.backend, "seed": str(result.seed),
             "sampling_time": float(result.wall_time)}
    for k, v in (result.settings or {}).items():
        v = _attr(v)
        if v is not None:
            attrs[k] = v
    coords = {k: np.asarray(v) for k, v in layout.coords.items()}
    dims = {k: list(v) for k, v in layout.dims().items()}
    data_dims = getattr(layout, "data_dims", None) or {}
    dims.update({k: list(v) for k, v in data_dims.items()})
    return from_dict(data, coords=coords, dims=dims, save_warmup=save_warmup,
                     attrs={"/": attrs, "posterior": dict(attrs), "sample_stats": dict(attrs)})
