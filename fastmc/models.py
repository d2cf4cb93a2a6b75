"""Built-in example targets, kept at ``fastmc.models`` for users.

Hand-written (:mod:`fastmc.targets.models`, each a :class:`fastmc.Target`): ``gaussian``,
``rosenbrock``, ``funnel``, ``logistic_regression``, ``eight_schools``,
``eight_schools_noncentered``.

Written in PyMC (:mod:`fastmc.targets.pymc_models`, each a ``pymc.Model`` for
:meth:`fastmc.Target.from_pymc`; the ``pymc`` extra): ``eight_schools_pymc``, ``radon_pymc``,
``logistic_regression_pymc``.
"""
from .targets.models import (eight_schools, eight_schools_logp, eight_schools_noncentered,  # noqa: F401
                             eight_schools_noncentered_logp, funnel, funnel_logp, gaussian, gaussian_logp,  # noqa: F401
                             logistic_regression, logistic_regression_logp, rosenbrock, rosenbrock_logp)
from .targets.pymc_models import (EIGHT_SCHOOLS, eight_schools_pymc, logistic_regression_pymc, radon_pymc,
                                  simulate_logistic, simulate_radon)

__all__ = ["gaussian", "rosenbrock", "funnel", "logistic_regression", "eight_schools", "eight_schools_noncentered",
           "eight_schools_pymc", "radon_pymc", "logistic_regression_pymc", "simulate_radon", "simulate_logistic", "EIGHT_SCHOOLS"]
