"""Built-in example targets (:mod:`fastmc.targets.models`), kept at ``fastmc.models`` for users."""
from .targets.models import (funnel, funnel_logp, gaussian, gaussian_logp, logistic_regression,
                             logistic_regression_logp, rosenbrock, rosenbrock_logp)

__all__ = ["gaussian", "rosenbrock", "funnel", "logistic_regression"]
