// Conversions shared by the bind_*.cpp files: C-contiguous float64 arrays in, shapes checked.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "fastmc/mixture.hpp"

namespace py = pybind11;
using CArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

inline void require_ndim(const CArray& a, int ndim, const char* name) {
    if (a.ndim() != ndim)
        throw std::invalid_argument(std::string(name) + " must have " + std::to_string(ndim) + " dimensions");
}

// Calls f(mixture) with the dimension fixed at compile time for d <= 4 (T1-like targets spend
// their time in loop overhead otherwise), at run time above.
template <class F>
inline void with_mixture(const CArray& logc, const CArray& means, const CArray& prec, F&& f) {
    require_ndim(logc, 1, "logc");
    require_ndim(means, 2, "means");
    require_ndim(prec, 3, "prec");
    const auto K = means.shape(0), d = means.shape(1);
    if (logc.shape(0) != K || prec.shape(0) != K || prec.shape(1) != d || prec.shape(2) != d)
        throw std::invalid_argument("mixture arrays disagree in shape: logc (K,), means (K, d), prec (K, d, d)");
    const double *lc = logc.data(), *mu = means.data(), *P = prec.data();
    switch (d) {
        case 1: return f(fastmc::Mixture<1>{K, d, lc, mu, P});
        case 2: return f(fastmc::Mixture<2>{K, d, lc, mu, P});
        case 3: return f(fastmc::Mixture<3>{K, d, lc, mu, P});
        case 4: return f(fastmc::Mixture<4>{K, d, lc, mu, P});
        default: return f(fastmc::Mixture<0>{K, d, lc, mu, P});
    }
}
