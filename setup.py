"""Build the C++ extension ``fastmc._core`` from ``csrc/``.

Floating-point discipline: no ``-ffast-math`` and ``-ffp-contract=off`` so that the C++
kernels and their Numba twins perform the same roundings and agree to the last bit.
``FASTMC_ARCH`` picks the instruction set (``native`` for a source build, a portable level such
as ``x86-64-v2`` for wheels); vector width never changes results because no kernel lets the
compiler reorder a reduction. ``FASTMC_BUILD_EXTENSION=0`` installs the package without the
extension (the Numba backend alone), as CI does to test that install; any other value, or none,
builds it, and a failed build fails the install.

Next to the extension the build writes ``fastmc/_core_target.json``: the ``-march`` level and the
instruction-set extensions the compiler enabled for it (NumPy's names). ``fastmc`` reads it before
importing the extension and skips the extension on a CPU that lacks one of them, which would
otherwise die of an illegal instruction (see ``fastmc/_backends/_cpu.py``).
"""
import glob
import json
import os
import platform
import subprocess
import sys

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup


def _arch():
    """The -march value, or None where none is passed (not x86-64, or MSVC)."""
    arch = os.environ.get("FASTMC_ARCH", "native")
    if sys.platform == "win32" or not arch or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    return arch


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
    arch = _arch()
    if arch:
        args.append(f"-march={arch}")
        # 256-bit vectors where the tuning prefers 512 (GCC for Zen 4): the kernels run on short
        # arrays (d = 20: one 512-bit op and a masked or 256-bit remainder), and Zen 4 splits
        # 512-bit ops in two
        args.append("-mprefer-vector-width=256")
    return args


# The compiler's predefined macro for each x86 extension a CPU may lack, and NumPy's name for it
# (numpy's __cpu_features__, which fastmc/_backends/_cpu.py checks at import)
_MACRO_TO_NUMPY = {
    "__SSE3__": "SSE3", "__SSSE3__": "SSSE3", "__SSE4_1__": "SSE41", "__SSE4_2__": "SSE42",
    "__POPCNT__": "POPCNT", "__AVX__": "AVX", "__F16C__": "F16C", "__FMA__": "FMA3", "__AVX2__": "AVX2",
    "__BMI__": "BMI", "__BMI2__": "BMI2", "__LZCNT__": "LZCNT", "__MOVBE__": "MOVBE", "__FMA4__": "FMA4",
    "__XOP__": "XOP", "__AVX512F__": "AVX512F", "__AVX512CD__": "AVX512CD", "__AVX512VL__": "AVX512VL",
    "__AVX512BW__": "AVX512BW", "__AVX512DQ__": "AVX512DQ", "__AVX512IFMA__": "AVX512IFMA",
    "__AVX512VBMI__": "AVX512VBMI", "__AVX512VBMI2__": "AVX512VBMI2", "__AVX512VNNI__": "AVX512VNNI",
    "__AVX512BITALG__": "AVX512BITALG", "__AVX512VPOPCNTDQ__": "AVX512VPOPCNTDQ",
    "__AVX512BF16__": "AVX512BF16", "__AVX512FP16__": "AVX512FP16", "__GFNI__": "GFNI", "__VAES__": "VAES",
    "__VPCLMULQDQ__": "VPCLMULQDQ",
}


def _required_features(compiler_cmd, arch):
    """What the compiler enables for -march=arch, asked of the compiler itself (its predefined
    macros), so "native" records the build machine's level exactly. An unknown answer fails the
    build: a wheel that cannot say what it needs is the crash this file exists to prevent."""
    out = subprocess.run([*compiler_cmd, f"-march={arch}", "-dM", "-E", "-x", "c++", os.devnull],
                         check=True, capture_output=True, text=True).stdout
    macros = {line.split()[1] for line in out.splitlines() if line.startswith("#define ")}
    return sorted(name for macro, name in _MACRO_TO_NUMPY.items() if macro in macros)


class BuildExt(build_ext):
    """pybind11's build_ext, plus the record of the CPU features the extension needs."""

    def _target_file(self):
        return os.path.join(os.path.dirname(self.get_ext_fullpath("fastmc._core")), "_core_target.json")

    def run(self):
        super().run()
        if not self.extensions:
            return
        arch = _arch()
        cmd = self.compiler.compiler_so
        # the compiler itself and any wrapper before it ("ccache gcc"), without the build's flags
        n = next((i for i, a in enumerate(cmd) if a.startswith("-")), len(cmd))
        requires = _required_features(cmd[:n], arch) if arch else []
        with open(self._target_file(), "w") as f:
            json.dump({"march": arch, "requires": requires}, f, indent=1)
            f.write("\n")

    def get_outputs(self):  # so that editable installs and wheels carry the file
        return super().get_outputs() + ([self._target_file()] if self.extensions else [])


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
setup(ext_modules=[ext] if build else [], cmdclass={"build_ext": BuildExt})
