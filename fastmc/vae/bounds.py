"""Log-likelihood terms and variational bounds for :class:`fastmc.vae.VAE`.

The functions here are the numerically careful pieces (log-sum-exp, Bernoulli
log-probabilities from logits, the Gaussian KL) and the public bounds
``elbo``, ``iwae_bound`` and ``log_likelihood``. All bounds return one value per
image so that callers can form means and *paired* standard errors.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "log_mean_exp",
    "normalized_weights",
    "bernoulli_log_prob",
    "bernoulli_grad",
    "kl_standard_normal",
    "elbo",
    "iwae_bound",
    "log_likelihood",
    "paired_se",
]

LOG_2PI = float(np.log(2.0 * np.pi))

_PROD_BLOCK = 1000  # factors in [1, 2]: a product of 1000 stays below 2**1000, inside float64 range

try:  # fused passes over the (k * n, D) logits; NumPy fallbacks in the callers
    import numba

    _njit = numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")

    @_njit
    def _relusum_negabs(src, bias, dst, relu_sum):  # pragma: no cover - compiled
        # dst = -|src + bias|, relu_sum = row sums of max(src + bias, 0) (float64); dst may be src
        rows, cols = src.shape
        zero = src.dtype.type(0)
        two = src.dtype.type(2)  # typed constants: an int literal would promote float32 to float64
        for r in range(rows):
            s = 0.0
            for j in range(cols):
                v = src[r, j] + bias[j]
                m = max(v, zero)
                s += m
                dst[r, j] = v - two * m
            relu_sum[r] = s

    @_njit
    def _prod_1p(a):  # pragma: no cover - compiled
        # prod(1 + a_j) in float64; with a_j in [0, 1] and a.size <= _PROD_BLOCK it cannot overflow
        p = 1.0
        for j in range(a.size):
            p *= 1.0 + a[j]
        return p

    @_njit
    def _sum_log1p_rows(e, res):  # pragma: no cover - compiled
        # res[r] = sum_j log(1 + e[r, j]) for e in [0, 1], as the log of a float64 product: one log per
        # _PROD_BLOCK elements instead of a log pass and a sum pass over the float32 array
        rows, cols = e.shape
        for r in range(rows):
            erow = e[r]
            acc = 0.0
            for j0 in range(0, cols, _PROD_BLOCK):
                acc += np.log(_prod_1p(erow[j0 : j0 + _PROD_BLOCK]))
            res[r] = acc

    @_njit
    def _bernoulli_terms(out, bias, x, negabs, res):  # pragma: no cover - compiled
        # out += bias; negabs = -|out|; res[r] = sum_j x_j out_j - max(out_j, 0) in float64.
        # Row r of out belongs to image r % n (the k samples of an image share x).
        rows, cols = out.shape
        n = x.shape[0]
        zero = out.dtype.type(0)
        two = out.dtype.type(2)
        for r in range(rows):
            xr = x[r % n]
            orow = out[r]
            nrow = negabs[r]
            acc = 0.0
            for j in range(cols):
                v = orow[j] + bias[j]
                m = max(v, zero)
                orow[j] = v
                acc += xr[j] * v - m
                nrow[j] = v - two * m
            res[r] = acc

    @_njit
    def _bernoulli_grad_rows(out, e, x, scale, colsum):  # pragma: no cover - compiled
        # out = scale[r] * (x - sigmoid(out)) with sigmoid from e = exp(-|out|) (no tanh pass);
        # colsum = column sums of the result (the output-bias gradient), accumulated row by row
        rows, cols = out.shape
        n = x.shape[0]
        one = out.dtype.type(1)
        for j in range(cols):
            colsum[j] = 0
        for r in range(rows):
            xr = x[r % n]
            orow = out[r]
            erow = e[r]
            s = scale[r]
            for j in range(cols):
                q = one / (one + erow[j])  # sigmoid(|l|)
                sig = q if orow[j] >= 0 else one - q
                g = s * (xr[j] - sig)
                orow[j] = g
                colsum[j] += g

except ImportError:  # pragma: no cover - numba is a declared dependency
    _relusum_negabs = None

HAVE_FUSED = _relusum_negabs is not None


def bernoulli_log_prob_fused(logits, bias, xl):
    """Per-row Bernoulli log-likelihood in three in-place passes (evaluation fast path).

    With ``l = logits + bias``, ``sum_j x_j l_j - softplus(l_j) = xl - sum_j max(l_j, 0)
    - sum_j log(1 + exp(-|l_j|))``, where ``xl = sum_j x_j l_j`` is supplied by the
    caller (formed cheaply in the last hidden layer). Requires Numba. Works in
    place: fresh multi-megabyte temporaries cost page faults comparable to the
    arithmetic.

    Parameters
    ----------
    logits : ndarray, shape (R, D), C-contiguous
        Logits without the output bias; overwritten.
    bias : ndarray, shape (D,)
    xl : ndarray, shape (R,)

    Returns
    -------
    ndarray, float64, shape (R,)
    """
    relu_sum = np.empty(logits.shape[0])
    _relusum_negabs(logits, bias, logits, relu_sum)
    np.exp(logits, out=logits)
    soft = np.empty(logits.shape[0])
    _sum_log1p_rows(logits, soft)
    return xl - relu_sum - soft


def bernoulli_log_prob_rows(x, out, bias, e):
    """Bernoulli log-likelihood of sample rows in three passes, keeping what the gradient needs.

    Row ``r`` of ``out`` is a sample for image ``r % n`` (the sample-major
    ``(k * n, D)`` layout). With ``l = out + bias``, the result is
    ``sum_j x_j l_j - max(l_j, 0) - log(1 + exp(-|l_j|))``: one fused pass for
    the bias, the linear terms and ``-|l|``, NumPy's vectorised ``exp``, and a
    float64 product per row for the ``log(1 + .)`` sum (one ``log`` per row, and
    more accurate than a float32 sum of logs). Requires Numba.

    Parameters
    ----------
    x : ndarray, shape (n, D), C-contiguous
        Targets in [0, 1].
    out : ndarray, shape (R, D), C-contiguous, R a multiple of n
        Output-layer pre-activations without the bias; overwritten with the logits ``l``.
    bias : ndarray, shape (D,)
        Output bias.
    e : ndarray, shape (R, D), C-contiguous
        Receives ``exp(-|l|)``, which :func:`bernoulli_grad_rows` uses for the sigmoid.

    Returns
    -------
    ndarray, float64, shape (R,)
    """
    res = np.empty(out.shape[0])
    _bernoulli_terms(out, bias, x, e, res)
    np.exp(e, out=e)
    soft = np.empty(out.shape[0])
    _sum_log1p_rows(e, soft)
    res -= soft
    return res


def bernoulli_grad_rows(x, logits, e, scale):
    """``scale[r] * (x - sigmoid(l))`` in one pass, with the column sums; logits overwritten.

    The derivative of :func:`bernoulli_log_prob_rows` (whose ``logits`` and ``e`` it takes):
    ``sigmoid(l) = 1 / (1 + e)`` for ``l >= 0`` and ``1 - 1 / (1 + e)`` otherwise, with
    ``e = exp(-|l|)`` already computed, so no ``tanh`` pass is needed. Requires Numba.

    Parameters
    ----------
    x : ndarray, shape (n, D), C-contiguous
        Targets; row ``r`` of ``logits`` belongs to image ``r % n``.
    logits : ndarray, shape (R, D), C-contiguous
        Logits; overwritten with the gradient.
    e : ndarray, shape (R, D)
        ``exp(-|logits|)``.
    scale : ndarray, shape (R,)
        Per-row weights, in the dtype of ``logits``.

    Returns
    -------
    g : ndarray, shape (R, D)
        ``logits``, now holding the gradient with respect to the logits.
    colsum : ndarray, shape (D,)
        ``g.sum(axis=0)``: the gradient with respect to the output bias.
    """
    colsum = np.empty(logits.shape[1], dtype=logits.dtype)
    _bernoulli_grad_rows(logits, e, x, scale, colsum)
    return logits, colsum


def log_mean_exp(a, axis=0):
    """Stable ``log(mean(exp(a), axis))``, accumulated in float64.

    Parameters
    ----------
    a : array_like, shape (k, ...)
        Log-values, e.g. log importance weights with samples along ``axis``.
    axis : int, optional
        Axis to average over.

    Returns
    -------
    ndarray, float64
        ``a`` with ``axis`` removed.
    """
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    # an all -inf slice would give nan from (-inf) - (-inf); shift by 0 instead
    m = np.where(np.isfinite(m), m, 0.0)
    s = np.mean(np.exp(a - m), axis=axis)
    with np.errstate(divide="ignore"):  # all weights zero: log 0 = -inf is the right answer
        return np.log(s) + np.squeeze(m, axis=axis)


def normalized_weights(a, axis=0):
    """Self-normalised importance weights ``softmax(a, axis)`` in float64.

    Parameters
    ----------
    a : array_like, shape (k, ...)
        Log importance weights.
    axis : int, optional
        Sample axis.

    Returns
    -------
    ndarray, float64, same shape as ``a``
        Non-negative weights summing to one along ``axis``.
    """
    a = np.asarray(a, dtype=np.float64)
    w = np.exp(a - np.max(a, axis=axis, keepdims=True))
    w /= w.sum(axis=axis, keepdims=True)
    return w


def log_mean_exp_and_weights(a):
    """:func:`log_mean_exp` and :func:`normalized_weights` along axis 0, sharing one ``exp`` pass.

    Parameters
    ----------
    a : array_like, shape (k, ...)
        Log importance weights.

    Returns
    -------
    lme : ndarray, float64, shape ``a.shape[1:]``
        ``log_mean_exp(a, axis=0)``.
    w : ndarray, float64, same shape as ``a``
        ``normalized_weights(a, axis=0)``.
    """
    a = np.asarray(a, dtype=np.float64)
    m = a.max(axis=0)
    if not np.isfinite(m).all():  # an all -inf (or inf/nan) column: the careful general versions
        return log_mean_exp(a, axis=0), normalized_weights(a, axis=0)
    w = np.subtract(a, m)
    np.exp(w, out=w)
    s = w.sum(axis=0)
    w /= s
    s /= a.shape[0]
    return np.log(s) + m, w


def bernoulli_log_prob(x, logits, work=None, work2=None):
    """``sum_j x_j l_j - softplus(l_j)``: the Bernoulli log-likelihood from logits.

    ``softplus(l) = max(l, 0) + log(1 + exp(-|l|))`` never overflows, and the
    passes below use NumPy's vectorised ``exp``/``log`` (``logaddexp`` is ~30x
    slower).

    Parameters
    ----------
    x : ndarray, shape (..., D)
        Targets in [0, 1] (binary for a proper likelihood); broadcast against
        ``logits``.
    logits : ndarray, shape (..., D)
        Logits of the pixel probabilities.
    work, work2 : ndarray, shape like ``logits``, optional
        Scratch buffers (avoid allocating two temporaries).

    Returns
    -------
    ndarray, shape (...)
        Log-likelihood summed over the last axis, in the dtype of ``logits``.
    """
    t = np.abs(logits, out=work)
    np.negative(t, out=t)
    np.exp(t, out=t)
    # t = softplus(l) - max(l, 0) = log(1 + t). Not log1p: NumPy's float32 log1p takes a slow path
    # for tiny (e.g. subnormal) arguments, 2-10x slower on trained models; log(1 + t) errs by at
    # most t < machine epsilon when 1 + t rounds to 1, i.e. < 1e-4 nats over 784 float32 pixels.
    t += 1
    np.log(t, out=t)
    u = np.maximum(logits, 0, out=work2)
    u += t
    np.multiply(logits, x, out=t)
    t -= u
    return t.sum(axis=-1)


def bernoulli_grad(x, logits, scale=None, out=None):
    """``scale * (x - sigmoid(l))``: derivative of :func:`bernoulli_log_prob`.

    Uses ``sigmoid(l) = (1 + tanh(l / 2)) / 2``, which cannot overflow.

    Parameters
    ----------
    x : ndarray, shape (..., D)
        Targets, broadcast against ``logits``.
    logits : ndarray, shape (..., D)
        Logits. May be the same array as ``out`` (overwritten in place).
    scale : float or ndarray broadcastable to ``logits``, optional
        Per-row weights (e.g. normalised importance weights / batch size).
    out : ndarray, optional
        Output buffer.

    Returns
    -------
    ndarray, shape like ``logits``
    """
    g = np.multiply(logits, 0.5, out=out)
    np.tanh(g, out=g)
    g *= -0.5
    g += x
    g -= 0.5
    if scale is not None:
        g *= scale
    return g


def kl_standard_normal(mu, logvar):
    """Analytic ``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per row.

    Parameters
    ----------
    mu, logvar : ndarray, shape (n, d_z)

    Returns
    -------
    ndarray, shape (n,)
    """
    return 0.5 * np.sum(mu * mu + np.exp(logvar) - 1.0 - logvar, axis=-1)


def paired_se(a, b=None):
    """Mean and standard error of ``a - b`` over images (paired comparison).

    Parameters
    ----------
    a : array_like, shape (n,)
    b : array_like, shape (n,), optional
        If omitted, the mean and standard error of ``a`` itself.

    Returns
    -------
    mean, se : float
    """
    d = np.asarray(a, dtype=np.float64)
    if b is not None:
        d = d - np.asarray(b, dtype=np.float64)
    n = d.size
    se = float(np.std(d, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return float(np.mean(d)), se


# ---------------------------------------------------------------------------
# bounds on a model


def _check_k(k, name="k"):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1, got {k!r} of type {type(k).__name__}")
    if k < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {k}")
    return int(k)


def _get_eps(model, rng, eps, k, n):
    if eps is not None:
        eps = np.asarray(eps, dtype=model.dtype)
        if eps.shape != (k, n, model.n_latent):
            raise ValueError(f"eps must have shape (k, n, n_latent) = {(k, n, model.n_latent)}, got {eps.shape}")
        return eps
    rng = np.random.default_rng(rng)
    return rng.standard_normal((k, n, model.n_latent), dtype=model.dtype)


def elbo(model, x, k=1, kl="analytic", rng=None, eps=None):
    """Evidence lower bound per image.

    ``ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z))``, with the reconstruction
    term estimated by ``k`` reparameterised samples ``z = mu + sigma * eps``.

    Parameters
    ----------
    model : VAE
    x : array_like, shape (n, n_visible)
        Images (values in [0, 1] for the Bernoulli likelihood).
    k : int, optional
        Number of Monte Carlo samples for the reconstruction term.
    kl : {"analytic", "mc"}
        ``"analytic"``: closed-form Gaussian KL (lower variance, used in
        training). ``"mc"``: the single-sample estimate
        ``mean_s [log p(x, z_s) - log q(z_s|x)]``, identical to
        ``iwae_bound(x, 1)`` for the same noise.
    rng : numpy.random.Generator or int or None
        Source of the noise when ``eps`` is not given.
    eps : array_like, shape (k, n, n_latent), optional
        Standard normal noise, fixing the estimate (for tests).

    Returns
    -------
    ndarray, float64, shape (n,)
    """
    x = model._check_x(x)
    k = _check_k(k)
    if kl not in ("analytic", "mc"):
        raise ValueError(f"kl must be 'analytic' or 'mc', got {kl!r}")
    eps = _get_eps(model, rng, eps, k, x.shape[0])
    logpx, logw, mu, logvar = model._log_weights(x, eps)
    if kl == "mc":
        return np.mean(logw.astype(np.float64), axis=0)
    return np.mean(logpx.astype(np.float64), axis=0) - kl_standard_normal(
        mu.astype(np.float64), logvar.astype(np.float64)
    )


def iwae_bound(model, x, k, rng=None, eps=None):
    """Importance-weighted bound ``L_k`` per image (Burda et al., 2016).

    ``L_k(x) = log (1/k) sum_s p(x, z_s) / q(z_s|x)`` with ``z_s ~ q(z|x)``,
    evaluated with a stable log-sum-exp. For ``k = 1`` this *is* the ELBO with
    a Monte Carlo KL term (``elbo(x, kl="mc")`` with the same noise, equal up to
    rounding); its expectation equals the analytic-KL ELBO. ``E[L_k]`` is
    non-decreasing in ``k`` and tends to ``log p(x)``.

    Parameters
    ----------
    model : VAE
    x : array_like, shape (n, n_visible)
    k : int
        Number of importance samples, >= 1. Memory is ``k * n`` decoder rows;
        use :func:`log_likelihood` for large ``k``.
    rng : numpy.random.Generator or int or None
    eps : array_like, shape (k, n, n_latent), optional
        Fixed standard normal noise.

    Returns
    -------
    ndarray, float64, shape (n,)
    """
    x = model._check_x(x)
    k = _check_k(k)
    eps = _get_eps(model, rng, eps, k, x.shape[0])
    _, logw, _, _ = model._log_weights(x, eps)
    return log_mean_exp(logw, axis=0)


def log_likelihood(model, x, k=5000, rng=None, max_rows=1000, batch_size=None):
    """Estimate ``log p(x)`` by ``L_k`` with large ``k`` in bounded memory.

    Images are processed in blocks and the ``k`` samples in chunks, combining
    chunks with a running (streaming) log-sum-exp in float64, so memory is
    about ``max_rows * n_visible`` floats whatever ``k`` is. Within one block
    the noise is drawn chunk by chunk from ``rng`` in the same order as a
    single ``(k, n, n_latent)`` draw, so for ``n <= batch_size`` the result
    equals ``iwae_bound(x, k, rng)`` up to rounding.

    Parameters
    ----------
    model : VAE
    x : array_like, shape (n, n_visible)
    k : int, optional
        Number of importance samples (5000 as in Burda et al.).
    rng : numpy.random.Generator or int or None
    max_rows : int, optional
        Decoder rows (samples x images) evaluated at once.
    batch_size : int, optional
        Images per block; default ``max(1, min(n, 100))``.

    Returns
    -------
    ndarray, float64, shape (n,)
        ``L_k`` per image (a stochastic lower bound on ``log p(x)`` in
        expectation).
    """
    x = model._check_x(x)
    k = _check_k(k)
    max_rows = _check_k(max_rows, "max_rows")
    n = x.shape[0]
    if batch_size is None:
        batch_size = max(1, min(n, 100))
    batch_size = _check_k(batch_size, "batch_size")
    rng = np.random.default_rng(rng)
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, batch_size):
        xb = x[start : start + batch_size]
        nb = xb.shape[0]
        chunk = max(1, min(k, max_rows // nb))
        run_max = np.full(nb, -np.inf)
        run_sum = np.zeros(nb)
        mu, logvar = model.encode(xb)
        std = np.exp(0.5 * logvar)
        done = 0
        while done < k:
            c = min(chunk, k - done)
            eps = rng.standard_normal((c, nb, model.n_latent), dtype=model.dtype)
            logw = model._log_weights_given_q(xb, eps, mu, logvar, std).astype(np.float64)
            cmax = logw.max(axis=0)
            new_max = np.maximum(run_max, cmax)
            new_max = np.where(np.isfinite(new_max), new_max, 0.0)
            run_sum = run_sum * np.exp(run_max - new_max) + np.exp(logw - new_max).sum(axis=0)
            run_max = new_max
            done += c
        out[start : start + nb] = np.log(run_sum / k) + run_max
    return out
