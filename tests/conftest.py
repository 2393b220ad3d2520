"""Shared fixtures: the real name2lang data, the installed test plugin, a CLI runner.

Markers (registered in pyproject.toml): ``slow`` (trains or runs seqkit in a subprocess),
``install`` (pip-installs a package), ``cuda`` (given here to every test that uses the
``cuda_ops`` fixture: it needs a CUDA device). The inner loop is
``pytest -m "not slow and not install"``; CI runs everything.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def names_dir() -> Path | None:
    """The real name2lang data: $SEQKIT_DATA, else ../shared/data/names beside the checkout."""
    env = os.environ.get("SEQKIT_DATA")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data" / "names"]:
        if cand.is_dir() and any(cand.glob("*.txt")):
            return cand.resolve()
    return None


@pytest.fixture(scope="session")
def names_path() -> Path:
    path = names_dir()
    if path is None:
        pytest.skip("needs the name2lang data: set SEQKIT_DATA or place ../shared/data/names beside the checkout")
    return path


@pytest.fixture(scope="session")
def name2lang(names_path):
    from seqkit import registry

    return registry.datasets.create("name2lang", path=str(names_path))


def run_seqkit(*args: str, env: dict | None = None, cwd: str | None = None, timeout: int = 600,
               input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real ``seqkit`` command in a subprocess (``python -m seqkit``)."""
    full_env = dict(os.environ)
    full_env.pop("SEQKIT_STRICT_PLUGINS", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "seqkit", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout, input=input)


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """tests/plugin_pkg really installed (pip, entry points and all) into a private site dir."""
    site = tmp_path_factory.mktemp("plugin-site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(site), str(ROOT / "tests" / "plugin_pkg")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert list(site.glob("seqkit_testplugin-0.3.1.dist-info/entry_points.txt"))
    return site


@pytest.fixture
def plugin_env(plugin_site) -> dict:
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(plugin_site) + (os.pathsep + path if path else "")}


@pytest.fixture
def fresh_registry():
    """Reset the registries before and after a test that registers things in-process."""
    from seqkit import registry

    registry.reset()
    yield registry
    registry.reset()


@pytest.fixture(params=["cpp", "reference"])
def backend(request, monkeypatch):
    """Run a test once with the compiled ops and once with the pure-PyTorch reference."""
    from seqkit import ops

    monkeypatch.setenv("SEQKIT_BACKEND", request.param)
    if request.param == "cpp":
        try:
            ops.backend()
        except RuntimeError as exc:
            pytest.skip(f"compiled ops unavailable: {exc}")
    return request.param


def cpp_available() -> bool:
    """Whether the compiled ops load (SEQKIT_BACKEND=auto)."""
    from seqkit import ops

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQKIT_BACKEND", "auto")
        return ops.backend() == "cpp"


@pytest.fixture(scope="session")
def names_subset(names_path, tmp_path_factory) -> Path:
    """Every 5th real name2lang name, as a name,language file (about 4,000 names)."""
    path = tmp_path_factory.mktemp("subset") / "names.txt"
    lines = [f"{n.strip()},{f.stem}" for f in sorted(names_path.glob("*.txt"))
             for i, n in enumerate(f.read_text(encoding="utf-8").splitlines()) if i % 5 == 0 and n.strip()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wait_for_state(out: Path, proc: subprocess.Popen, timeout: float = 180) -> None:
    """Wait until the run writing ``out`` has saved its first ``state.pt`` (it must not end first)."""
    import time

    deadline = time.time() + timeout
    while not (out / "state.pt").exists():
        assert proc.poll() is None, f"run ended before its first checkpoint: {proc.stderr.read()}"
        assert time.time() < deadline, "no state.pt appeared"
        time.sleep(0.02)


def pytest_collection_modifyitems(config, items):
    """Tests that need the CUDA kernels on a device (the ``cuda_ops`` fixture) are ``cuda``."""
    for item in items:
        if "cuda_ops" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cuda)
