"""CAMELYON16/17 slide names: which release, which slides have an annotation file, and known problems.

The public bucket (CC0) names slides as the challenges did; one function, :func:`camelyon_slide`,
turns a name into what the rest of the package needs (downloads, extraction warnings):

* **CAMELYON16** training slides are ``normal_NNN`` (no metastasis, never an annotation file) and
  ``tumor_NNN`` (metastases, every one with an annotation file); its test slides ``test_NNN`` have an
  annotation file only when they hold metastases (the release's ``reference.csv`` lists the others as
  normal), so a missing file is no error and means a slide without tumour.
* **CAMELYON17** slides are ``patient_NNN_node_N``; only 50 training slides (10 per centre) have lesion
  annotations. A slide without an annotation file can still hold metastases (its slide label is in the
  release's ``stages.csv``), so it is *not* known to be free of tumour.
* Not every tumour slide is exhaustively annotated: CAMELYON17 does not outline isolated tumour cells
  exhaustively, and CAMELYON16 flags slides whose outlines are incomplete. Negatives cut outside the
  polygons of a tumour slide can therefore contain tumour; ``extract_patches(...,
  negatives_from="tumor_free_slides")`` takes negatives only from slides without tumour.
* :data:`KNOWN_PROBLEMS` lists the slides the challenge's own notes flag; extraction warns about them.

Names are matched without regard to case (older copies use ``Tumor_001``); numbers are compared as
numbers, so ``normal_86`` and ``normal_086`` are the same slide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["KNOWN_PROBLEMS", "NOT_EXHAUSTIVE_WARNING", "CamelyonDataWarning", "CamelyonSlide",
           "camelyon_slide", "extraction_warnings"]  # fmt: skip

#: Slides flagged by CAMELYON16's own notes: canonical name -> the problem.
KNOWN_PROBLEMS = {
    "test_049": "a duplicate of another slide, removed from CAMELYON16 by its organisers; leave it out",
    "test_114": "not exhaustively annotated (CAMELYON16's notes; left out of the challenge's evaluation): "
                "tissue outside its polygons can hold tumour, so its negatives are unreliable",
    "normal_086": "renamed tumor_111 by CAMELYON16's organisers because it holds metastases; a copy named "
                  "normal_086 is a tumour slide, and its 'negative' patches can contain tumour",
}  # fmt: skip
#: The general fact, said once per extraction that cuts negatives from annotated CAMELYON slides.
NOT_EXHAUSTIVE_WARNING = (
    "negatives are cut outside the annotated polygons of CAMELYON tumour slides ({names}), but not all "
    "tumour slides are exhaustively annotated (CAMELYON17 does not outline isolated tumour cells "
    "exhaustively), so some of these negatives can contain tumour; negatives_from='tumor_free_slides' "
    "(--negatives-from-tumor-free-slides) takes negatives only from slides without tumour"
)
_C16 = re.compile(r"^(normal|tumor|test)_(\d+)$", re.IGNORECASE)
_C17 = re.compile(r"^patient_(\d+)_node_(\d+)$", re.IGNORECASE)


class CamelyonDataWarning(UserWarning):
    """A CAMELYON slide with a known problem, or a labelling choice that can put tumour among negatives."""


@dataclass(frozen=True)
class CamelyonSlide:
    """What a slide's name says under CAMELYON's naming.

    Attributes:
        name: the name as given.
        canonical: lower case, numbers zero-padded as in the bucket (``normal_086``); the name itself
            when it is not a CAMELYON name.
        release: 16 or 17; None when the name follows neither release's naming.
        kind: ``"normal"``, ``"tumor"``, ``"test"`` (CAMELYON16), ``"patient"`` (CAMELYON17) or ``"other"``.
        annotation: ``"never"`` (``normal_*``: no file exists), ``"always"`` (``tumor_*``: a missing file
            is an error), ``"some"`` (``test_*``, ``patient_*``: a missing file means "not annotated"), or
            ``"unknown"`` (not a CAMELYON name).
        tumor_free_if_unannotated: True when a slide of this kind without annotation file holds no
            tumour (``normal_*``, ``test_*``); False when it may (``tumor_*``, ``patient_*``, and
            ``normal_086``); None for other names.
        problem: the known problem from :data:`KNOWN_PROBLEMS`, or None.
    """

    name: str
    canonical: str
    release: int | None
    kind: str
    annotation: str
    tumor_free_if_unannotated: bool | None
    problem: str | None


def camelyon_slide(name: str) -> CamelyonSlide:
    """Parse a slide name by CAMELYON's naming (the one rule for annotations and tumour; see the module).

    Args:
        name: a slide name without extension (``tumor_001``, ``test_049``, ``patient_004_node_4``,
            ``Normal_086``); any other name gives ``kind="other"``.

    Returns:
        :class:`CamelyonSlide`.

    Raises:
        TypeError: ``name`` is not a string.
    """
    if not isinstance(name, str):
        raise TypeError(f"slide name must be a string, got {type(name).__name__}")
    if m := _C16.match(name):
        kind, canonical = m.group(1).lower(), f"{m.group(1).lower()}_{int(m.group(2)):03d}"
        annotation = {"normal": "never", "tumor": "always", "test": "some"}[kind]
        free = kind != "tumor" and canonical != "normal_086"
        return CamelyonSlide(name, canonical, 16, kind, annotation, free, KNOWN_PROBLEMS.get(canonical))
    if m := _C17.match(name):
        canonical = f"patient_{int(m.group(1)):03d}_node_{int(m.group(2))}"
        return CamelyonSlide(name, canonical, 17, "patient", "some", False, KNOWN_PROBLEMS.get(canonical))
    return CamelyonSlide(name, name, None, "other", "unknown", None, None)


def extraction_warnings(names: list[str], annotated: list[bool], *, negatives_from: str = "all") -> list[str]:
    """The warnings an extraction from these slides deserves (``extract_patches`` issues them).

    Args:
        names: slide names.
        annotated: per slide, whether tumour annotations were given.
        negatives_from: ``"all"`` or ``"tumor_free_slides"`` (see ``extract_patches``).

    Returns:
        Messages, each naming its slide(s): known problems; a CAMELYON slide that may hold tumour given
        without annotations (all its patches would be negative); and, with ``negatives_from="all"``,
        the general fact that negatives cut from annotated CAMELYON tumour slides can contain tumour.
    """
    messages, cut_outside = [], []
    for name, has_xml in zip(names, annotated):
        info = camelyon_slide(name)
        if info.problem:
            messages.append(f"slide {name}: {info.problem}")
        if not has_xml and info.tumor_free_if_unannotated is False:
            why = ("CAMELYON17 slides without an annotation file can still hold metastases (see stages.csv)"
                   if info.kind == "patient" else "this CAMELYON slide holds metastases")  # fmt: skip
            messages.append(f"slide {name} is given without annotations, so every tissue patch is labelled "
                            f"negative, but {why}; some of its negatives can contain tumour")  # fmt: skip
        if has_xml and info.release is not None and negatives_from == "all":
            cut_outside.append(name)
    if cut_outside:
        messages.append(NOT_EXHAUSTIVE_WARNING.format(names=", ".join(cut_outside)))
    return messages
