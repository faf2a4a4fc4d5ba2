"""camelyon: the one naming rule (release, annotation files, tumour) and the known-problem slides (issue 15.7)."""

from __future__ import annotations

import pytest

from histogan_lite import camelyon as C


@pytest.mark.parametrize(
    "name, release, kind, annotation, tumor_free, canonical",
    [
        ("normal_001", 16, "normal", "never", True, "normal_001"),
        ("tumor_009", 16, "tumor", "always", False, "tumor_009"),
        ("test_001", 16, "test", "some", True, "test_001"),
        ("Tumor_110", 16, "tumor", "always", False, "tumor_110"),  # older copies are capitalised
        ("normal_86", 16, "normal", "never", False, "normal_086"),  # renamed tumor_111: holds tumour
        ("patient_004_node_4", 17, "patient", "some", False, "patient_004_node_4"),
        ("patient_10_node_0", 17, "patient", "some", False, "patient_010_node_0"),
        ("demo_tumor", None, "other", "unknown", None, "demo_tumor"),
        ("tumor_01a", None, "other", "unknown", None, "tumor_01a"),
    ],
)
def test_naming_rule_for_both_releases(name, release, kind, annotation, tumor_free, canonical):
    info = C.camelyon_slide(name)
    assert (info.release, info.kind, info.annotation, info.tumor_free_if_unannotated, info.canonical) == (
        release, kind, annotation, tumor_free, canonical)  # fmt: skip


def test_known_problem_slides():
    assert sorted(C.KNOWN_PROBLEMS) == ["normal_086", "test_049", "test_114"]
    assert "duplicate" in C.camelyon_slide("Test_049").problem and "removed" in C.camelyon_slide("test_049").problem
    assert "not exhaustively annotated" in C.camelyon_slide("test_114").problem
    assert "renamed tumor_111" in C.camelyon_slide("normal_86").problem
    assert C.camelyon_slide("test_048").problem is None and C.camelyon_slide("tumor_111").problem is None
    with pytest.raises(TypeError, match="slide name must be a string"):
        C.camelyon_slide(49)


def test_extraction_warnings_name_each_slide_and_problem():
    messages = C.extraction_warnings(["test_114", "normal_086", "tumor_005", "patient_012_node_0", "normal_001",
                                      "demo_tumor"], [True, False, False, False, False, True])  # fmt: skip
    assert messages[0].startswith("slide test_114: not exhaustively annotated")
    assert messages[1].startswith("slide normal_086: renamed tumor_111")
    assert messages[2] == ("slide normal_086 is given without annotations, so every tissue patch is labelled negative, "
                           "but this CAMELYON slide holds metastases; some of its negatives can contain tumour")  # fmt: skip
    assert messages[3].startswith("slide tumor_005 is given without annotations")
    assert messages[4].startswith("slide patient_012_node_0 is given without annotations") and "stages.csv" in messages[4]
    # the general fact, once, naming the annotated CAMELYON slides (the demo slide is not one)
    assert messages[5] == C.NOT_EXHAUSTIVE_WARNING.format(names="test_114") and len(messages) == 6
    assert "not all tumour slides are exhaustively annotated" in messages[5]
    # negatives only from slides without tumour: the general fact no longer applies
    assert C.extraction_warnings(["tumor_001"], [True], negatives_from="tumor_free_slides") == []
    assert C.extraction_warnings(["normal_001", "test_002", "demo_tumor"], [False, False, True]) == []
