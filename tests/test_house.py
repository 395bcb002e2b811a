"""The house bounds of issue #12 hold over codegen_mcp and workers.

At least 60% of the public functions and methods carry a docstring, no module is over 300
lines and no function is over 80. Run this file as a script to print the figures:
`uv run python -m tests.test_house`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("codegen_mcp", "workers")
MIN_DOCSTRING_SHARE = 0.60
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 80

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class HouseFigures:
    """What the house bounds are checked against, measured over the packages' sources."""

    public: int = 0
    documented: int = 0
    undocumented: list[str] = field(default_factory=list)
    long_modules: list[tuple[str, int]] = field(default_factory=list)
    long_functions: list[tuple[str, int]] = field(default_factory=list)

    @property
    def docstring_share(self) -> float:
        """The share of public functions and methods with a docstring (1.0 when there is none)."""
        return self.documented / self.public if self.public else 1.0


def _public_functions(tree: ast.Module) -> list[tuple[str, FunctionNode]]:
    """Module-level functions and methods of public classes whose names have no leading `_`.

    Dunder methods, private helpers and functions nested in functions do not count: they are
    not part of what a module offers its callers.
    """
    found: list[tuple[str, FunctionNode]] = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if not node.name.startswith("_"):
                    found.append((prefix + node.name, node))
            elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return found


def _all_functions(tree: ast.Module) -> list[FunctionNode]:
    """Every function and method in the module, private and nested ones included."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def measure(root: Path = ROOT) -> HouseFigures:
    """Measure docstring share, long modules and long functions over codegen_mcp and workers."""
    figures = HouseFigures()
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name = str(path.relative_to(root))
            source = path.read_text()
            lines = len(source.splitlines())
            if lines > MAX_MODULE_LINES:
                figures.long_modules.append((name, lines))
            tree = ast.parse(source, filename=name)
            for qualname, node in _public_functions(tree):
                figures.public += 1
                if ast.get_docstring(node):
                    figures.documented += 1
                else:
                    figures.undocumented.append(f"{name}:{node.lineno} {qualname}")
            for node in _all_functions(tree):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    figures.long_functions.append((f"{name}:{node.lineno} {node.name}", length))
    return figures


def report(figures: HouseFigures) -> str:
    """The figures as a few human-readable lines."""
    lines = [
        f"docstrings: {figures.documented}/{figures.public} public functions and methods "
        f"({figures.docstring_share:.1%}, bound {MIN_DOCSTRING_SHARE:.0%})",
        f"modules over {MAX_MODULE_LINES} lines: {len(figures.long_modules)}",
        *(f"  {name} {lines}" for name, lines in figures.long_modules),
        f"functions over {MAX_FUNCTION_LINES} lines: {len(figures.long_functions)}",
        *(f"  {name} {lines}" for name, lines in figures.long_functions),
    ]
    return "\n".join(lines)


def test_measure_sees_docstrings_and_sizes(tmp_path: Path) -> None:
    package = tmp_path / "codegen_mcp"
    package.mkdir()
    (tmp_path / "workers").mkdir()
    long_body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (package / "m.py").write_text(
        'def documented():\n    """Promise."""\n\n'
        "def bare():\n    pass\n\n"
        "def _private():\n    pass\n\n"
        "class Thing:\n    def method(self):\n        pass\n\n    def __init__(self):\n"
        "        pass\n\n"
        f"def long():\n{long_body}\n" + "\n" * MAX_MODULE_LINES
    )
    figures = measure(tmp_path)
    assert (figures.public, figures.documented) == (4, 1)
    assert [name for name, _ in figures.long_functions] == ["codegen_mcp/m.py:17 long"]
    assert [name for name, _ in figures.long_modules] == ["codegen_mcp/m.py"]


def test_house_bounds_hold() -> None:
    figures = measure()
    summary = report(figures)
    assert figures.docstring_share >= MIN_DOCSTRING_SHARE, summary
    assert not figures.long_modules, summary
    assert not figures.long_functions, summary


if __name__ == "__main__":
    print(report(measure()))
