"""Source listings for the book: a function's code without its docstring and argument checks.

A chapter shows the real function from the package (the package is the single source, never a copy in
the notebook), but a reader wants the math, not the docstring they have just read in prose nor the
twenty lines that refuse bad input. :func:`source_listing` returns that text; :func:`show_source` shows
it highlighted in a notebook (IPython's ``Code`` display, Pygments) and prints it elsewhere.

What is left out, found with :mod:`ast` so the rest keeps its lines and comments exactly:

* the docstring of the function (of a class: of the class and of each of its methods);
* the argument checks in a function body (its top level, not inside loops): ``if ...: raise ...``
  blocks, ``for`` loops whose body is only such blocks, and bare calls to checkers (``check_*``,
  ``_check_*``, ``require_*``, ``_require_*``). A comment line marks each run of checks left out.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

__all__ = ["source_listing", "show_source"]

_CHECKERS = ("check_", "_check_", "require_", "_require_")
CHECKS_NOTE = "# (argument checks left out of this listing)"


def _is_raise_only(stmts: list[ast.stmt]) -> bool:
    return bool(stmts) and all(isinstance(s, ast.Raise) or (isinstance(s, ast.If) and _is_check(s)) for s in stmts)


def _is_check(stmt: ast.stmt) -> bool:
    """An argument check: ``if cond: raise`` (elifs too), a loop of those, or a bare checker call."""
    if isinstance(stmt, ast.If):
        return _is_raise_only(stmt.body) and (not stmt.orelse or _is_raise_only(stmt.orelse))
    if isinstance(stmt, ast.For):
        return not stmt.orelse and all(_is_check(s) for s in stmt.body)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        return name.startswith(_CHECKERS)
    return False


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _cuts(node: ast.AST, docstring: bool, checks: bool) -> list[tuple[int, int, str | None]]:
    """Line ranges (1-based, inclusive) to drop from ``node``'s source, each with an optional note."""
    cuts = []
    body = getattr(node, "body", [])
    i = 0
    if not docstring and body and _is_docstring(body[0]):
        cuts.append((body[0].lineno, body[0].end_lineno, None))
        i = 1
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not checks:
        while i < len(body):  # each run of checks in the body (not inside loops) becomes one note
            j = i
            while j < len(body) and _is_check(body[j]):
                j += 1
            if j > i:
                cuts.append((body[i].lineno, body[j - 1].end_lineno, CHECKS_NOTE))
            i = j + 1
    if isinstance(node, ast.ClassDef):
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                cuts.extend(_cuts(stmt, docstring, checks=True))
    return cuts


def source_listing(obj, *, docstring: bool = False, checks: bool = False) -> str:
    """The source of a function, method or class as a book listing.

    Args:
        obj: a function, method or class of the package (anything :func:`inspect.getsource` reads).
        docstring: keep the docstring(s).
        checks: keep the argument checks at the top of the function.

    Returns:
        The source text, dedented, ending without a newline; each dropped run of argument checks is one
        comment line, :data:`CHECKS_NOTE`, at its indentation. Blank lines left at the top of the body are
        dropped.

    Raises:
        TypeError: ``obj`` has no Python source (a builtin, a C extension, an instance).
        OSError: the source file cannot be read.
    """
    try:
        src = textwrap.dedent(inspect.getsource(obj))
    except TypeError as exc:
        raise TypeError(f"show_source needs a function, method or class with Python source, got {obj!r}") from exc
    lines = src.splitlines()
    node = ast.parse(src).body[0]
    drop: dict[int, str | None] = {}
    for start, end, note in _cuts(node, docstring, checks):
        for k in range(start, end + 1):
            drop[k] = None
        if note:
            indent = lines[start - 1][: len(lines[start - 1]) - len(lines[start - 1].lstrip())]
            drop[start] = indent + note
    out = []
    for k, line in enumerate(lines, start=1):
        if k in drop:
            if drop[k] is not None:
                out.append(drop[k])
            continue
        if not line.strip() and out and (out[-1].rstrip().endswith(":") or out[-1].strip() == CHECKS_NOTE):
            continue  # a blank line left where a docstring was
        out.append(line)
    return "\n".join(out).rstrip()


def show_source(obj, *, docstring: bool = False, checks: bool = False) -> None:
    """Show :func:`source_listing` of ``obj``: highlighted in a notebook, printed elsewhere.

    Args:
        obj: a function, method or class of the package.
        docstring, checks: as for :func:`source_listing`.

    Raises:
        TypeError / OSError: as for :func:`source_listing`.
    """
    text = source_listing(obj, docstring=docstring, checks=checks)
    try:  # IPython is present in a notebook; a plain script prints (documented optional import)
        from IPython import get_ipython
        from IPython.display import Code, display
    except ImportError:
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        print(text)
        return
    display(Code(text, language="python"))
