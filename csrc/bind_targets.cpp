#include <vector>

#include "bind_common.hpp"

static void check_points(const CArray& X, int64_t d) {
    require_ndim(X, 2, "x");
    if (X.shape(1) != d) throw std::invalid_argument("x must have shape (n, d)");
}

// Batched mixture log density without the gradient (start points, logpdf): X (n, d) -> (n,).
// The log density with gradient of any target is target_logp_grad in bind_samplers.cpp.
static py::array_t<double> mixture_logp(const CArray& logc, const CArray& means, const CArray& prec, const CArray& X) {
    const auto n = X.ndim() == 2 ? X.shape(0) : 0, d = means.ndim() == 2 ? means.shape(1) : 0;
    check_points(X, d);
    py::array_t<double> lp(n);
    double* plp = lp.mutable_data();
    const double* px = X.data();
    with_mixture(logc, means, prec, [&](const auto& mix) {
        py::gil_scoped_release release;
        fastmc::Scratch work(mix.work_size());
        for (py::ssize_t i = 0; i < n; ++i) plp[i] = mix.logp(px + i * d, work.data());
    });
    return lp;
}

void register_targets(py::module_& m) {
    m.def("mixture_logp", &mixture_logp, py::arg("logc"), py::arg("means"), py::arg("prec"), py::arg("x"));
}
