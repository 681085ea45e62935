"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package that re-exports its submodules' names eagerly makes importing any one submodule import
them all (pandas, xarray, scipy, LightGBM): the CLI would pay seconds to report a config error.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_reexports(
    package: str, names_by_submodule: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``, which re-exports each name in
    ``names_by_submodule[submodule]`` from ``package.submodule``, importing it on first use."""
    submodule_of = {name: module for module, names in names_by_submodule.items() for name in names}
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:  # noqa: N807 (the module hook's name)
        module = submodule_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*namespace, *submodule_of})

    return __getattr__, __dir__, list(submodule_of)
