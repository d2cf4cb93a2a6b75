// Bindings of the diagnostics kernels (fastmc/diagnostics.py is the public layer): check shapes,
// allocate outputs and scratch, release the GIL, call the kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "fastmc/diagnostics/ess.hpp"
#include "fastmc/diagnostics/rank.hpp"

namespace py = pybind11;
using Arr = py::array_t<double, py::array::c_style>;

namespace {

void need(bool ok, const char* msg) {
    if (!ok) throw std::invalid_argument(msg);
}

// Uninitialised scratch from NumPy's allocator, which asks the kernel for huge pages on large
// blocks: first-touch page faults on 100 MB of 4 KiB pages cost 35 ms, on huge pages 8 ms.
template <class T>
struct Scratch {
    py::array_t<T> arr;
    explicit Scratch(int64_t count) : arr(py::ssize_t(count > 0 ? count : 1)) {}
    T* get() { return arr.mutable_data(); }
};

Arr normal_score_table(int64_t n, int n_threads) {
    need(n >= 1, "n must be >= 1");
    Arr z(n);
    py::gil_scoped_release nogil;
    fastmc::normal_score_table(n, z.mutable_data(), n_threads);
    return z;
}

py::tuple rank_normalize(const Arr& x, bool fold, const Arr& center, const Arr& ztab, bool want_sorted,
                         bool want_folded, int n_threads) {
    need(x.ndim() == 2, "x must have shape (n_var, n)");
    const int64_t V = x.shape(0), n = x.shape(1);
    need(center.ndim() == 1 && center.shape(0) == V, "center must have shape (n_var,)");
    need(ztab.ndim() == 1 && ztab.shape(0) == n, "ztab must have shape (n,)");
    need(n < (int64_t(1) << 32), "n must be below 2**32");
    Arr z({V, n});
    Arr zf(want_folded ? std::vector<py::ssize_t>{V, n} : std::vector<py::ssize_t>{V, 0});
    Arr sorted(want_sorted ? std::vector<py::ssize_t>{V, n} : std::vector<py::ssize_t>{V, 0});
    py::array_t<int64_t> tied(V);
    const bool large = n >= fastmc::kMsdMin;
    const int nt = n_threads < 1 ? 1 : n_threads;
    const int T = large ? nt : int(V < nt ? (V < 1 ? 1 : V) : nt);  // workers
    // arrays of n: two per variable sorted at once; one per variable for rank_large, which needs
    // the second only for the folded scores
    const int64_t arrays = large ? (want_folded ? 2 : 1) : 2 * T;
    Scratch<uint64_t> keys(arrays * n);
    Scratch<uint32_t> idx(arrays * n);
    Scratch<int64_t> hist(int64_t(T) * 8 * 256);
    Scratch<int64_t> bins(large ? T * fastmc::kMsdBins : 1);
    Scratch<int64_t> tw(T);
    {
        py::gil_scoped_release nogil;
        fastmc::rank_normalize(x.data(), V, n, fold, center.data(), ztab.data(), z.mutable_data(),
                               want_sorted ? sorted.mutable_data() : nullptr, tied.mutable_data(),
                               keys.get(), idx.get(), bins.get(), hist.get(), tw.get(), T,
                               want_folded ? zf.mutable_data() : nullptr);
    }
    return py::make_tuple(z, want_sorted ? py::object(sorted) : py::object(py::none()), tied,
                          want_folded ? py::object(zf) : py::object(py::none()));
}

Arr ess_direct(Arr& x, int64_t max_lag, bool relative, int kind, const Arr& a, const Arr& b,
               int n_threads, bool overwrite) {
    need(x.ndim() == 3 && x.shape(2) >= 2, "x must have shape (n_var, chains, draws >= 2)");
    const int64_t V = x.shape(0), m = x.shape(1), n = x.shape(2);
    need(a.ndim() == 1 && a.shape(0) == V && b.ndim() == 1 && b.shape(0) == V,
         "a and b must have shape (n_var,)");
    need(kind >= 0 && kind <= 4, "kind must be 0..4");
    need(max_lag >= 2, "max_lag must be >= 2");
    need(!overwrite || x.writeable(), "x must be writeable to be overwritten");
    const int T = n_threads < 1 ? 1 : n_threads;
    Arr out(V);
    Scratch<double> scratch(fastmc::ess_scratch_copies(V, m, n, T) *
                            fastmc::ess_scratch_per_worker(m, n, max_lag, overwrite));
    double* in_place = overwrite ? x.mutable_data() : nullptr;
    {
        py::gil_scoped_release nogil;
        fastmc::ess_direct(x.data(), V, m, n, max_lag, relative, kind, a.data(), b.data(),
                           out.mutable_data(), scratch.get(), T, in_place);
    }
    return out;
}

double ess_from_autocov(const Arr& acm, const Arr& chain_mean, bool relative) {
    need(acm.ndim() == 1 && acm.shape(0) >= 2, "acm must have shape (draws >= 2,)");
    need(chain_mean.ndim() == 1 && chain_mean.shape(0) >= 1, "chain_mean must have shape (chains,)");
    const int64_t n = acm.shape(0), m = chain_mean.shape(0);
    std::vector<double> rho(size_t(n + 2));
    py::gil_scoped_release nogil;
    return fastmc::ess_from_autocov(acm.data(), chain_mean.data(), m, n, relative, rho.data());
}

Arr rhat(const Arr& x, int n_threads) {
    need(x.ndim() == 3 && x.shape(2) >= 2, "x must have shape (n_var, chains, draws >= 2)");
    const int64_t V = x.shape(0), m = x.shape(1), n = x.shape(2);
    const int T = n_threads < 1 ? 1 : n_threads;
    Arr out(V);
    std::vector<double> scratch(size_t(T) * size_t(2 * m));
    {
        py::gil_scoped_release nogil;
        fastmc::rhat(x.data(), V, m, n, out.mutable_data(), scratch.data(), T);
    }
    return out;
}

Arr moments(const Arr& x, int n_threads) {
    need(x.ndim() == 2 && x.shape(1) >= 1, "x must have shape (n_var, N >= 1)");
    const int64_t V = x.shape(0), N = x.shape(1);
    Arr out({V, int64_t(3)});
    py::gil_scoped_release nogil;
    fastmc::moments(x.data(), V, N, out.mutable_data(), n_threads);
    return out;
}

}  // namespace

