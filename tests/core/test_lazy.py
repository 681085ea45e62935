"""``pestcast.features`` and ``pestcast.models`` re-export their submodules' names lazily: each
name resolves to its submodule's object, the names type checkers see are the names served, and
importing one submodule leaves the others unloaded."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = ("pestcast.features", "pestcast.models")


def _type_checking_names(package: str) -> set[str]:
    """The names imported under ``if TYPE_CHECKING:`` in the package's ``__init__.py``."""
    source = Path(importlib.import_module(package).__file__ or "").read_text(encoding="utf-8")
    (block,) = (
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    return {
        alias.asname or alias.name
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_every_reexported_name_is_its_submodules_object(package: str) -> None:
    module = importlib.import_module(package)
    assert set(module.__all__) == _type_checking_names(package)
    for name in module.__all__:
        value = getattr(module, name)
        owner = getattr(value, "__module__", None)
        if owner is not None and owner.startswith(package):
            assert getattr(importlib.import_module(owner), name) is value, name
    assert set(module.__all__) <= set(dir(module))


@pytest.mark.parametrize("package", PACKAGES)
def test_an_unknown_name_is_an_attribute_error(package: str) -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = importlib.import_module(package).no_such_name


def test_importing_one_submodule_loads_no_other() -> None:
    probe = (
        "import sys, pestcast.features.settings, pestcast.models.settings;"
        "print(sorted(m for m in sys.modules if m.startswith('pestcast.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(ast.literal_eval(done.stdout))
    assert loaded == {
        "pestcast.core",
        "pestcast.core.atomic",
        "pestcast.core.errors",
        "pestcast.core.lazy",
        "pestcast.features",
        "pestcast.features.settings",
        "pestcast.models",
        "pestcast.models.settings",
    }
