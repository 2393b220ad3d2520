"""Build script for seqkit's compiled extension (``seqkit._C``).

Metadata lives in pyproject.toml. This file only adds the C++ (and, where torch has
CUDA and nvcc is present, CUDA) extension built from ``csrc/``. Installation never
requires a compiler: without one (or with ``SEQKIT_NO_EXTENSION=1``) the package
installs without ``seqkit._C`` and falls back at run time (see ``seqkit/ops/``).
"""
import os
import shutil
import sys

from setuptools import setup


def extensions():
    """Return (ext_modules, cmdclass); empty when there is nothing to build.

    Never makes the install fail: without torch's build helpers, without a C++ compiler,
    with ``SEQKIT_NO_EXTENSION=1``, or when the build itself fails, it prints one line
    saying why and installs the package without ``seqkit._C``.
    """
    if os.environ.get("SEQKIT_NO_EXTENSION", "") not in ("", "0"):
        print("seqkit: SEQKIT_NO_EXTENSION is set; not building seqkit._C (pure-PyTorch ops)")
        return [], {}
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except Exception as exc:  # torch missing from the build environment
        print(f"seqkit: torch is not importable at build time ({exc}); not building seqkit._C"
              " (install with pip install --no-build-isolation)")
        return [], {}
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        print(f"seqkit: no C++ compiler ({compiler!r}) found; not building seqkit._C (pure-PyTorch ops)")
        return [], {}
    here = os.path.dirname(os.path.abspath(__file__))
    # seqkit/ops/extension.py knows csrc/'s layout (csrc/README.md): the sources of the CPU
    # build and of the CUDA build, and the source hash that tells a stale build; it is
    # loaded on its own (stdlib only at import), since the package's dependencies may not
    # be importable at build time
    import importlib.util

    spec = importlib.util.spec_from_file_location("_seqkit_extension", os.path.join(here, "seqkit", "ops", "extension.py"))
    layout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layout)
    # relative to setup.py's folder (extension.py resolves links in its paths)
    sources = [os.path.relpath(p, os.path.realpath(here)) for p in layout._sources()]
    if not sources:
        print("seqkit: no C++ sources under csrc/; not building seqkit._C")
        return [], {}

    class OptionalBuildExtension(BuildExtension):
        """BuildExtension (ninja) whose failure leaves a working pure-Python install."""

        def run(self):
            try:
                super().run()
            except Exception as exc:  # compiler error, missing headers, ...
                line = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
                print(f"seqkit: building seqkit._C failed ({line}); installing without it")

    # at::parallel_for only forks when compiled with OpenMP (GNU: torch's own libgomp is reused)
    openmp = ["-fopenmp"] if sys.platform.startswith("linux") else []
    # the source hash lets seqkit/ops/extension.py detect a stale in-place build
    define_macros = [("SEQKIT_SOURCE_HASH", layout.source_hash())]
    cxx_flags = ["-O3", "-g0", "-fno-trapping-math", "-fno-math-errno"] + openmp
    cuda_sources = _cuda_sources(here, layout)
    if cuda_sources:
        from torch.utils.cpp_extension import CUDAExtension

        print(f"seqkit: torch has CUDA and nvcc is present; building seqkit._C with the CUDA kernels "
              f"({', '.join(cuda_sources)})")
        ext = CUDAExtension(
            "seqkit._C",
            sources + cuda_sources,
            define_macros=define_macros + [("SEQKIT_WITH_CUDA", "1")],
            # no fast-math on the device: the kernels must match torch.nn.GRU to 1e-4
            extra_compile_args={"cxx": cxx_flags, "nvcc": ["-O3", "-lineinfo"]},
            extra_link_args=openmp,
        )
        return [ext], {"build_ext": OptionalBuildExtension}
    ext = CppExtension(
        "seqkit._C",
        sources,
        define_macros=define_macros,
        extra_compile_args=cxx_flags,
        extra_link_args=openmp,
    )
    return [ext], {"build_ext": OptionalBuildExtension}


def _cuda_sources(here, layout):
    """The CUDA kernels and launchers (csrc/kernels/cuda/*.cu, csrc/torch/cuda/*.cpp: what
    ``layout._cuda_sources()`` lists) when torch has CUDA and nvcc is found, else [].

    ``SEQKIT_NO_CUDA=1`` forces the CPU-only build. The CPU build never sees them.
    """
    if os.environ.get("SEQKIT_NO_CUDA", "") not in ("", "0"):
        print("seqkit: SEQKIT_NO_CUDA is set; building the CPU ops only")
        return []
    try:
        import torch
        from torch.utils.cpp_extension import CUDA_HOME
    except Exception:
        return []
    if not getattr(torch.version, "cuda", None):
        return []
    nvcc = os.path.join(CUDA_HOME, "bin", "nvcc") if CUDA_HOME else None
    if not (nvcc and os.path.isfile(nvcc)) and shutil.which("nvcc") is None:
        print(f"seqkit: torch has CUDA {torch.version.cuda} but nvcc was not found (CUDA_HOME="
              f"{CUDA_HOME!r}); building the CPU ops only")
        return []
    if not CUDA_HOME:
        print("seqkit: nvcc is on PATH but torch found no CUDA_HOME; set CUDA_HOME to build the "
              "CUDA ops; building the CPU ops only")
        return []
    return [os.path.relpath(p, os.path.realpath(here)) for p in layout._cuda_sources()]


ext_modules, cmdclass = extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
