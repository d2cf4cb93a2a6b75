#include <cstdint>
#include <vector>

#include "bind_common.hpp"
#include "fastmc/chains.hpp"
#include "fastmc/hmc.hpp"
#include "fastmc/rng.hpp"
#include "fastmc/rwmh.hpp"

using U8Array = py::array_t<uint8_t>;
using I64Array = py::array_t<int64_t>;

static void check_x0(const CArray& x0, int64_t d) {
    require_ndim(x0, 2, "x0");
    if (x0.shape(1) != d) throw std::invalid_argument("x0 must have shape (chains, d)");
}

// Chain c of the call is chain first_chain + c of the run: its generator is seeded from
// (seed, first_chain + c), so a run split into calls draws exactly what one call would.
static py::dict rwmh(const py::tuple& target, const CArray& x0, int64_t n_warmup, int64_t n, const CArray& prop,
                     int prop_kind, bool adapt_scale, bool adapt_cov, double target_accept, double inv_temp,
                     uint64_t seed, int64_t first_chain, int64_t n_threads) {
    const int64_t d = target_dim(target);
    check_x0(x0, d);
    const int64_t chains = x0.shape(0), total = n_warmup + n;
    if (prop.size() != (prop_kind == 0 ? d : d * d)) throw std::invalid_argument("prop has the wrong size");
    py::array_t<double> draws({chains, total, d}), lp({chains, total}), adapted({chains, d * d});
    U8Array acc({chains, total});
    I64Array nonfinite(chains), done(chains), akind(chains);
    double *pd = draws.mutable_data(), *plp = lp.mutable_data(), *pad = adapted.mutable_data();
    uint8_t* pa = acc.mutable_data();
    int64_t *pnf = nonfinite.mutable_data(), *pdone = done.mutable_data(), *pak = akind.mutable_data();
    const double *px0 = x0.data(), *pprop = prop.data();
    const fastmc::RwmhAdapt cfg{adapt_scale, adapt_cov, target_accept};
    py::object error = py::none();
    with_target(target, &error, [&](const auto& tgt) {
        py::gil_scoped_release release;
        fastmc::parallel_chains(chains, n_threads, [&](int64_t c) {
            fastmc::Scratch work(fastmc::rwmh_work_size(d) + tgt.work_size());
            fastmc::RwmhOut out{pd + c * total * d, plp + c * total, pa + c * total, pnf + c, pdone + c,
                                pad + c * d * d, pak + c};
            fastmc::rwmh_chain(tgt, px0 + c * d, n_warmup, n, d, pprop, prop_kind, cfg, inv_temp, seed,
                               static_cast<uint64_t>(first_chain + c), out, work.data());
        });
    });
    py::dict r;
    r["draws"] = draws, r["log_density"] = lp, r["accepted"] = acc, r["n_nonfinite"] = nonfinite;
    r["n_done"] = done, r["error"] = error, r["adapted"] = adapted, r["adapted_kind"] = akind;
    return r;
}

