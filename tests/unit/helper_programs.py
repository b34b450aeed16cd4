"""Load one of the stdlib programs under chaos/helper/ (they run inside helper containers, not
as part of the package) as a module, so unit tests can call its functions. Importing one
must have no side effects."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HELPER_DIR = Path(__file__).resolve().parents[2] / "chaos" / "helper"


def load_helper_program(name: str) -> ModuleType:
    """chaos/helper/<name>.py as the module chaos_eval_<name>."""
    spec = importlib.util.spec_from_file_location(f"chaos_eval_{name}", HELPER_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
