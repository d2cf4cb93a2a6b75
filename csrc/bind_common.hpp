// Conversions shared by the bind_*.cpp files: C-contiguous float64 arrays in, shapes checked.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "fastmc/core/scratch.hpp"
#include "fastmc/targets/cfunc.hpp"
#include "fastmc/targets/mixture.hpp"
#include "py_target.hpp"

namespace py = pybind11;
using CArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

inline void require_ndim(const CArray& a, int ndim, const char* name) {
    if (a.ndim() != ndim)
        throw std::invalid_argument(std::string(name) + " must have " + std::to_string(ndim) + " dimensions");
}

// An array the Python layer allocated for the kernel to fill (or to update in place): C-contiguous,
// writeable, of n items of T (a record of fastmc/core/records.hpp or a plain number).
template <class T>
inline T* out_ptr(py::array& a, int64_t n, const char* name) {
    if (!(a.flags() & py::array::c_style) || !a.writeable() || a.itemsize() != static_cast<py::ssize_t>(sizeof(T)) ||
        a.size() != n)
        throw std::invalid_argument(std::string(name) + ": expected a writeable C-contiguous array of " +
                                    std::to_string(n) + " items of " + std::to_string(sizeof(T)) + " bytes");
    return static_cast<T*>(a.mutable_data());
}

template <class T>
inline const T* in_ptr(const py::array& a, int64_t n, const char* name) {
    if (!(a.flags() & py::array::c_style) || a.itemsize() != static_cast<py::ssize_t>(sizeof(T)) || a.size() != n)
        throw std::invalid_argument(std::string(name) + ": expected a C-contiguous array of " + std::to_string(n) +
                                    " items of " + std::to_string(sizeof(T)) + " bytes");
    return static_cast<const T*>(a.data());
}

// Calls f(mixture) with the dimension fixed at compile time for d <= 4 (T1-like targets spend
// their time in loop overhead otherwise) and for multiples of 4 up to 32 (every loop of the
// gradient and the sampler becomes straight-line vector code; the whole target must be compiled
// in, not only its mat-vec), at run time otherwise. Each size adds build time and module size.
template <class F>
inline void with_mixture(const CArray& logc, const CArray& means, const CArray& prec, F&& f) {
    require_ndim(logc, 1, "logc");
    require_ndim(means, 2, "means");
    require_ndim(prec, 3, "prec");
    const auto K = means.shape(0), d = means.shape(1);
    if (logc.shape(0) != K || prec.shape(0) != K || prec.shape(1) != d || prec.shape(2) != d)
        throw std::invalid_argument("mixture arrays disagree in shape: logc (K,), means (K, d), prec (K, d, d)");
    const double *lc = logc.data(), *mu = means.data(), *P = prec.data();
    // the precisions in the panel layout the kernels read for d >= kSymPanelMinDim (linalg.hpp)
    const bool use_panels = d >= fastmc::kSymPanelMinDim;
    const int64_t ps = use_panels ? fastmc::sym_panel_size(d) : 0;
    fastmc::Scratch panels(K * ps);
    if (use_panels)
        for (int64_t k = 0; k < K; ++k) fastmc::sym_panel_pack(P + k * d * d, panels.data() + k * ps, d);
    const double* Pp = panels.data();
    switch (d) {
        case 1: return f(fastmc::Mixture<1>{K, d, lc, mu, P, Pp});
        case 2: return f(fastmc::Mixture<2>{K, d, lc, mu, P, Pp});
        case 3: return f(fastmc::Mixture<3>{K, d, lc, mu, P, Pp});
        case 4: return f(fastmc::Mixture<4>{K, d, lc, mu, P, Pp});
        case 8: return f(fastmc::Mixture<8>{K, d, lc, mu, P, Pp});
        case 12: return f(fastmc::Mixture<12>{K, d, lc, mu, P, Pp});
        case 16: return f(fastmc::Mixture<16>{K, d, lc, mu, P, Pp});
        case 20: return f(fastmc::Mixture<20>{K, d, lc, mu, P, Pp});
        case 24: return f(fastmc::Mixture<24>{K, d, lc, mu, P, Pp});
        case 28: return f(fastmc::Mixture<28>{K, d, lc, mu, P, Pp});
        case 32: return f(fastmc::Mixture<32>{K, d, lc, mu, P, Pp});
        default: return f(fastmc::Mixture<0>{K, d, lc, mu, P, Pp});
    }
}

// A target as the Python layer describes it:
//   ("mixture", logc (K,), means (K, d), prec (K, d, d))
//   ("cfunc", function address, data address, dim[, checked])
//   ("python", callable, with_grad, dim)
// f(target) runs with the GIL held; the Python target's error, if any, lands in *error.
template <class F>
inline void with_target(const py::tuple& spec, py::object* error, F&& f) {
    const auto kind = spec[0].cast<std::string>();
    if (kind == "mixture") {
        with_mixture(spec[1].cast<CArray>(), spec[2].cast<CArray>(), spec[3].cast<CArray>(), f);
        return;
    }
    if (kind == "cfunc") {
        auto fn = reinterpret_cast<fastmc::LogpFn>(spec[1].cast<uintptr_t>());
        auto* data = reinterpret_cast<void*>(spec[2].cast<uintptr_t>());
        const bool checked = spec.size() > 4 && spec[4].cast<bool>();
        return f(fastmc::CFuncTarget{fn, data, spec[3].cast<int64_t>(), checked});
    }
    if (kind == "python") {
        py::function fn = spec[1].cast<py::function>();
        return f(PyTarget{&fn, spec[2].cast<bool>(), spec[3].cast<int64_t>(), error});
    }
    throw std::invalid_argument("unknown target kind " + kind);
}

// Raises the exception a Python target raised during a call (kept in *error by PyTarget).
inline void raise_target_error(const py::object& error) {
    if (error.is_none()) return;
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
    throw py::error_already_set();
}

inline int64_t target_dim(const py::tuple& spec) {
    const auto kind = spec[0].cast<std::string>();
    if (kind == "mixture") return spec[2].cast<CArray>().shape(1);
    return spec[3].cast<int64_t>();
}
