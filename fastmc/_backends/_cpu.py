"""Is this CPU able to run the compiled extension?

A wheel's ``fastmc._core`` is compiled for x86-64-v3 (AVX2 + FMA): on an older CPU its first
vector instruction kills the process with SIGILL, which no ``try``/``except`` catches. So the
check runs *before* the import. ``setup.py`` writes ``_core_target.json`` next to the extension
at build time (the ``-march`` level and the instruction-set extensions the compiler enabled for
it, as NumPy names them); here we compare that list with the CPU's features as NumPy's runtime
dispatch detected them (which also accounts for the operating system enabling AVX state).

No file (an extension built some other way) or an empty list means nothing to check.
"""
from __future__ import annotations

import json
from pathlib import Path

BUILD_INFO = Path(__file__).resolve().parents[1] / "_core_target.json"


def build_info(path: Path = BUILD_INFO) -> dict | None:
    """The extension's recorded target (``{"march": ..., "requires": [...]}``), or None."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def cpu_features() -> dict[str, bool]:
    """The CPU features NumPy detected at import (``{"AVX2": True, ...}``); empty if unknown."""
    try:  # NumPy >= 2
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # pragma: no cover - NumPy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return {}
    return dict(__cpu_features__)


def missing_features(required, features) -> list[str]:
    """The required features the CPU lacks. A feature this NumPy does not report is not counted
    missing: it cannot be checked, and refusing the extension for it would be a guess."""
    return [f for f in required if f in features and not features[f]]


def unsupported_reason(info=None, features=None) -> str | None:
    """Why this CPU cannot run the extension, or None when it can (or nothing says otherwise)."""
    info = build_info() if info is None else info
    if not info or not info.get("requires"):
        return None
    features = cpu_features() if features is None else features
    missing = missing_features(info["requires"], features)
    if not missing:
        return None
    return (f"the C++ extension fastmc._core was compiled for -march={info.get('march', '?')}, "
            f"and this CPU lacks {', '.join(missing)}; importing it would crash the process "
            "(illegal instruction). Reinstall from source (pip install --no-binary fastmc fastmc) "
            "for a build that targets this CPU")
