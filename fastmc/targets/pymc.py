"""PyMC models as targets: the joint log density in the unconstrained space and its gradient,
compiled by PyTensor's Numba backend and wrapped in fastmc's C ABI, so the C++ chains call it
without the GIL and the Numba kernels inline it.

How (the route nutpie takes, written here for fastmc): the model's value variables are replaced by
slices of one flat float64 input; ``pymc.pytensorf.compile(..., mode="NUMBA")`` compiles
``(logp, grad)`` of it; the Numba dispatcher PyTensor builds (``fn.vm.jit_fn``, internal PyTensor
API: the ``pymc`` extra pins the versions that are tested) is called from a generated ``@njit``
function ``fn(x, grad, data)`` and from a ``@cfunc`` with the C signature. Data a model keeps as
``pm.Data`` (``freeze=False``) travel through the ``data`` pointer: a header of addresses and
shapes, so :meth:`PyMCTarget.with_data` swaps them without recompiling. A second compiled
function, "expand", maps unconstrained draws to every free variable in its constrained space and
every deterministic.

Needs the ``pymc`` extra: ``pip install "fastmc[pymc]"``.
"""
from __future__ import annotations

import copy
import time
import warnings

import numba
import numpy as np
from numba import types

from .._validation import as_int
from ..layout import Layout, Param
from .numba_glue import _KEEP_ALIVE, address_as_void_pointer
from .user import Target

__all__ = ["PyMCTarget", "from_pymc"]

_CSIG = types.intc(types.uintp, types.CPointer(types.float64), types.CPointer(types.float64),
                   types.CPointer(types.float64), types.voidptr)


def _import_pymc():
    try:
        import pymc
        import pytensor
    except ImportError as exc:
        raise ImportError("Target.from_pymc needs PyMC and PyTensor: pip install 'fastmc[pymc]'") from exc
    return pymc, pytensor


# ------------------------------------------------------------------------------ the layout
class PyMCLayout(Layout):
    """A PyMC model's layout: the free variables' value blocks in model order, their constrained
    shapes and transforms, the deterministics, dims and coords, and the model's data.

    :meth:`constrain` runs the compiled expand function of the target, so the posterior holds
    every free variable in its constrained space and every deterministic.

    Attributes
    ----------
    observed_data : dict
        ``{observed variable: values}`` (ArviZ's ``observed_data`` group).
    constant_data : dict
        ``{pm.Data name: values}`` of the data that are not observations.
    data_dims : dict
        Dims of the observed variables and data.
    """

    def __init__(self, params, coords, deterministics, expand, observed_data, constant_data, data_dims):
        super().__init__(params, coords, deterministics)
        self._expand = expand
        self.observed_data = observed_data
        self.constant_data = constant_data
        self.data_dims = data_dims

    @property
    def has_transforms(self) -> bool:
        return any(p.transform is not None for p in self.params)

    def constrain(self, draws) -> dict:
        draws = np.asarray(draws, dtype=np.float64)
        if draws.shape[-1] != self.dim:
            raise ValueError(f"draws must have last axis d = {self.dim}, got shape {draws.shape}")
        lead = draws.shape[:-1]
        flat = np.ascontiguousarray(draws.reshape(-1, self.dim))
        out = self._expand(flat)
        res, k = {}, 0
        for p in (*self.params, *self.deterministics):
            res[p.name] = out[:, k:k + p.size].reshape(lead + p.shape)
            k += p.size
        return res

    def unconstrain(self, values):
        raise NotImplementedError("a PyMC layout maps unconstrained draws forward only; start points come from "
                                  "the model (target.initial_points)")


