"""Project conventions a user relies on: lint-clean, cheap imports, explicit exports."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["lcelkit", "loaders", "chains", "agents", "prompts"]


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is installed by the dev extra"
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # Formatted too (README code blocks included): `ruff format .` fixes it.
    result = subprocess.run([ruff, "format", "--check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_declares_all(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {
        t.id
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(t, ast.Name)
    }
    assert "__all__" in names, f"{path.name} has no __all__"


def test_library_code_does_not_print():
    offenders = []
    for path in _modules():
        if "cli" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_importing_the_packages_loads_no_heavy_library():
    code = (
        "import sys, lcelkit, lcelkit.cli, lcelkit.factories, lcelkit.settings, lcelkit.loaders,"
        " lcelkit.chains, lcelkit.agents, lcelkit.prompts\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'chromadb',"
        " 'unstructured', 'kiwipiepy') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"imported at import time: {out.stdout.strip()}"


#: The application shell: settings, factories, CLI and server wire the domain packages;
#: the domain packages never reach back into it (docs/DESIGN.md, "Layout").
SHELL = ("lcelkit.settings", "lcelkit.factories", "lcelkit.cli", "lcelkit.server")
DOMAIN = ["loaders", "chains", "agents", "prompts"]


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return found


def test_domain_packages_never_import_the_application_shell():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for pkg in DOMAIN
        for path in sorted((ROOT / pkg).rglob("*.py"))
        for line, name in _imported_modules(path)
        if name.startswith(SHELL)
    ]
    assert not offenders, offenders


def test_code_imports_the_domain_packages_through_the_lcelkit_namespace():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in [*_modules(), *sorted((ROOT / "tests").rglob("*.py"))]
        for line, name in _imported_modules(path)
        if name.split(".")[0] in DOMAIN
    ]
    assert not offenders, offenders


def test_committed_notebooks_have_no_outputs():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for nb in notebooks:
        data = json.loads(nb.read_text(encoding="utf-8"))
        for cell in data["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs"), f"{nb.name}: strip outputs (nbstripout)"
                assert cell.get("execution_count") is None, f"{nb.name}: strip execution counts"


_NAMESPACES = {"lcelkit": "lcelkit", "loaders": "lcelkit.loaders", "chains": "lcelkit.chains",
               "agents": "lcelkit.agents", "prompts": "lcelkit.prompts"}  # fmt: skip
_LEAF = "lcelkit.errors"  # imports nothing from the project; every layer may import it


def _module_names() -> dict[str, Path]:
    names: dict[str, Path] = {}
    for top, namespace in _NAMESPACES.items():
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT / top).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names[".".join([namespace, *parts])] = path
    return names


def _import_graph() -> dict[str, set[str]]:
    """Module -> project modules it imports (at any depth, inside functions too)."""
    names = _module_names()
    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, node.module or ""] if node.level else [node.module or ""])
                targets = [module.strip("."), *(f"{module}.{a.name}" for a in node.names)]
            else:
                continue
            for target in targets:
                while target and target not in names:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` (empty when there is none)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_import_cycle_between_modules():
    assert _cycle(_import_graph()) == []


def test_no_import_cycle_between_the_domain_packages():
    def package(name: str) -> str:
        parts = name.split(".")
        return parts[1] if len(parts) > 1 and parts[1] in _NAMESPACES else "lcelkit"

    graph: dict[str, set[str]] = {}
    for name, targets in _import_graph().items():
        for target in targets:
            if target != _LEAF and package(name) != package(target):
                graph.setdefault(package(name), set()).add(package(target))
    assert _cycle(graph) == [], graph


def test_no_module_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}  # fmt: skip
    assert long == {}


# References to the project's history, not to the software: an issue number ("issue 20",
# "issue #24", a bare "#15") or a work session ("the second session"). Agent sessions
# ("one session", "40 sessions", "the session's lock"), heading anchors ("#team-deployment")
# and HTML entities ("&#39;") do not match.
_HISTORY = re.compile(
    r"\bissues?\s+#?\d+"
    r"|(?<![\w&#/])#\d+\b"
    r"|\b(?:first|second|third|previous|earlier|this)\s+(?:#\d+\s+)?sessions?\b",
    re.IGNORECASE,
)


def test_docs_describe_the_software_not_its_history():
    offenders = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        in_code = False
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("```"):
                in_code = not in_code
            elif not in_code and (match := _HISTORY.search(line)):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {match.group()!r}")
    assert not offenders, "say what the software does, not which issue or session did it:\n" + (
        "\n".join(offenders)
    )
