"""``munivideo adapter new``: the generated distributions install, lint, type-check and pass
their own generated tests (the ERP one runs the acceptance suite against the sandbox ERP)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from munivideo.cli import main
from munivideo.errors import ConfigurationError
from munivideo.scaffold import names_for, scaffold

BIN = Path(sys.executable).parent
KINDS = {"erp": "acme", "video": "acme-meet", "notifier": "acme-hook"}


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """All three kinds scaffolded with the CLI and installed into a throwaway target folder
    (``pip install --target``: the shared venv is left untouched)."""
    root = tmp_path_factory.mktemp("adapters")
    (root / "pytest.ini").write_text("[pytest]\n")  # one rootdir for the three distributions
    runner = CliRunner()
    for kind, name in KINDS.items():
        result = runner.invoke(main, ["adapter", "new", name, "--kind", kind, "--dir", str(root)])
        assert result.exit_code == 0, result.output
    target = tmp_path_factory.mktemp("site")
    dists = [str(root / f"munivideo-{name}") for name in KINDS.values()]
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            *dists,
        ],
        cwd=root,
    )
    return root, target


def test_layout_and_entry_point(generated: tuple[Path, Path]) -> None:
    root, target = generated
    dist = root / "munivideo-acme"
    meta = tomllib.loads((dist / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["munivideo"] == {"acme": "munivideo_acme"}
    assert "munivideo" in meta["project"]["dependencies"]
    for relative in ("src/munivideo_acme/py.typed", "src/munivideo_acme/mapping.toml", "README.md"):
        assert (dist / relative).is_file(), relative
    assert (
        "class TestAcmeErpAdapter(ErpAdapterAcceptanceSuite):"
        in (dist / "tests" / "test_acceptance.py").read_text()
    )
    assert (target / "munivideo_acme" / "py.typed").is_file()


@pytest.mark.slow
def test_generated_tests_pass(generated: tuple[Path, Path]) -> None:
    root, target = generated
    # Only munivideo's pytest plugin (sandbox fixtures): other installed pytest plugins cost
    # seconds of start-up and are not part of what an adapter's tests need. One run for the three
    # distributions (importlib mode: each has its own ``tests`` package).
    env = {**os.environ, "PYTHONPATH": str(target), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("MUNIVIDEO_LOAD_PLUGINS", None)
    dists = [f"munivideo-{name}/tests" for name in KINDS.values()]
    args = ["-p", "munivideo.testing", "-p", "no:cacheprovider", "--import-mode=importlib"]
    args += ["--rootdir", str(root), "-c", str(root / "pytest.ini")]
    out = _run([sys.executable, "-m", "pytest", "-rA", *args, *dists], root, env)
    passed = {line.split("::")[0] for line in out.splitlines() if line.startswith("PASSED ")}
    assert passed == {
        "PASSED munivideo-acme/tests/test_acceptance.py",
        "PASSED munivideo-acme-meet/tests/test_conformance.py",
        "PASSED munivideo-acme-hook/tests/test_conformance.py",
    }, out
    # The ERP one is the whole acceptance suite against the sandbox ERP.
    acceptance = [line for line in out.splitlines() if "TestAcmeErpAdapter::" in line]
    assert len(acceptance) >= 20, out
    assert " failed" not in out and " skipped" not in out, out


@pytest.mark.slow
def test_generated_code_is_ruff_and_mypy_strict_clean(generated: tuple[Path, Path]) -> None:
    root, _ = generated
    for name in KINDS.values():
        dist = root / f"munivideo-{name}"
        _run([str(BIN / "ruff"), "check", "--no-cache", "."], dist)
        _run([str(BIN / "ruff"), "format", "--check", "--no-cache", "."], dist)
        _run(
            [str(BIN / "mypy"), "--strict", "--cache-dir", str(root / ".mypy"), "src", "tests"],
            dist,
        )


def test_names() -> None:
    names = names_for("munivideo-prefeitura-x", "erp")
    assert (names.name, names.dist, names.pkg, names.cls) == (
        "prefeitura-x",
        "munivideo-prefeitura-x",
        "munivideo_prefeitura_x",
        "PrefeituraXErpAdapter",
    )
    assert names_for("zoom", "video").cls == "ZoomVideoProvider"
    for bad in ("Acme", "acme_erp", "1acme", "acme--x", ""):
        with pytest.raises(ConfigurationError):
            names_for(bad, "erp")


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    scaffold("acme", "notifier", tmp_path)
    with pytest.raises(ConfigurationError, match="already exists"):
        scaffold("acme", "notifier", tmp_path)
    result = CliRunner().invoke(
        main, ["adapter", "new", "acme", "--kind", "notifier", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert scaffold("acme", "notifier", tmp_path, force=True).is_dir()
