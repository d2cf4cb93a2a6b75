"""RWMH warm-up: proposal scale and covariance adaptation, in both twins."""
import pytest

import fastmc


@pytest.mark.parametrize("kw, match", [(dict(n_warmup=-1), "n_warmup must be >= 0"),
                                       (dict(target_accept=1.0), r"target_accept must be in \(0, 1\)"),
                                       (dict(target_accept=0.0), "target_accept must be finite and > 0")])
def test_bad_warmup_input(kw, match):
    with pytest.raises(ValueError, match=match):
        fastmc.rwmh(fastmc.default_mixture(), [0.0, 0.0], 10, scale=1.0, **kw)
