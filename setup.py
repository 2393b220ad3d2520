"""Build script for seqkit's compiled extension (``seqkit._C``).

Metadata lives in pyproject.toml. This file only adds the C++ (and, where torch has
CUDA and nvcc is present, CUDA) extension built from ``csrc/``. Installation never
requires a compiler: without one (or with ``SEQKIT_NO_EXTENSION=1``) the package
installs without ``seqkit._C`` and falls back at run time (see ``seqkit/ops.py``).
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
    # the source hash lets seqkit/_extension.py detect a stale in-place build
    import importlib.util

    spec = importlib.util.spec_from_file_location("_seqkit_extension", os.path.join(here, "seqkit", "_extension.py"))
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    ext = CppExtension(
        "seqkit._C",
        sources,
        define_macros=[("SEQKIT_SOURCE_HASH", helper.source_hash())],
        extra_compile_args=["-O3", "-g0", "-fno-trapping-math", "-fno-math-errno"] + openmp,
        extra_link_args=openmp,
    )
    return [ext], {"build_ext": OptionalBuildExtension}


ext_modules, cmdclass = extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
