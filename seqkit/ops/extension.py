"""Find or build seqkit's compiled extension (``seqkit._C``).

Order: the installed ``seqkit._C`` (built by ``pip install``) unless, in a source checkout,
it was built from other sources than the current ``csrc/`` (a stale in-place build: it
is then not imported); else, in a source checkout
that has ``csrc/``, a one-time build with ``torch.utils.cpp_extension.load`` (ninja) into
``$SEQKIT_CACHE`` (default ``~/.cache/seqkit``), in a folder keyed by a hash of the
sources, the torch version and the Python version; else nothing (``seqkit.ops`` then
uses its pure-PyTorch reference implementation). Only :mod:`seqkit.ops.runtime` calls this,
and setup.py (for :func:`source_hash`, loading this file on its own).
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Optional, Tuple

CSRC = Path(__file__).resolve().parents[2] / "csrc"


def cache_dir() -> Path:
    """The folder JIT builds go to: ``$SEQKIT_CACHE`` or ``~/.cache/seqkit``."""
    from seqkit.environment import cache_dir as root  # not at import: setup.py loads this file alone

    return Path(root())


# csrc/ (see csrc/README.md): torch-free kernels in kernels/, ATen launchers and the op
# registration in torch/; what only a CUDA build compiles lies in a folder named cuda/
# (kernels/cuda/*.cu, torch/cuda/*.cpp). CPU kernels are headers included by the launchers.
_HASHED_SUFFIXES = (".c", ".cc", ".cpp", ".cu", ".cuh", ".h", ".hpp")


def _csrc_files(suffixes) -> list:
    """Files under csrc/ (recursively) with one of the suffixes, sorted by relative path."""
    if not CSRC.is_dir():
        return []
    files = [p for p in CSRC.rglob("*") if p.is_file() and p.suffix in suffixes]
    return sorted(files, key=lambda p: p.relative_to(CSRC).as_posix())


def _is_cuda_only(path: Path) -> bool:
    return "cuda" in path.relative_to(CSRC).parts[:-1]


def _sources() -> list:
    """C++ sources of the CPU build: every ``.cpp`` under csrc/ outside a ``cuda/`` folder."""
    return [p for p in _csrc_files((".cpp",)) if not _is_cuda_only(p)]


def _cuda_sources() -> list:
    """Sources that only a CUDA build compiles: every ``.cu`` (the kernels) and the ``.cpp``
    files in ``cuda/`` folders (their launchers); setup.py adds them to ``_sources()``."""
    return [p for p in _csrc_files((".cpp", ".cu")) if p.suffix == ".cu" or _is_cuda_only(p)]


def source_hash() -> str:
    """Hash of csrc/ (every source and header, CUDA ones included, found recursively, by
    relative path and content, in path order), the torch version and the Python version."""
    import torch

    h = hashlib.sha256()
    for path in _csrc_files(_HASHED_SUFFIXES):
        data = path.read_bytes()
        h.update(f"{path.relative_to(CSRC).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    h.update(torch.__version__.encode())
    h.update(sys.version.encode())
    return h.hexdigest()[:16]


def built_hash(path: str) -> Optional[str]:
    """The source hash embedded in a built extension (without importing it), or None."""
    import mmap

    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            marker = b"SEQKIT_SOURCE_HASH="
            i = m.find(marker)
            if i < 0:
                return None
            j = m.find(b";", i, i + 100)
            return m[i + len(marker):j].decode("ascii", "replace") if j > 0 else None
    except OSError:
        return None


def _jit_build() -> ModuleType:
    import shutil

    import torch.utils.cpp_extension as cpp

    digest = source_hash()
    name = "seqkit_C_" + digest
    build_dir = cache_dir() / "ext" / name
    failed = build_dir / "FAILED"
    if failed.is_file():
        raise RuntimeError(f"{failed.read_text().strip()} (an earlier build; delete {build_dir} to retry)")
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise RuntimeError(f"no C++ compiler ({compiler!r}) on PATH")
    if not cpp.is_ninja_available():
        raise RuntimeError("ninja is not installed (pip install ninja)")
    build_dir.mkdir(parents=True, exist_ok=True)
    if not any(build_dir.glob(name + "*.so")):
        print(f"seqkit: building the C++ ops once into {build_dir} (about a minute)", file=sys.stderr)
    try:
        return _load(cpp, name, build_dir, digest)
    except Exception as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()]
        reason = (errors or lines or [type(exc).__name__])[0]
        try:
            failed.write_text(f"building csrc/ failed: {reason}\n")
        except OSError:
            pass
        raise RuntimeError(f"building csrc/ failed: {reason}") from exc


def _load(cpp, name, build_dir, digest):
    # at::parallel_for only forks when compiled with OpenMP (GNU: torch's own libgomp is reused)
    openmp = ["-fopenmp"] if sys.platform.startswith("linux") else []
    return cpp.load(
        name=name,
        sources=[str(p) for p in _sources()],
        build_directory=str(build_dir),
        extra_cflags=["-O3", "-fno-trapping-math", "-fno-math-errno", f"-DSEQKIT_SOURCE_HASH={digest}"] + openmp,
        extra_ldflags=openmp,
        verbose=False,
    )


def load() -> Tuple[Optional[ModuleType], str]:
    """Return (module, how) or (None, why not)."""
    import importlib.util

    checkout = CSRC.is_dir() and bool(_sources())
    try:
        spec = importlib.util.find_spec("seqkit._C")
    except (ImportError, ValueError):
        spec = None
    installed_error = "no seqkit._C"
    if spec is not None and spec.origin:
        stale = checkout and built_hash(spec.origin) != source_hash()
        if stale:
            installed_error = "seqkit._C is stale"
            print(f"seqkit: {spec.origin} was built from older csrc/ sources; using a build of the "
                  "current ones (reinstall with pip install --no-build-isolation -e . to refresh it)",
                  file=sys.stderr)
        else:
            try:
                from seqkit import _C  # type: ignore[attr-defined]

                return _C, "installed seqkit._C"
            except ImportError as exc:
                installed_error = str(exc)
    if not checkout:
        return None, f"seqkit._C is not installed ({installed_error}) and there is no csrc/ to build it from"
    try:
        return _jit_build(), "built from csrc/ with torch.utils.cpp_extension.load"
    except Exception as exc:  # no compiler, no ninja, build error
        return None, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
