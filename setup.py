"""The one installed import package, `chaos_eval`, mapped from the repository's folders.

The repository keeps its rooms at the top (eval/, chaos/, subjects/, compose/, campaigns/);
installed, they become one package so nothing clashes with PyPI's `eval` or `chaos`:

    eval/       -> chaos_eval             compose/    -> chaos_eval.compose   (data)
    chaos/      -> chaos_eval.chaos       campaigns/  -> chaos_eval.campaigns (data)
    subjects/   -> chaos_eval.subjects

Packages are found from the folders (every folder with an __init__.py), so a new room needs
no edit here. Everything else is in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
CODE = {"chaos_eval": "eval", "chaos_eval.chaos": "chaos", "chaos_eval.subjects": "subjects"}
DATA = {  # package -> (folder, file patterns shipped with it)
    "chaos_eval.compose": ("compose", ["*.yml", "*/*"]),
    "chaos_eval.campaigns": ("campaigns", ["*.yaml", "*.json"]),
    "chaos_eval.chaos.helper": ("chaos/helper", ["*.py"]),  # stdlib programs for helpers
}


def code_packages() -> dict[str, str]:
    found: dict[str, str] = {}
    for name, folder in CODE.items():
        for init in sorted((HERE / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(HERE / folder)
            found[".".join([name, *rel.parts])] = init.parent.relative_to(HERE).as_posix()
    return found


packages = code_packages()
package_dir = {**packages, **{name: folder for name, (folder, _) in DATA.items()}}
setup(
    packages=sorted(package_dir),
    package_dir=package_dir,
    package_data={"chaos_eval": ["py.typed"], **{n: pats for n, (_, pats) in DATA.items()}},
)
