"""Build the C++ extension ``fastmc._core`` from ``csrc/``.

Floating-point discipline: no ``-ffast-math`` and ``-ffp-contract=off`` so that the C++
kernels and their Numba twins perform the same roundings and agree to the last bit.
``FASTMC_ARCH`` picks the instruction set (``native`` for a source build, a portable level such
as ``x86-64-v2`` for wheels); vector width never changes results because no kernel lets the
compiler reorder a reduction. ``FASTMC_BUILD_EXTENSION=0`` installs the package without the
extension (the Numba backend alone), as CI does to test that install; any other value, or none,
builds it, and a failed build fails the install.
"""
import glob
import os
import platform
import sys

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup


def _compile_args():
    if sys.platform == "win32":
        return ["/O2", "/fp:precise", "/std:c++17"]
    # -fno-wrapv undoes the -fwrapv that CPython's build flags add: signed overflow is never relied on,
    # and wrapping arithmetic blocks loop optimisations in the diagnostics kernels
    args = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-wrapv", "-fvisibility=hidden"]
    # GCC warns (71 times) that the scalar tail loops would overflow their index when a compiled-in
    # dimension is a multiple of 4: those loops never run, and the warning buried real ones
    if sys.platform != "darwin":
        args.append("-Wno-aggressive-loop-optimizations")
    arch = os.environ.get("FASTMC_ARCH", "native")
    if arch and platform.machine().lower() in ("x86_64", "amd64"):
        args.append(f"-march={arch}")
        # 256-bit vectors where the tuning prefers 512 (GCC for Zen 4): the kernels run on short
        # arrays (d = 20: one 512-bit op and a masked or 256-bit remainder), and Zen 4 splits
        # 512-bit ops in two
        args.append("-mprefer-vector-width=256")
    return args


ext = Pybind11Extension(
    "fastmc._core",
    sorted(glob.glob("csrc/*.cpp")),
    include_dirs=["csrc/include"],
    # headers hold the kernels: without this, editing one does not rebuild the extension
    depends=sorted(glob.glob("csrc/include/fastmc/**/*.hpp", recursive=True) + glob.glob("csrc/*.hpp")),
    cxx_std=17,
    extra_compile_args=_compile_args(),
    extra_link_args=[] if sys.platform == "win32" else ["-pthread"],
)

build = os.environ.get("FASTMC_BUILD_EXTENSION", "1").strip() != "0"
setup(ext_modules=[ext] if build else [], cmdclass={"build_ext": build_ext})
