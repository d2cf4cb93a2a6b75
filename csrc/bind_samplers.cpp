#include <cstdint>
#include <vector>

#include <algorithm>
#include <type_traits>

#include "bind_common.hpp"
#include "fastmc/adapt/warmup.hpp"
#include "fastmc/core/rng.hpp"
#include "fastmc/rwmh/rwmh.hpp"
#include "fastmc/targets/tempered.hpp"


static int64_t n_chains(const py::array& x0, int64_t d) {
    if (x0.ndim() != 2 || x0.shape(1) != d) throw std::invalid_argument("x0 must have shape (chains, d)");
    return x0.shape(0);
}

// The samplers' bindings: every array is allocated (and validated) by the Python layer
// (fastmc/_runtime.py) with the records of fastmc/_schema.py, in the order: the target, the run's
// config record, inputs every chain reads, then arrays with the chain as first axis. These check
// sizes, release the GIL and run the chains. Chain c's generator state is rng_state[c], seeded from (seed, c) in Python.
// They return the exception a Python target raised (sampling stopped there), or None.
static py::object hmc_run(const py::tuple& target, const py::array& config, const py::array& interrupt,
                          const py::array& phase, const py::array& x0, const py::array& step0,
                          const py::array& state_in, py::array& inv_metric, py::array& rng_state, py::array& draws,
                          py::array& stats, py::array& ckpt, py::array& info, py::array& stop_point,
                          int64_t n_threads) {
    const auto& cfg = *in_ptr<fastmc::HmcConfig>(config, 1, "config");
    const int64_t d = target_dim(target), chains = n_chains(x0, d), n = cfg.n_warmup + cfg.n_samples;
    const int64_t m = cfg.metric_kind == fastmc::kMetricDiag ? d : d * d;
    const double *px0 = in_ptr<double>(x0, chains * d, "x0"), *ps0 = in_ptr<double>(step0, chains, "step0");
    const auto* pph = in_ptr<uint8_t>(phase, cfg.n_warmup, "phase");
    const auto* pint = in_ptr<int64_t>(interrupt, 1, "interrupt");
    auto* psp = out_ptr<double>(stop_point, chains * d, "stop_point");
    const int64_t ns = fastmc::hmc_state_size(d, static_cast<int>(cfg.metric_kind), static_cast<int>(cfg.adapt_metric));
    const auto* psi = in_ptr<double>(state_in, chains * ns, "state_in");
    auto* pck = out_ptr<double>(ckpt, chains * 2 * ns, "ckpt");
    auto* pA = out_ptr<double>(inv_metric, chains * m, "inv_metric");
    auto* pst = out_ptr<uint64_t>(rng_state, chains * 4, "rng_state");
    auto* pd = out_ptr<double>(draws, chains * n * d, "draws");
    auto* prec = out_ptr<fastmc::HmcDraw>(stats, chains * n, "stats");
    auto* pinfo = out_ptr<fastmc::ChainInfo>(info, chains, "info");
    py::object error = py::none();
    auto run = [&](const auto& t) {
        py::gil_scoped_release release;
        fastmc::hmc_run(t, cfg, pint, chains, px0, pph, ps0, psi, pA, pst, pd, prec, pinfo, psp, pck, n_threads);
    };
    if (cfg.inv_temp == 1.0)
        with_target(target, &error, run);
    else
        with_target(target, &error, [&](const auto& t) { run(fastmc::Tempered<std::decay_t<decltype(t)>>{t, cfg.inv_temp}); });
    return error;
}

static py::object rwmh_run(const py::tuple& target, const py::array& config, const py::array& interrupt,
                           const py::array& prop, const py::array& x0, py::array& rng_state, py::array& draws,
                           py::array& stats, py::array& adapted, py::array& info, py::array& stop_point,
                           int64_t n_threads) {
    const auto& cfg = *in_ptr<fastmc::RwmhConfig>(config, 1, "config");
    const int64_t d = target_dim(target), chains = n_chains(x0, d), n = cfg.n_warmup + cfg.n_samples;
    const double* px0 = in_ptr<double>(x0, chains * d, "x0");
    const double* pprop = in_ptr<double>(prop, cfg.prop_kind == 0 ? d : d * d, "prop");
    auto* pst = out_ptr<uint64_t>(rng_state, chains * 4, "rng_state");
    auto* pd = out_ptr<double>(draws, chains * n * d, "draws");
    auto* prec = out_ptr<fastmc::RwmhDraw>(stats, chains * n, "stats");
    auto* pad = out_ptr<double>(adapted, chains * d * d, "adapted");
    auto* pinfo = out_ptr<fastmc::ChainInfo>(info, chains, "info");
    const auto* pint = in_ptr<int64_t>(interrupt, 1, "interrupt");
    auto* psp = out_ptr<double>(stop_point, chains * d, "stop_point");
    py::object error = py::none();
    with_target(target, &error, [&](const auto& t) {
        py::gil_scoped_release release;
        fastmc::rwmh_run(t, cfg, pint, chains, px0, pprop, pst, pd, prec, pad, pinfo, psp, n_threads);
    });
    return error;
}

// Batched log density and gradient of any target: X (n, d) -> (logp (n,), grad (n, d), n_ok,
// code): n_ok < n when the target failed at X[n_ok] with that (negative) code.
static py::tuple target_logp_grad(const py::tuple& target, const CArray& X) {
    const int64_t d = target_dim(target);
    require_ndim(X, 2, "x");
    if (X.shape(1) != d) throw std::invalid_argument("x must have shape (n, d)");
    const auto n = X.shape(0);
    py::array_t<double> lp(n), grad({n, d});
    double *plp = lp.mutable_data(), *pg = grad.mutable_data();
    const double* px = X.data();
    py::object error = py::none();
    int64_t n_ok = n, code = 0;
    with_target(target, &error, [&](const auto& tgt) {
        py::gil_scoped_release release;
        fastmc::Scratch work(tgt.work_size());
        std::vector<double> point(static_cast<size_t>(d));
        for (py::ssize_t i = 0; i < n; ++i) {
            plp[i] = tgt.logp_grad(px + i * d, pg + i * d, work.data());
            if (tgt.failed(work.data())) {
                n_ok = i;
                code = tgt.failure(work.data(), point.data());
                break;
            }
        }
    });
    raise_target_error(error);
    return py::make_tuple(lp, grad, n_ok, code);
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
    m.def("hmc_run", &hmc_run, py::arg("target"), py::arg("config"), py::arg("interrupt"), py::arg("phase"),
          py::arg("x0"), py::arg("step0"), py::arg("state_in"), py::arg("inv_metric"), py::arg("rng_state"),
          py::arg("draws"), py::arg("stats"), py::arg("ckpt"), py::arg("info"), py::arg("stop_point"),
          py::arg("n_threads"));
    m.def("rwmh_run", &rwmh_run, py::arg("target"), py::arg("config"), py::arg("interrupt"), py::arg("prop"),
          py::arg("x0"), py::arg("rng_state"), py::arg("draws"), py::arg("stats"), py::arg("adapted"),
          py::arg("info"), py::arg("stop_point"), py::arg("n_threads"));
    m.def("target_logp_grad", &target_logp_grad, py::arg("target"), py::arg("x"));
    m.def("rng_stream", &rng_stream, py::arg("seed"), py::arg("chain"), py::arg("n"));
    m.def("ziggurat_tables", &ziggurat_tables);
}
