// Binding of the warm-up engine (NUTS and static HMC with adaptation) for any target spec.
#include <cstdint>
#include <type_traits>
#include <vector>

#include "bind_common.hpp"
#include "fastmc/adapt.hpp"
#include "fastmc/chains.hpp"
#include "fastmc/tempered.hpp"

using U8Array = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;
using U64Array = py::array_t<uint64_t, py::array::c_style | py::array::forcecast>;
using I64Array = py::array_t<int64_t>;

// x0 (chains, d); inv_metric (chains, d) or (chains, d, d) and rng_state (chains, 4) are copied
// and returned updated; phase (n_warmup,) uint8. inv_temp != 1 samples the target to that power
// (the recorded log density is then the tempered one).
static py::dict adaptive(const py::tuple& target, const CArray& x0,
                                 int64_t n_warmup, int64_t n_samples, const U8Array& phase, const CArray& step0,
                                 const CArray& inv_metric, const U64Array& rng_state, int transition,
                                 int64_t max_depth, int64_t n_leapfrog, double integration_time,
                                 int64_t max_leapfrog, double jitter, int metric_kind, bool adapt_step,
                                 double delta, double gamma, double kappa, double t0, double inv_temp,
                                 int64_t n_threads) {
    const int64_t d = target_dim(target);
    require_ndim(x0, 2, "x0");
    const int64_t chains = x0.shape(0), n = n_warmup + n_samples;
    const int64_t m = metric_kind == fastmc::kMetricDiag ? d : d * d;
    if (x0.shape(1) != d) throw std::invalid_argument("x0 must have shape (chains, d)");
    if (phase.size() != n_warmup) throw std::invalid_argument("phase must have shape (n_warmup,)");
    if (step0.size() != chains) throw std::invalid_argument("step0 must have shape (chains,)");
    if (inv_metric.size() != chains * m) throw std::invalid_argument("inv_metric has the wrong size");
    if (rng_state.size() != chains * 4) throw std::invalid_argument("rng_state must have shape (chains, 4)");
    py::array_t<double> draws({chains, n, d}), lp({chains, n}), acc({chains, n}), en({chains, n}),
        steps({chains, n}), final_step(chains);
    I64Array depth({chains, n}), nleap({chains, n}), ngrad(chains), done(chains);
    py::array_t<uint8_t> div({chains, n}), nonf({chains, n}), moved({chains, n});
    // copies, updated in place by the kernel
    py::array_t<double> A(std::vector<py::ssize_t>(inv_metric.shape(), inv_metric.shape() + inv_metric.ndim()));
    std::copy(inv_metric.data(), inv_metric.data() + chains * m, A.mutable_data());
    py::array_t<uint64_t> st({chains, int64_t(4)});
    std::copy(rng_state.data(), rng_state.data() + chains * 4, st.mutable_data());
    const fastmc::AdaptConfig cfg{transition, max_depth, n_leapfrog, integration_time, max_leapfrog, jitter,
                                  metric_kind, adapt_step, delta, gamma, kappa, t0};
    double *pd = draws.mutable_data(), *plp = lp.mutable_data(), *pacc = acc.mutable_data(),
           *pen = en.mutable_data(), *pst = steps.mutable_data(), *pfs = final_step.mutable_data(),
           *pA = A.mutable_data();
    int64_t *pdep = depth.mutable_data(), *pnl = nleap.mutable_data(), *png = ngrad.mutable_data(),
            *pdone = done.mutable_data();
    uint8_t *pdiv = div.mutable_data(), *pnf = nonf.mutable_data(), *pmv = moved.mutable_data();
    uint64_t* pstate = st.mutable_data();
    const double *px0 = x0.data(), *ps0 = step0.data();
    const uint8_t* pph = phase.data();
    py::object error = py::none();
    auto run = [&](const auto& mix) {
        py::gil_scoped_release release;
        fastmc::parallel_chains(chains, n_threads, [&](int64_t c) {
            fastmc::Scratch work(fastmc::adapt_work_size(d, metric_kind, max_depth));
            fastmc::Scratch twork(mix.work_size());
            fastmc::AdaptOut out{pd + c * n * d, plp + c * n, pacc + c * n, pen + c * n, pst + c * n,
                                 pdep + c * n, pnl + c * n, pdiv + c * n, pnf + c * n, pmv + c * n, pfs + c, png + c,
                                 pdone + c};
            fastmc::adaptive_chain(mix, px0 + c * d, n_warmup, n_samples, pph, ps0[c], cfg, pA + c * m,
                                   pstate + 4 * c, out, work.data(), twork.data());
        });
    };
    if (inv_temp == 1.0)
        with_target(target, &error, run);
    else
        with_target(target, &error, [&](const auto& t) {
            run(fastmc::Tempered<std::decay_t<decltype(t)>>{t, inv_temp});
        });
    py::dict r;
    r["draws"] = draws, r["log_density"] = lp, r["accept_stat"] = acc, r["energy"] = en;
    r["step_size"] = steps, r["tree_depth"] = depth, r["n_leapfrog"] = nleap, r["divergent"] = div;
    r["nonfinite"] = nonf, r["moved"] = moved;
    r["final_step"] = final_step, r["inv_metric"] = A, r["rng_state"] = st, r["n_grad"] = ngrad;
    r["n_done"] = done, r["error"] = error;
    return r;
}

void register_nuts(py::module_& m) {
    m.def("adaptive", &adaptive, py::arg("target"), py::arg("x0"), py::arg("n_warmup"), py::arg("n_samples"), py::arg("phase"), py::arg("step0"),
          py::arg("inv_metric"), py::arg("rng_state"), py::arg("transition"), py::arg("max_depth"),
          py::arg("n_leapfrog"), py::arg("integration_time"), py::arg("max_leapfrog"), py::arg("jitter"), py::arg("metric_kind"),
          py::arg("adapt_step"), py::arg("delta"), py::arg("gamma"), py::arg("kappa"), py::arg("t0"),
          py::arg("inv_temp"), py::arg("n_threads"));
}