static py::dict hmc(const py::tuple& target, const CArray& x0, int64_t n, double step, int64_t n_leapfrog,
                    const CArray& inv_mass, double inv_temp, uint64_t seed, int64_t first_chain, int64_t n_threads) {
    const int64_t d = target_dim(target);
    check_x0(x0, d);
    const int64_t chains = x0.shape(0);
    if (inv_mass.size() != d) throw std::invalid_argument("inv_mass must have shape (d,)");
    py::array_t<double> draws({chains, n, d}), lp({chains, n}), ap({chains, n}), en({chains, n});
    U8Array acc({chains, n}), div({chains, n});
    I64Array ngrad(chains), nonfinite(chains), done(chains);
    double *pd = draws.mutable_data(), *plp = lp.mutable_data(), *pap = ap.mutable_data(), *pen = en.mutable_data();
    uint8_t *pa = acc.mutable_data(), *pdv = div.mutable_data();
    int64_t *png = ngrad.mutable_data(), *pnf = nonfinite.mutable_data(), *pdone = done.mutable_data();
    const double *px0 = x0.data(), *pim = inv_mass.data();
    py::object error = py::none();
    with_target(target, &error, [&](const auto& tgt) {
        py::gil_scoped_release release;
        fastmc::parallel_chains(chains, n_threads, [&](int64_t c) {
            fastmc::Scratch work(fastmc::hmc_work_size(d) + tgt.work_size());
            fastmc::HmcOut out{pd + c * n * d, plp + c * n, pa + c * n, pap + c * n,
                               pen + c * n, pdv + c * n, png + c, pnf + c, pdone + c};
            fastmc::hmc_chain(tgt, px0 + c * d, n, d, step, n_leapfrog, pim, inv_temp, seed,
                              static_cast<uint64_t>(first_chain + c), out, work.data());
        });
    });
    py::dict r;
    r["draws"] = draws, r["log_density"] = lp, r["accepted"] = acc, r["accept_prob"] = ap;
    r["energy"] = en, r["divergent"] = div, r["n_grad"] = ngrad, r["n_nonfinite"] = nonfinite;
    r["n_done"] = done, r["error"] = error;
    return r;
}

// Batched log density and gradient of any target: X (n, d) -> (logp (n,), grad (n, d)).
static py::tuple target_logp_grad(const py::tuple& target, const CArray& X) {
    const int64_t d = target_dim(target);
    require_ndim(X, 2, "x");
    if (X.shape(1) != d) throw std::invalid_argument("x must have shape (n, d)");
    const auto n = X.shape(0);
    py::array_t<double> lp(n), grad({n, d});
    double *plp = lp.mutable_data(), *pg = grad.mutable_data();
    const double* px = X.data();
    py::object error = py::none();
    with_target(target, &error, [&](const auto& tgt) {
        py::gil_scoped_release release;
        fastmc::Scratch work(tgt.work_size());
        for (py::ssize_t i = 0; i < n; ++i) plp[i] = tgt.logp_grad(px + i * d, pg + i * d, work.data());
    });
    if (!error.is_none()) {
        PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
        throw py::error_already_set();
    }
    return py::make_tuple(lp, grad);
}

// Test hooks for the generator: raw words and normals of chain `chain`.
static py::tuple rng_stream(uint64_t seed, uint64_t chain, int64_t n) {
    py::array_t<uint64_t> words(n);
    py::array_t<double> normals(n);
    fastmc::Rng a(seed, chain), b(seed, chain);
    for (int64_t i = 0; i < n; ++i) words.mutable_data()[i] = a.next();
    for (int64_t i = 0; i < n; ++i) normals.mutable_data()[i] = b.normal();
    return py::make_tuple(words, normals);
}

static py::tuple ziggurat_tables() {
    const auto& t = fastmc::ziggurat_tables();
    py::array_t<double> x(257), f(257);
    for (int i = 0; i < 257; ++i) x.mutable_data()[i] = t.x[i], f.mutable_data()[i] = t.f[i];
    return py::make_tuple(x, f);
}

void register_samplers(py::module_& m) {
    m.def("rwmh", &rwmh, py::arg("target"), py::arg("x0"), py::arg("n_warmup"), py::arg("n"), py::arg("prop"),
          py::arg("prop_kind"), py::arg("adapt_scale"), py::arg("adapt_cov"), py::arg("target_accept"),
          py::arg("inv_temp"), py::arg("seed"), py::arg("first_chain"), py::arg("n_threads"));
    m.def("hmc", &hmc, py::arg("target"), py::arg("x0"), py::arg("n"), py::arg("step"), py::arg("n_leapfrog"),
          py::arg("inv_mass"), py::arg("inv_temp"), py::arg("seed"), py::arg("first_chain"), py::arg("n_threads"));
    m.def("target_logp_grad", &target_logp_grad, py::arg("target"), py::arg("x"));
    m.def("rng_stream", &rng_stream, py::arg("seed"), py::arg("chain"), py::arg("n"));
    m.def("ziggurat_tables", &ziggurat_tables);
}
