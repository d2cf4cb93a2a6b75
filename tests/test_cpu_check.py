"""A wheel's extension built for x86-64-v3 on a CPU without AVX2/FMA: never imported, "auto" falls
back to Numba with a warning saying why, and available_backends() says so. The CPU is simulated:
the check's inputs (the build record and NumPy's feature table) are given to it."""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastmc
from fastmc import _backends
from fastmc._backends import _cpu

V3 = {"march": "x86-64-v3", "requires": ["AVX", "AVX2", "BMI", "BMI2", "F16C", "FMA3", "LZCNT", "MOVBE",
                                         "POPCNT", "SSE3", "SSE41", "SSE42", "SSSE3"]}
# a Sandy Bridge-class CPU: AVX but neither AVX2 nor FMA
OLD_CPU = {f: True for f in V3["requires"]} | {"AVX2": False, "FMA3": False, "BMI": False, "BMI2": False}


def test_missing_features_lists_only_what_the_cpu_lacks():
    assert _cpu.missing_features(V3["requires"], {f: True for f in V3["requires"]}) == []
    assert _cpu.missing_features(V3["requires"], OLD_CPU) == ["AVX2", "BMI", "BMI2", "FMA3"]
    # a feature this NumPy does not report cannot be checked: not counted missing
    assert _cpu.missing_features(["AVX2", "NEWTHING"], {"AVX2": True}) == []


def test_reason_names_the_level_and_the_missing_features():
    reason = _cpu.unsupported_reason(V3, OLD_CPU)
    assert "x86-64-v3" in reason and "AVX2" in reason and "FMA3" in reason and "illegal instruction" in reason
    assert _cpu.unsupported_reason(V3, {f: True for f in V3["requires"]}) is None
    # nothing recorded (extension built another way, or not x86): nothing to check
    assert _cpu.unsupported_reason({}, OLD_CPU) is None
    assert _cpu.unsupported_reason({"march": None, "requires": []}, OLD_CPU) is None


def test_build_info_reads_the_record_and_tolerates_its_absence(tmp_path):
    assert _cpu.build_info(tmp_path / "absent.json") is None
    (tmp_path / "t.json").write_text(json.dumps(V3))
    assert _cpu.build_info(tmp_path / "t.json") == V3
    (tmp_path / "bad.json").write_text("{not json")
    assert _cpu.build_info(tmp_path / "bad.json") is None


def test_the_real_cpu_features_are_read():
    feats = _cpu.cpu_features()
    assert isinstance(feats, dict) and feats  # NumPy >= 1.24 reports them on every platform


def test_unsupported_cpu_never_imports_the_extension(monkeypatch):
    def fail(name):  # an import here would be the SIGILL on a real old CPU
        raise AssertionError(f"{name} imported although the CPU check failed")

    monkeypatch.setattr(_backends.importlib, "import_module", fail)
    core, err, reason = _backends._load_core(_cpu.unsupported_reason(V3, OLD_CPU))
    assert core is None and reason and err == reason


@pytest.fixture
def old_cpu(monkeypatch):
    """This process as it would be on OLD_CPU with a v3 wheel."""
    reason = _cpu.unsupported_reason(V3, OLD_CPU)
    monkeypatch.setattr(_backends, "_core", None)
    monkeypatch.setattr(_backends, "_CORE_ERROR", reason)
    monkeypatch.setattr(_backends, "_CPU_REASON", reason)
    monkeypatch.setattr(_backends, "_cpu_warned", False)
    monkeypatch.delenv("FASTMC_BACKEND", raising=False)
    return reason


def test_auto_falls_back_to_numba_with_one_warning(old_cpu):
    assert fastmc.available_backends() == ("numba",)
    with pytest.warns(RuntimeWarning, match="AVX2.*FMA3"):
        assert _backends.resolve_backend("auto") == "numba"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process, not once per call
        assert _backends.resolve_backend("auto") == "numba"


def test_explicit_cpp_is_an_error_that_says_why(old_cpu):
    with pytest.raises(RuntimeError, match="AVX2"):
        _backends.resolve_backend("cpp")


def test_a_sampler_runs_on_numba(old_cpu):
    with pytest.warns(RuntimeWarning, match="Numba backend"):
        r = fastmc.rwmh(fastmc.default_mixture(), np.zeros(2), 200, scale=1.0, chains=2, seed=1, progress=False)
    assert r.backend == "numba" and np.isfinite(r.draws).all()


def test_a_fresh_process_on_a_simulated_old_cpu(tmp_path):
    """End to end, as an installed wheel meets the CPU at import: NumPy's feature table patched
    to lack AVX2/FMA before fastmc is imported; skipped where the extension has no build record
    (built outside setup.py) or needs none of those features."""
    info = _cpu.build_info()
    if not info or not {"AVX2", "FMA3"} & set(info.get("requires") or ()):
        pytest.skip("the extension records no AVX2/FMA requirement here")
    code = """
import sys
try:
    from numpy._core import _multiarray_umath as m
except ImportError:
    from numpy.core import _multiarray_umath as m
m.__cpu_features__.update(AVX2=False, FMA3=False)
import warnings, fastmc
assert "fastmc._core" not in sys.modules, "the extension was imported"
assert fastmc.available_backends() == ("numba",), fastmc.available_backends()
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    from fastmc import _backends   # what every sampler and diagnostic asks (no Numba compile here)
    assert _backends.resolve_backend("auto") == "numba"
assert any("AVX2" in str(x.message) for x in w), [str(x.message) for x in w]
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