# -------------------------------------------------------------------------- the target
class PyMCTarget(Target):
    """A PyMC model compiled to fastmc's C ABI (see :func:`from_pymc`).

    Attributes
    ----------
    model : pymc.Model
        The model as given.
    layout : PyMCLayout
        Free variables (value blocks in model order), deterministics, dims, coords and data.
    compile_time : float
        Seconds spent compiling (PyTensor graph rewriting and Numba).
    """

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.layout.params)
        return f"PyMCTarget(dim={self.dim}, params=[{names}], freeze={self._pm['freeze']})"

    # ---------------------------------------------------------------- start points
    def initial_points(self, chains: int, seed: int = 0, *, jitter=None) -> np.ndarray:
        """The model's initial point (transformed), one per chain, shape (chains, d).

        Parameters
        ----------
        chains : int
        seed : int
            Chain c's jitter comes from a generator seeded by (seed, c) only.
        jitter : bool, optional
            Add PyMC's U(-1, 1) jitter to every free variable's unconstrained start value
            (default: the ``jitter`` given to :func:`from_pymc`).
        """
        from pymc.initial_point import make_initial_point_fn

        chains = as_int("chains", chains, minimum=1)
        pm_ = self._pm
        jitter = pm_["jitter"] if jitter is None else bool(jitter)
        model = pm_["model_c"]
        fn = make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs) if jitter else set(),
                                   return_transformed=True)
        out = np.empty((chains, self.dim))
        for c in range(chains):
            point = fn(int(np.random.SeedSequence((int(seed), c)).generate_state(1)[0]))
            out[c] = np.concatenate([np.asarray(point[p.unconstrained_name], dtype=np.float64).ravel()
                                     for p in self.layout.params])
        return out

    # ---------------------------------------------------------------------- data
    def with_data(self, **data) -> "PyMCTarget":
        """The same model with other values for its ``pm.Data`` variables.

        Parameters
        ----------
        **data : array_like
            ``name=values`` for data variables of the model; each keeps the rank (number of
            axes) it was declared with, and its dtype.

        Returns
        -------
        PyMCTarget
            A new target. Built with ``freeze=False``, it shares the compiled code and only its
            data pointers change; built with ``freeze=True`` (data compiled in as constants), the
            model is compiled again with the new values.

        Raises
        ------
        ValueError
            For a name that is not a ``pm.Data`` variable of the model, a change of rank, or
            values the model cannot use (the log density fails at the initial point: e.g. a
            length that does not match the other data), naming the variable.
        """
        pm_ = self._pm
        if not data:
            raise ValueError("with_data needs at least one name=values")
        current = pm_["data_values"]
        new = dict(current)
        for name, value in data.items():
            if name not in current:
                raise ValueError(f"with_data: {name!r} is not a pm.Data variable of the model; it has "
                                 f"{sorted(current)}")
            old = current[name]
            try:
                v = np.array(value, dtype=old.dtype, order="C", copy=True)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"with_data: {name} must be an array of {old.dtype} ({exc})") from None
            if v.ndim != old.ndim:
                raise ValueError(f"with_data: {name} must keep its rank {old.ndim} (shape {old.shape}), got shape "
                                 f"{v.shape}")
            v.flags.writeable = False
            new[name] = v
        if pm_["freeze"]:
            pymc, _ = _import_pymc()
            from pymc.model.fgraph import clone_model

            m2 = clone_model(pm_["model"])
            with m2:
                pymc.set_data({k: new[k] for k in data})
            t = from_pymc(m2, freeze=True, jitter=pm_["jitter"], fastmath=pm_["fastmath"],
                          check_gradient=self.check_gradient)
        else:
            t = copy.copy(self)
            t._recipe = ("with_data", (self, dict(data)), {})  # rebuilt as the same call elsewhere
            t._pm = dict(pm_, data_values=new)
            t._stop = np.zeros(1, dtype=np.int64)
            t._numba = None
            t._data = _header(pm_["shared_names"], new)
            t.layout = _layout(pm_["layout_parts"], t._pm, t._data)
        bad = _check_logp(t, list(data))
        if bad is not None:
            raise ValueError(bad)
        return t


def _header(shared_names, values) -> np.ndarray:
    """The data header: for each shared input, its address and shape, as int64 seen as float64
    (the Target's data buffer type); the arrays stay alive in the target's ``data_values``."""
    h = []
    for name in shared_names:
        a = values[name]
        h.append(a.ctypes.data)
        h.extend(a.shape)
    return np.array(h or [0], dtype=np.int64).view(np.float64)


def _layout(parts, pm_, header) -> PyMCLayout:
    params, coords, dets, observed_src, constant_names, data_dims = parts
    expand = pm_["expand"]
    values = pm_["data_values"]
    observed = {k: (values[src] if src in values else v) for k, (src, v) in observed_src.items()}
    constant = {k: values[k] for k in constant_names}
    return PyMCLayout(params, coords, dets, lambda U: expand(U, header), observed, constant, data_dims)


def _check_logp(target, names):
    """None, or why the log density fails at the model's initial point (after a data change)."""
    x = target.initial_points(1, 0, jitter=False)
    try:
        lp, g = target.logpdf_and_grad(x[0])
    except Exception as exc:  # pragma: no cover - the compiled function returns -inf instead
        return f"with_data: the model fails with {', '.join(names)}: {exc}"
    if not np.isfinite(lp):
        return (f"with_data: the log density is not finite at the initial point with the new "
                f"{', '.join(names)} (a shape that does not match the rest of the model?)")
    return None


