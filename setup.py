"""Build script for seqkit's compiled extension (``seqkit._C``).

Metadata lives in pyproject.toml. This file only adds the C++ (and, where torch has
CUDA and nvcc is present, CUDA) extension built from ``csrc/``. Installation never
requires a compiler: without one (or with ``SEQKIT_NO_EXTENSION=1``) the package
installs without ``seqkit._C`` and falls back at run time (see ``seqkit/ops/``).
"""
import glob
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
    sources = sorted(os.path.relpath(p, here) for p in glob.glob(os.path.join(here, "csrc", "*.cpp")))
    if not sources:
        print("seqkit: no csrc/*.cpp; not building seqkit._C")
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
    import importlib.util

    spec = importlib.util.spec_from_file_location("_seqkit_extension", os.path.join(here, "seqkit", "ops", "extension.py"))
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    define_macros = [("SEQKIT_SOURCE_HASH", helper.source_hash())]
    cxx_flags = ["-O3", "-g0", "-fno-trapping-math", "-fno-math-errno"] + openmp
    cuda_sources = _cuda_sources(here)
    if cuda_sources:
        from torch.utils.cpp_extension import CUDAExtension

        print(f"seqkit: torch has CUDA and nvcc is present; building seqkit._C with the CUDA kernels "
              f"({len(cuda_sources)} files in csrc/cuda/)")
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


def _cuda_sources(here):
    """csrc/cuda/*.cu + csrc/cuda/*.cpp when torch has CUDA and nvcc is found, else [].

    ``SEQKIT_NO_CUDA=1`` forces the CPU-only build. The CPU build never sees csrc/cuda/.
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
    files = glob.glob(os.path.join(here, "csrc", "cuda", "*.cu")) + glob.glob(
        os.path.join(here, "csrc", "cuda", "*.cpp"))
    return sorted(os.path.relpath(p, here) for p in files)


ext_modules, cmdclass = extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
