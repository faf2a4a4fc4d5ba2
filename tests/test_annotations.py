"""Annotations: ASAP/CAMELYON XML to tumour geometry; exclusions; repairs; clear errors."""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from shapely.geometry import Point

from histogan_lite.annotations import AnnotationError, rasterize, read_asap_xml, write_asap_xml


def asap(annotations: list[tuple[str, str, list[tuple[float, float]]]], shuffle: bool = False) -> str:
    """ASAP XML text from (type, group, points)."""
    out = ['<?xml version="1.0"?>', "<ASAP_Annotations><Annotations>"]
    for i, (kind, group, pts) in enumerate(annotations):
        out.append(f'<Annotation Name="A{i}" Type="{kind}" PartOfGroup="{group}"><Coordinates>')
        order = list(range(len(pts)))[::-1] if shuffle else range(len(pts))
        out += [f'<Coordinate Order="{j}" X="{pts[j][0]}" Y="{pts[j][1]}"/>' for j in order]
        out.append("</Coordinates></Annotation>")
    out.append('</Annotations><AnnotationGroups><Group Name="_0" PartOfGroup="None"/></AnnotationGroups></ASAP_Annotations>')
    return "\n".join(out)


def square(x0, y0, side):
    return [(x0, y0), (x0 + side, y0), (x0 + side, y0 + side), (x0, y0 + side)]


def shoelace(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def test_tumor_minus_exclusion(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text(asap([("Polygon", "_0", square(0, 0, 100)), ("Polygon", "_1", square(200, 0, 10)),
                          ("Polygon", "_2", square(25, 25, 50))], shuffle=True))  # fmt: skip
    ann = read_asap_xml(path)
    assert len(ann) == 3 and [p.role for p in ann.polygons] == ["tumor", "tumor", "exclusion"]
    assert ann.tumor.area == 10100 and ann.exclusion.area == 2500
    assert ann.tumor_region.area == 7600
    assert not ann.tumor_region.contains(Point(50, 50))  # inside the _2 region: never tumour
    assert ann.tumor_region.contains(Point(10, 10))


def test_camelyon16_and_other_group_names(tmp_path):
    path = tmp_path / "b.xml"
    path.write_text(asap([("Polygon", "Tumor", square(0, 0, 10)), ("Spline", "metastases", square(20, 0, 10)),
                          ("Polygon", "Exclusion", square(2, 2, 2)), ("Dot", "_0", [(5, 5)])]))  # fmt: skip
    with pytest.warns(UserWarning, match=r"skipped 1 annotation\(s\) without area: A3 \(Dot\)"):
        ann = read_asap_xml(path)
    assert ann.tumor_region.area == 196


def test_self_intersecting_polygon_is_repaired(tmp_path):
    path = tmp_path / "bowtie.xml"
    path.write_text(asap([("Polygon", "_0", [(0, 0), (10, 10), (10, 0), (0, 10)])]))
    ann = read_asap_xml(path)
    assert ann.tumor_region.is_valid
    assert ann.tumor_region.area == pytest.approx(50.0)  # two triangles of 25


def test_unknown_group_is_an_error_unless_mapped(tmp_path):
    path = tmp_path / "c.xml"
    path.write_text(asap([("Polygon", "Annotation Group 7", square(0, 0, 10))]))
    with pytest.raises(AnnotationError, match=r"group 'Annotation Group 7'.*c\.xml|c\.xml.*group 'Annotation Group 7'"):
        read_asap_xml(path)
    assert read_asap_xml(path, group_map={"Annotation Group 7": "tumor"}).tumor_region.area == 100
    custom = read_asap_xml(path, tumor_groups=("annotation group 7",))
    assert custom.tumor.area == 100


@pytest.mark.parametrize(
    "text, message",
    [
        ("<ASAP_Annotations><Annotations>", "not well-formed XML"),
        ("<ASAP_Annotations><Annotations/></ASAP_Annotations>", "holds no Annotations/Annotation"),
        (asap([("Polygon", "_0", [])]), "has 0 coordinate"),
        (asap([("Polygon", "_0", [(0, 0), (1, 1)])]), "at least 3"),
        (asap([("Polygon", "_0", [(0, 0), (1, 1), (2, 2)])]), "encloses no area"),
        (asap([("Ellipse?", "_0", square(0, 0, 1))]), "Type='Ellipse\\?'"),
    ],
)
def test_bad_xml_names_file_and_problem(tmp_path, text, message):
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(AnnotationError, match=message) as info:
        read_asap_xml(path)
    assert "bad.xml" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="none.xml"):
        read_asap_xml(tmp_path / "none.xml")


def test_write_then_read_round_trip(tmp_path):
    path = write_asap_xml(tmp_path / "w.xml", [("_0", square(0, 0, 40)), ("_2", square(10, 10, 10))])
    ET.parse(path)
    assert read_asap_xml(path).tumor_region.area == 1500


def test_rasterize_keeps_holes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from shapely.geometry import Polygon

        region = Polygon(square(0, 0, 100), holes=[square(50, 50, 30)])
        mask = rasterize(region, (12, 12), 10)
    assert mask.shape == (12, 12) and mask.sum() == 100 - 9
    assert not mask[6, 6] and mask[0, 0] and not mask[11, 11]


def test_rasterize_matches_skimage_polygon_on_irregular_outlines():
    # issue 14: rasterize became a scan-line fill (100x faster on slide-sized masks); same pixels as the
    # scikit-image point-in-polygon fill it replaced, on star-shaped outlines at several scales
    from shapely.geometry import Polygon
    from skimage.draw import polygon as draw_polygon

    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(5, 60))
        t = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(20, 60, n)
        xy = np.stack([70 + r * np.cos(t), 65 + r * np.sin(t)], axis=1) * rng.uniform(0.5, 3)
        ds = float(rng.choice([1.0, 2.5, 4.0, 16.0]))
        shape = (int(140 * 3 / ds) + 3, int(150 * 3 / ds) + 3)
        expected = np.zeros(shape, bool)
        rr, cc = draw_polygon(xy[:, 1] / ds - 0.5, xy[:, 0] / ds - 0.5, shape=shape)
        expected[rr, cc] = True
        assert np.array_equal(rasterize(Polygon(xy), shape, ds), expected), trial