# ---------------------------------------------------------------------- from_pymc
def from_pymc(model, *, freeze=True, jitter=True, fastmath=False, check_gradient=False) -> PyMCTarget:
    """A PyMC model as a fastmc target.

    Parameters
    ----------
    model : pymc.Model
        Continuous free variables only (discrete ones cannot be sampled by HMC).
    freeze : bool
        Compile dims and ``pm.Data`` values in as constants (default: fastest code). With
        ``freeze=False`` data stay inputs that :meth:`PyMCTarget.with_data` swaps without
        recompiling.
    jitter : bool
        Start each chain at the model's initial point plus PyMC's U(-1, 1) jitter on every
        unconstrained value, drawn from (seed, chain) (samplers given ``x0=None``).
    fastmath : bool
        Let Numba reorder floating-point operations in the model's code (faster sums, but the two
        backends and other builds may then differ in the last bits); default off, as in every
        fastmc kernel.
    check_gradient : bool
        Compare the gradient with finite differences at the start point (PyTensor's gradients
        are exact, so off by default).

    Returns
    -------
    PyMCTarget
        ``dim`` = number of unconstrained values; ``layout`` names every free variable
        (constrained shapes, dims, transforms) and deterministic; ``compile_time``.

    Raises
    ------
    TypeError
        When ``model`` is not a ``pymc.Model``.
    ValueError
        For a model without free variables, with a discrete free variable, or with a
        ``pm.Potential`` (or other term) that PyTensor cannot compile to Numba, naming it.

    Examples
    --------
    >>> with pm.Model(coords={"school": names}) as m:                 # doctest: +SKIP
    ...     mu = pm.Normal("mu", 0, 5); tau = pm.HalfCauchy("tau", 5)
    ...     z = pm.Normal("z", 0, 1, dims="school")
    ...     theta = pm.Deterministic("theta", mu + tau * z, dims="school")
    ...     pm.Normal("y", theta, sigma, observed=y, dims="school")
    >>> t = fastmc.Target.from_pymc(m)                                # doctest: +SKIP
    >>> r = fastmc.nuts(t, None, 1000, seed=1)                        # doctest: +SKIP
    >>> r.posterior["theta"].shape, r.to_arviz()                     # doctest: +SKIP
    """
    pymc, pytensor = _import_pymc()
    import pytensor.tensor as pt
    from pymc.model.transform.optimization import freeze_dims_and_data
    from pytensor.graph.replace import clone_replace

    if not isinstance(model, pymc.Model):
        raise TypeError(f"model must be a pymc.Model, got {type(model).__name__}")
    for name, flag in (("freeze", freeze), ("jitter", jitter), ("fastmath", fastmath)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    if not model.free_RVs:
        raise ValueError("model has no free variables: there is nothing to sample")
    for rv in model.free_RVs:
        if rv.dtype.startswith(("int", "uint", "bool")):
            raise ValueError(f"model has a discrete free variable {rv.name!r} ({rv.owner.op}, dtype {rv.dtype}): "
                             "HMC and NUTS sample continuous variables only (marginalise it out, e.g. with "
                             "pymc_extras' MarginalModel, or make it observed)")
    t0 = time.perf_counter()
    model_c = freeze_dims_and_data(model) if freeze else model
    names = [rv.name for rv in model.free_RVs]
    rvs_c = [model_c[n] for n in names]
    values_c = [model_c.rvs_to_values[rv] for rv in rvs_c]
    point = model_c.initial_point()
    value_shapes = [tuple(np.shape(point[v.name])) for v in values_c]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in value_shapes]
    d = sum(sizes)
    if d == 0:
        raise ValueError("model's free variables have no elements (every shape has size 0)")

    x = pt.TensorType("float64", shape=(d,))("fastmc_x")
    repl, k = {}, 0
    for v, shape, n in zip(values_c, value_shapes, sizes):
        repl[v] = x[k:k + n].reshape(shape).astype(v.dtype)
        k += n
    logp = model_c.logp()
    try:
        grads = pytensor.gradient.grad(logp, values_c)
    except NotImplementedError as exc:  # an Op without a gradient
        op = str(exc).split("for Op ")[-1]
        raise ValueError(_unsupported(model, op, "has no gradient in PyTensor (HMC needs one)")) from None
    grad = pt.concatenate([g.ravel() for g in grads])
    logp, grad = clone_replace([logp, grad], repl)

    # every constrained free variable and every deterministic, as functions of the value vars
    wanted = set(names) | {det.name for det in model_c.deterministics}
    outs = [v for v in model_c.unobserved_value_vars if v.name in wanted]
    order = names + [det.name for det in model_c.deterministics]
    outs = sorted(outs, key=lambda v: order.index(v.name))
    expanded = pt.concatenate([pt.as_tensor(o).ravel().astype("float64") for o in outs])
    expanded = clone_replace(expanded, repl)

    with pytensor.config.change_flags(numba__fastmath=fastmath), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn_logp = pymc.pytensorf.compile([x], [logp, grad], mode="NUMBA")
        fn_expand = pymc.pytensorf.compile([x], [expanded], mode="NUMBA")
    objmode = [str(w.message) for w in caught if "object mode" in str(w.message)]
    if objmode:
        op = objmode[0].split("Numba will use object mode to run ")[-1].split("'s perform method")[0]
        raise ValueError(_unsupported(model, op, _NO_NUMBA))
    for w in caught:  # anything else (deprecations, ...) is the user's to see
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    shared_logp = list(fn_logp.get_shared())
    shared_expand = list(fn_expand.get_shared())
    data_values = {}
    for var in shared_logp + shared_expand:
        if var.name in data_values:
            continue
        if var.name is None:
            raise ValueError("model has an unnamed shared variable; give every pm.Data a name")
        val = np.array(var.get_value(), order="C", copy=True)
        val.flags.writeable = False
        data_values[var.name] = val
    for var in model.data_vars:  # constant data too (for ArviZ), even when frozen away
        if var.name not in data_values:
            val = np.array(var.get_value(), order="C", copy=True)
            val.flags.writeable = False
            data_values[var.name] = val
    shared_names_l = [v.name for v in shared_logp]
    shared_names_e = [v.name for v in shared_expand]

    # constrained shapes: evaluate the expand function once
    jit_logp, jit_expand = fn_logp.vm.jit_fn, fn_expand.vm.jit_fn
    shapes = {}
    sample = fn_expand(np.zeros(d))[0]
    shape_fn = pytensor.function([x], [pt.as_tensor(o).shape for o in clone_replace(outs, repl)],
                                 on_unused_input="ignore", mode="FAST_COMPILE")
    for o, s in zip(outs, shape_fn(np.zeros(d))):
        shapes[o.name] = tuple(int(i) for i in s)
    n_expanded = int(sample.size)

    # one header for both functions: logp's inputs first, then expand's own
    shared_names = shared_names_l + [n for n in shared_names_e if n not in shared_names_l]
    offsets, k = {}, 0
    for n in shared_names:
        offsets[n] = k
        k += 1 + data_values[n].ndim
    logp_nb, c_logp, expand_nb = _make_glue(
        jit_logp, jit_expand, [(data_values[n], offsets[n]) for n in shared_names_l],
        [(data_values[n], offsets[n]) for n in shared_names_e], d, n_expanded, max(k, 1))
    header = _header(shared_names, data_values)

    dims = model.named_vars_to_dims
    params = []
    for rv, vname, vshape in zip(model.free_RVs, [v.name for v in values_c], value_shapes):
        tr = model.rvs_to_transforms.get(rv)
        tname = None if tr is None else getattr(tr, "name", type(tr).__name__)
        params.append(Param(shapes[rv.name], tname, None, None, dims.get(rv.name), rv.name, vname, vshape))
    dets = [Param(shapes[det.name], None, None, None, dims.get(det.name), det.name) for det in model.deterministics]
    coords = {}
    for name, vals in model.coords.items():
        coords[name] = (np.asarray(vals) if vals is not None
                        else np.arange(int(model.dim_lengths[name].eval())))
    observed_src, data_dims = {}, {}
    observed_names = set()
    for obs in model.observed_RVs:
        val = model.rvs_to_values[obs]
        src = val.name if val.name in data_values else None
        if src is not None:
            observed_names.add(src)
        observed_src[obs.name] = (src, None if src is not None else np.asarray(val.data if hasattr(val, "data")
                                                                                 else val.eval()))
        if obs.name in dims:
            data_dims[obs.name] = dims[obs.name]
    constant_names = [v.name for v in model.data_vars if v.name not in observed_names]
    for n in constant_names:
        if n in dims:
            data_dims[n] = dims[n]

    t = PyMCTarget("numba", d, fn=logp_nb, data=header, check_gradient=check_gradient)
    t._address = c_logp.address
    # the model travels (PyMC models pickle); a worker compiles it again, once per process
    t._recipe = ("pymc", (model,), dict(freeze=freeze, jitter=jitter, fastmath=fastmath, check_gradient=check_gradient))
    t._keepalive = (c_logp, fn_logp, fn_expand)
    _KEEP_ALIVE.extend([logp_nb, expand_nb])
    t._pm = dict(model=model, model_c=model_c, freeze=freeze, jitter=jitter, fastmath=fastmath,
                 data_values=data_values, shared_names=shared_names, expand=expand_nb,
                 layout_parts=(params, coords, dets, observed_src, constant_names, data_dims))
    t.layout = _layout(t._pm["layout_parts"], t._pm, header)
    # compile both entry points now, so that compile_time covers them and sampling does not
    g = np.empty(d)
    logp_nb(np.zeros(d), g, header)
    expand_nb(np.zeros((1, d)), header)
    t.compile_time = time.perf_counter() - t0
    return t