void register_diagnostics(py::module_& m) {
    m.def("normal_score_table", &normal_score_table, py::arg("n"), py::arg("n_threads"),
          "Normal scores Phi^-1((r - 3/8) / (n + 1/4)) of the ranks r = 1..n (AS241).");
    m.def("rank_normalize", &rank_normalize, py::arg("x"), py::arg("fold"), py::arg("center"),
          py::arg("ztab"), py::arg("want_sorted"), py::arg("want_folded"), py::arg("n_threads"),
          "Normal scores of average ranks per row (of |x - center| if fold); returns (z, sorted, "
          "n_tied, zf) with zf the scores of |x - median| (finite rows only) if want_folded.");
    m.def("ess_direct", &ess_direct, py::arg("x"), py::arg("max_lag"), py::arg("relative"),
          py::arg("kind"), py::arg("a"), py::arg("b"), py::arg("n_threads"),
          py::arg("overwrite") = false,
          "Geyer ESS per variable of a transform of x by direct lags; -1 where an FFT is needed. "
          "With overwrite, x is replaced by g(x) - chain mean (saves a copy).");
    m.def("moments", &moments, py::arg("x"), py::arg("n_threads"),
          "Per row: mean, sum of squared and of fourth-power deviations.");
    m.def("ess_from_autocov", &ess_from_autocov, py::arg("acm"), py::arg("chain_mean"),
          py::arg("relative"), "Geyer ESS from chain-averaged autocovariances.");
    m.def("rhat", &rhat, py::arg("x"), py::arg("n_threads"), "Basic R-hat per variable.");
}
