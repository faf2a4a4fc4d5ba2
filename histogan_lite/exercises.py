"""Exercise checks for the chapters: compare a learner's answer with a reference and say so.

Every coding exercise in the book has three cells (see ``tools/make_student_notebooks.py``):

1. a *stub* cell (tag ``exercise``) that the learner fills, which assigns ``None`` to the answer;
2. a *solution* cell (tags ``solution`` and ``hide-input``): kept in the instructor version, hidden
   in a toggle in the rendered book, removed from the student version;
3. a *check* cell that calls :func:`check` with the answer and a reference computed by the package.

:func:`check` never raises on a wrong answer (a lab notebook must run to the end): it prints a
verdict and returns ``True`` or ``False``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check", "CORRECT", "NOT_YET"]

CORRECT = "Correct"
NOT_YET = "Not yet"


def _as_array(value):
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def check(name: str, answer, expected, *, atol: float = 1e-6, rtol: float = 1e-5, hint: str = "") -> bool:
    """Compare a learner's ``answer`` with the reference ``expected`` and print a verdict.

    Args:
        name: what the exercise computes, shown in the message (e.g. ``"tumour fraction"``).
        answer: the learner's value: a number, a string, a boolean, a sequence, a numpy array or a
            torch tensor. ``None`` or ``...`` means the stub was not filled in yet.
        expected: the reference value of the same kind.
        atol, rtol: tolerances for numbers and arrays (``numpy.allclose``).
        hint: shown when the answer is wrong.

    Returns:
        ``True`` when the answer matches (same shape and values within tolerance, or equal for
        strings and booleans), else ``False``. Prints ``"Correct: ..."`` or ``"Not yet: ..."``.
    """
    ok, why = False, ""
    if answer is None or answer is Ellipsis:
        why = "the answer is still empty; replace None in the exercise cell with your code"
    elif isinstance(expected, (str, bool, np.bool_)):
        ok = answer == expected
        why = "" if ok else f"expected {expected!r}, got {answer!r}"
    else:
        a, e = _as_array(answer), _as_array(expected)
        if a.shape != e.shape:
            why = f"expected shape {e.shape}, got shape {a.shape}"
        elif not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            why = f"expected numbers, got dtype {a.dtype}"
        else:
            ok = bool(np.allclose(a.astype(float), e.astype(float), atol=atol, rtol=rtol, equal_nan=False))
            if not ok:
                diff = float(np.max(np.abs(a.astype(float) - e.astype(float)))) if a.size else 0.0
                why = f"values differ from the reference (largest difference {diff:.4g})"
    if ok:
        print(f"{CORRECT}: {name} matches the reference.")
    else:
        print(f"{NOT_YET}: {name}: {why}." + (f" Hint: {hint}" if hint else ""))
    return bool(ok)