def _make_glue(jit_logp, jit_expand, shared_logp, shared_expand, d, n_expanded, n_hdr):
    """Generate ``logp(x, grad, data)`` (njit), its C entry point and ``expand(U, data)`` around
    PyTensor's jitted functions. ``shared_*`` are (array, offset) of each shared input, in the
    order the jitted function takes them; the header (``data`` as int64) holds at ``offset`` the
    input's address, then one length per axis."""
    ns = {"numba": numba, "np": np, "address_as_void_pointer": address_as_void_pointer,
          "jit_logp": jit_logp, "jit_expand": jit_expand}

    def readers(shared, tag):
        lines, names = [], []
        for i, (arr, off) in enumerate(shared):
            ns[f"dt_{tag}{i}"] = arr.dtype
            shape = "(" + "".join(f"h[{off + 1 + a}], " for a in range(arr.ndim)) + ")"
            lines.append(f"    {tag}{i} = numba.carray(address_as_void_pointer(h[{off}]), {shape}, dt_{tag}{i})")
            names.append(f"{tag}{i}")
        return lines, names

    read_l, names_l = readers(shared_logp, "l")
    read_e, names_e = readers(shared_expand, "e")
    src = "\n".join([
        "def logp(x, grad, data):",
        "    h = data.view(np.int64)",
        *read_l,
        # a PyTensor check that raises (an invalid parameter) is outside the support
        "    try:",
        f"        lp, g = jit_logp({', '.join(['x'] + names_l)})",
        "    except Exception:",
        "        return -np.inf",
        f"    for i in range({d}):",
        "        grad[i] = g[i]",
        "    return lp.item()",
        "",
        "def expand(U, data):",
        "    h = data.view(np.int64)",
        *read_e,
        f"    out = np.empty((U.shape[0], {n_expanded}))",
        "    for r in range(U.shape[0]):",
        f"        out[r, :] = jit_expand({', '.join(['U[r]'] + names_e)})[0]",
        "    return out",
    ])
    exec(compile(src, "<fastmc.targets.pymc generated>", "exec"), ns)  # noqa: S102 - our own source
    logp = numba.njit(nogil=True)(ns["logp"])
    expand = numba.njit(nogil=True)(ns["expand"])

    # the C entry point returns 0, or a positive code for a non-finite log density (1) or gradient
    # (2): a counted rejection or divergence in the kernels
    @numba.cfunc(_CSIG, nopython=True, nogil=True)
    def c_logp(dim, x_ptr, grad_ptr, lp_ptr, data_ptr):
        x = numba.carray(x_ptr, (d,))
        g = numba.carray(grad_ptr, (d,))
        hdr = numba.carray(data_ptr, (n_hdr,), np.float64)
        lp = logp(x, g, hdr)
        lp_ptr[0] = lp
        if not np.isfinite(lp):
            return 1
        for i in range(d):
            if not np.isfinite(g[i]):
                return 2
        return 0

    return logp, c_logp, expand


_NO_NUMBA = ("cannot be compiled by PyTensor's Numba backend (it would run in Python, holding the GIL): "
             "write it with PyTensor operations")


def _unsupported(model, op: str, why: str) -> str:
    """Name the model term (Potential, variable, deterministic) whose graph holds ``op``."""
    try:
        from pytensor.graph.traversal import ancestors
    except ImportError:  # PyTensor < 2.32
        from pytensor.graph.basic import ancestors

    terms = [("pm.Potential", p) for p in model.potentials] + [("variable", v) for v in model.basic_RVs] + \
            [("pm.Deterministic", v) for v in model.deterministics]
    for kind, var in terms:
        for node_var in ancestors([var]):
            if node_var.owner is not None and str(node_var.owner.op) == op:
                return f"model's {kind} {var.name!r} uses {op}, which {why}"
    return f"the model uses {op}, which {why}"
