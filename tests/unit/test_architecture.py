"""The layering rules of DESIGN.md, checked on the source: arrows point inwards only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def imported_packages(path: Path) -> set[str]:
    """Top-level names of everything a module imports (relative imports excluded)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((SRC / "domain").glob("*.py")), ids=lambda p: p.name)
def test_the_domain_imports_only_the_standard_library_and_pydantic(path: Path) -> None:
    allowed = set(sys.stdlib_module_names) | {"pydantic", "__future__", "domain"}
    assert imported_packages(path) - allowed == set()


MAX_LINES = 350  # a module longer than this does more than one job (issue 14)


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_of_the_lambda_code_is_longer_than_350_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


@pytest.mark.parametrize("path", sorted((SRC / "adapters").glob("*.py")), ids=lambda p: p.name)
def test_adapters_never_import_handlers(path: Path) -> None:
    assert "handlers" not in imported_packages(path)


@pytest.mark.parametrize("path", sorted((SRC / "handlers").glob("*.py")), ids=lambda p: p.name)
def test_handlers_import_no_boto3_at_module_level(path: Path) -> None:
    """Clients are made in the composition root on first use, so importing a handler stays cheap."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {
        alias.name.split(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert not top_level & {"boto3", "botocore"}


def test_the_webhooks_cold_start_imports_only_what_its_hot_path_calls() -> None:
    """No event handler, no other function's use cases, and no pydantic validator built at import."""
    code = (
        "import sys, handlers.webhook, pydantic._internal._mock_val_ser as mock\n"
        "from domain.models import Pipeline\n"
        "print(sorted(m for m in sys.modules if m.startswith(('aws_lambda_powertools.event_handler', "
        "'domain.management', 'domain.workflow', 'domain.runs', 'asyncio'))))\n"
        "print(isinstance(Pipeline.__pydantic_validator__, mock.MockValSer))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=SRC, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.splitlines() == ["[]", "True"], done.stderr
