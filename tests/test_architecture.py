"""The import rules of docs/architecture.md, checked with import-linter against the contracts in
pyproject.toml ([tool.importlinter])."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_code_keeps_every_import_contract():
    result = _lint_imports(REPO / "pyproject.toml")
    broken = result.stdout.partition("Broken contracts")[2] or result.stdout + result.stderr
    assert result.returncode == 0, f"import contracts broken:\n{broken}"


def test_a_broken_contract_fails_the_check(tmp_path):
    # web imports services on purpose; a contract forbidding it must be reported as broken.
    config = tmp_path / "contracts.toml"
    config.write_text(
        "[tool.importlinter]\n"
        'root_packages = ["mirror"]\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "web without services"\n'
        'type = "forbidden"\n'
        'source_modules = ["mirror.web"]\n'
        'forbidden_modules = ["mirror.services"]\n'
    )
    result = _lint_imports(config)
    assert result.returncode != 0
    assert "web without services BROKEN" in result.stdout