def test_rasterize_multipolygon_is_the_union_of_overlapping_parts():
    from shapely.geometry import MultiPolygon, Polygon

    a, b = Polygon(square(0, 0, 40)), Polygon(square(20, 0, 40))  # overlap x in [20, 40)
    mask = rasterize(MultiPolygon([a, b]), (5, 7), 10)
    assert mask[:4, :6].all() and mask.sum() == 24  # x 0..60, y 0..40 at 10 px per mask pixel


def test_asap_xml_text_options_and_round_trip(tmp_path):
    from histogan_lite.annotations import asap_xml_text

    polys = [("_0", square(0, 0, 40)), ("_2", square(10, 10, 10))]
    plain = asap_xml_text(polys)
    assert "<!--" not in plain and "AnnotationGroups" not in plain and plain.count('Color="#F4FA58"') == 2
    text = asap_xml_text(polys, comment="demo", colors={"_2": "#64FE2E"}, group_colors={"_0": "#FF0000"})
    assert text.splitlines()[1] == "<!-- demo -->"
    assert 'PartOfGroup="_2" Color="#64FE2E"' in text
    assert '<Group Name="_0" PartOfGroup="None" Color="#FF0000">' in text
    assert '<Group Name="_2" PartOfGroup="None" Color="#FF0000">' in text
    path = write_asap_xml(tmp_path / "d.xml", polys, comment="demo", group_colors={})
    assert path.read_text() == asap_xml_text(polys, comment="demo", group_colors={})
    assert read_asap_xml(path).tumor_region.area == 1500
    with pytest.raises(FileExistsError):
        write_asap_xml(path, polys, overwrite=False)


def test_camelyon17_xml_has_exactly_its_three_polygons(real_data):
    path = real_data / "annotations" / "patient_004_node_4.xml"
    ann = read_asap_xml(path)
    assert len(ann) == 3
    assert [p.group for p in ann.polygons] == ["Tumor"] * 3
    assert [len(p.geometry.exterior.coords) - 1 for p in ann.polygons] == [8, 15, 12]
    root = ET.parse(path).getroot()
    areas = [
        shoelace(np.array([(float(c.get("X")), float(c.get("Y"))) for c in a.iter("Coordinate")]))
        for a in root.iter("Annotation")
    ]
    np.testing.assert_allclose([p.geometry.area for p in ann.polygons], areas, rtol=1e-9)
    assert ann.tumor_region.area == pytest.approx(sum(areas), rel=1e-9)  # disjoint polygons
    minx, miny, maxx, maxy = ann.tumor_region.bounds
    assert (minx, miny, maxx, maxy) == (10626.2002, 75345.3984, 13482.7998, 89160.6016)
