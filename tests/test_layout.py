"""The layout of ``helpers/`` (CONTRIBUTING.md): three tiers, modules of a readable size, and no
module that reaches into another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers.config import repo_root

HELPERS = repo_root() / "helpers"
EXPERIMENT_LINES = 450  # an experiments module, at most
MODULE_LINES = 600  # any helpers module, at most


def _modules() -> list[Path]:
    return sorted(HELPERS.rglob("*.py"))


def _name(path: Path) -> str:
    """``helpers/data/sets.py`` -> ``helpers.data.sets``; a package's ``__init__`` -> the package."""
    parts = path.relative_to(HELPERS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _imported_helpers(tree: ast.Module, package: str) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every import of a helpers module in ``tree`` (relative imports resolved
    against ``package``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            if module == "helpers" or module.startswith("helpers."):
                found.append((module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names if alias.name.startswith("helpers")]
    return found


def test_the_three_tiers_are_there():
    assert (HELPERS / "experiments" / "__init__.py").exists()
    assert (HELPERS / "tools" / "__init__.py").exists()
    assert {"batch.py", "generate.py"} <= {p.name for p in (HELPERS / "tools").glob("*.py")}
    for core in ("ssim.py", "local_stats.py", "losses.py", "fid.py", "stats.py", "train.py", "results.py"):
        assert (HELPERS / core).exists(), core
    for package in ("data", "models"):
        assert (HELPERS / package / "__init__.py").exists(), package
    flat = {p.stem for p in HELPERS.glob("*.py")}
    assert not flat & {"batch", "generate", "overfitting", "vqvae_experiments", "vae_experiments"}


@pytest.mark.parametrize("path", _modules(), ids=lambda p: _name(p) or p.name)
def test_modules_are_of_a_readable_size(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MODULE_LINES, f"{_name(path)} has {lines} lines; split it (at most {MODULE_LINES})"
    if "experiments" in path.relative_to(HELPERS).parts:
        assert lines <= EXPERIMENT_LINES, (f"{_name(path)} has {lines} lines; an experiments module has at "
                                           f"most {EXPERIMENT_LINES}: split it by concern")


@pytest.mark.parametrize("path", _modules(), ids=lambda p: _name(p) or p.name)
def test_no_module_imports_another_s_private_names(path):
    tree = ast.parse(path.read_text())
    name = _name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    aliases = {}  # local name -> helpers module, for attribute access such as ssim._name
    for module, names in _imported_helpers(tree, package):
        private = [n for n in names if _private(n)]
        assert not private, f"{name} imports {private} from {module}: make them public or move them"
        if not names:
            aliases[module.rpartition(".")[2]] = module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("helpers"):
            aliases.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name)
                and node.value.id in aliases):
            raise AssertionError(f"{name} uses {node.value.id}.{node.attr} of {aliases[node.value.id]}")


@pytest.mark.parametrize("path", _modules(), ids=lambda p: _name(p) or p.name)
def test_only_the_tools_import_the_tools(path):
    if "tools" in path.relative_to(HELPERS).parts:
        return
    imported = [module for module, names in _imported_helpers(ast.parse(path.read_text()), "helpers")
                if module.startswith("helpers.tools") or (module == "helpers" and "tools" in names)]
    assert not imported, f"{_name(path)} imports {imported}: the tools stand apart from the library"


def test_the_core_does_not_import_the_experiments():
    for path in _modules():
        parts = path.relative_to(HELPERS).parts
        if parts[0] in ("experiments", "tools"):
            continue
        imported = [m for m, names in _imported_helpers(ast.parse(path.read_text()), "helpers")
                    if m.startswith("helpers.experiments") or (m == "helpers" and "experiments" in names)]
        assert not imported, f"{_name(path)} imports {imported}: the core must not depend on an experiment"


#: Issue "Notebooks 04-07 as teaching": each training notebook at most this many non-blank code lines
#: and characters of markdown; the audit trail goes to helpers, appendices or the README.
TEACHING_TARGETS = {"code_lines": 300, "markdown_characters": 12_000}


@pytest.mark.parametrize("notebook", ["04_el_vae", "05_cvae", "06_overfitting", "07_fid_analysis"])
def test_training_notebooks_stay_within_the_teaching_targets(notebook):
    import json

    cells = json.loads((repo_root() / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    code = sum(1 for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()
               if line.strip())
    markdown = sum(len("".join(c["source"])) for c in cells if c["cell_type"] == "markdown")
    assert code <= TEACHING_TARGETS["code_lines"], f"{notebook}: {code} code lines"
    assert markdown <= TEACHING_TARGETS["markdown_characters"], f"{notebook}: {markdown} markdown characters"
