// The extension module fastmc._core: each bind_*.cpp registers its own functions.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_targets(py::module_& m);
void register_samplers(py::module_& m);
void register_diagnostics(py::module_& m);

PYBIND11_MODULE(_core, m) {
    m.doc() = "fastmc C++ kernels (private; use the fastmc package)";
    register_targets(m);
    register_samplers(m);
    register_diagnostics(m);
}
