// Binding-level adapter (not a kernel): a Python callable as a target, for quick experiments.
// Every call takes the GIL; an exception stops sampling and is handed back to the Python layer.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace py = pybind11;

struct PyTarget {
    py::function* fn;      // fn(x (d,)) -> (logp, grad (d,)) or, without gradient, logp
    bool with_grad;
    int64_t d;
    py::object* error;     // the exception that stopped sampling, if any

    int64_t dim() const { return d; }
    // work as CFuncTarget's (cfunc.hpp): scratch gradient, failure code (-1 after an exception), point
    int64_t work_size() const { return 2 * d + 1; }
    bool failed(const double* work) const { return work[d] != 0.0; }
    int64_t failure(const double* work, double* x) const {
        for (int64_t i = 0; i < d; ++i) x[i] = work[d + 1 + i];
        return static_cast<int64_t>(work[d]);
    }

    double logp_grad(const double* x, double* grad, double* work) const {
        if (work[d] != 0.0) return std::numeric_limits<double>::quiet_NaN();  // stopped: no more calls
        py::gil_scoped_acquire gil;
        try {
            py::array_t<double> xa(d);  // a fresh array: the user may keep a reference to it
            std::memcpy(xa.mutable_data(), x, sizeof(double) * static_cast<size_t>(d));
            py::object r = (*fn)(xa);
            if (!with_grad) return r.cast<double>();
            auto t = r.cast<py::tuple>();
            if (t.size() != 2) throw py::value_error("logp_and_grad must return (logp, grad)");
            auto g = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(t[1]);
            if (!g || g.ndim() != 1 || g.shape(0) != d)
                throw py::value_error("logp_and_grad must return a gradient of shape (dim,)");
            std::memcpy(grad, g.data(), sizeof(double) * static_cast<size_t>(d));
            return t[0].cast<double>();
        } catch (py::error_already_set& e) {
            *error = e.value();
        } catch (std::exception& e) {  // a cast that failed: report it as Python would
            *error = py::reinterpret_steal<py::object>(PyObject_CallFunction(PyExc_TypeError, "s", e.what()));
        }
        work[d] = -1.0;
        for (int64_t i = 0; i < d; ++i) work[d + 1 + i] = x[i];
        return std::numeric_limits<double>::quiet_NaN();
    }
    double logp(const double* x, double* work) const { return logp_grad(x, work, work); }
    void grad(const double* x, double* g, double* work) const { logp_grad(x, g, work); }
};
