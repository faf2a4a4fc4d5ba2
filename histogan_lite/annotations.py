"""ASAP / CAMELYON annotation XML -> tumour and exclusion geometry in level-0 pixels (paper section 2).

CAMELYON16 and CAMELYON17 ship their lesion outlines as ASAP XML::

    <ASAP_Annotations><Annotations>
      <Annotation Name="..." Type="Polygon" PartOfGroup="_0">
        <Coordinates><Coordinate Order="0" X="12711.3" Y="88778.1"/> ...</Coordinates>
      </Annotation> ...
    </Annotations><AnnotationGroups> ... </AnnotationGroups></ASAP_Annotations>

Groups: in CAMELYON16 ``_0`` and ``_1`` outline tumour and ``_2`` outlines *non-tumour* regions drawn
inside tumour (exclusions); other releases use ``Tumor`` / ``metastases`` and ``Exclusion``. The tumour
region is the union of the tumour polygons minus the union of the exclusion polygons, so a point
inside an ``_2`` region is never tumour. Coordinates are floats in level-0 pixels.
"""

from __future__ import annotations

import os
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from .utils import atomic_write_text

__all__ = [
    "TUMOR_GROUPS",
    "EXCLUSION_GROUPS",
    "AREA_TYPES",
    "POINT_TYPES",
    "AnnotationError",
    "AnnotatedPolygon",
    "Annotations",
    "read_asap_xml",
    "asap_xml_text",
    "write_asap_xml",
    "rasterize",
]

#: Default tumour groups (CAMELYON16 ``_0``, ``_1``; other releases ``Tumor``, ``metastases``).
TUMOR_GROUPS = ("_0", "_1", "Tumor", "metastases")
#: Default exclusion groups: non-tumour regions drawn inside tumour (CAMELYON16 ``_2``).
EXCLUSION_GROUPS = ("_2", "Exclusion")
#: ASAP annotation types that outline an area (a spline is read as the polygon of its control points).
AREA_TYPES = ("Polygon", "Spline", "Rectangle")
#: ASAP annotation types without area; they are skipped with a warning.
POINT_TYPES = ("Dot", "PointSet", "Measurement")


class AnnotationError(ValueError):
    """An annotation file that cannot be used; the message names the file and the problem."""


@dataclass
class AnnotatedPolygon:
    """One area annotation: its name, group, role and (repaired) geometry in level-0 pixels."""

    name: str
    group: str
    role: str  # "tumor" or "exclusion"
    geometry: BaseGeometry  # Polygon or MultiPolygon, valid


@dataclass
class Annotations:
    """Tumour geometry of one slide, in level-0 pixel coordinates.

    Attributes:
        path: the XML file it came from (None when built in code).
        polygons: every area annotation, in file order.
        tumor: union of the tumour polygons (before exclusions).
        exclusion: union of the exclusion polygons.
        tumor_region: ``tumor - exclusion``; what counts as tumour when labelling patches.
    """

    path: Path | None
    polygons: list[AnnotatedPolygon] = field(default_factory=list)

    @property
    def tumor(self) -> BaseGeometry:
        return _union([p.geometry for p in self.polygons if p.role == "tumor"])

    @property
    def exclusion(self) -> BaseGeometry:
        return _union([p.geometry for p in self.polygons if p.role == "exclusion"])

    @property
    def tumor_region(self) -> BaseGeometry:
        return _polygonal(self.tumor.difference(self.exclusion))

    def __len__(self) -> int:
        return len(self.polygons)


def _union(geoms: list[BaseGeometry]) -> BaseGeometry:
    if not geoms:
        return Polygon()
    return _polygonal(shapely.union_all(geoms))


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Keep only the polygonal parts of ``geom`` (make_valid/difference may add lines or points)."""
    if geom.is_empty:
        return Polygon()
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    parts = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, (Polygon, MultiPolygon))]
    flat = []
    for g in parts:
        flat.extend(g.geoms if isinstance(g, MultiPolygon) else [g])
    if not flat:
        return Polygon()
    return flat[0] if len(flat) == 1 else MultiPolygon(flat)


def _classify(group: str, tumor_groups, exclusion_groups, group_map) -> str | None:
    if group_map and group in group_map:
        role = group_map[group]
        if role not in ("tumor", "exclusion", None, "ignore"):
            raise ValueError(f"group_map[{group!r}] must be 'tumor', 'exclusion' or 'ignore', got {role!r}")
        return None if role in (None, "ignore") else role
    folded = group.casefold()
    if folded in {g.casefold() for g in tumor_groups}:
        return "tumor"
    if folded in {g.casefold() for g in exclusion_groups}:
        return "exclusion"
    return "unknown"


def read_asap_xml(
    path: str | os.PathLike,
    *,
    tumor_groups=TUMOR_GROUPS,
    exclusion_groups=EXCLUSION_GROUPS,
    group_map: dict[str, str] | None = None,
) -> Annotations:
    """Read an ASAP / CAMELYON annotation XML file.

    Only ``Annotations/Annotation`` elements are read (the ``AnnotationGroups`` block is not).
    Area types (``Polygon``, ``Spline`` read as the polygon through its points, ``Rectangle``) become
    polygons; self-intersecting outlines are repaired with ``shapely.make_valid``. ``Dot``,
    ``PointSet`` and ``Measurement`` annotations have no area and are skipped with a warning.
    Group names are matched case-insensitively.

    Args:
        path: the XML file.
        tumor_groups: group names that outline tumour.
        exclusion_groups: group names that outline non-tumour regions inside tumour.
        group_map: extra or overriding roles per exact group name: ``"tumor"``, ``"exclusion"`` or
            ``"ignore"`` (for example ``{"Annotation Group 0": "tumor"}``).

    Returns:
        :class:`Annotations` with coordinates in level-0 pixels.

    Raises:
        FileNotFoundError: the file does not exist.
        AnnotationError: the XML is not well formed, holds no ``Annotation`` with coordinates, an area
            annotation has fewer than 3 points or non-numeric coordinates, or a group is neither a
            tumour nor an exclusion group nor mapped (the message names the group and the file).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"annotation file {str(path)!r} does not exist")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise AnnotationError(f"{str(path)!r} is not well-formed XML: {exc}") from exc
    elements = root.findall("./Annotations/Annotation")
    if not elements:
        raise AnnotationError(
            f"{str(path)!r} holds no Annotations/Annotation elements (root <{root.tag}>); "
            "expected ASAP / CAMELYON XML. A slide without tumour needs no annotation file."
        )
    result = Annotations(path=path.resolve())
    skipped = []
    for index, element in enumerate(elements):
        name = element.get("Name", f"annotation {index}")
        kind = element.get("Type", "Polygon")
        group = element.get("PartOfGroup", "None")
        coords = element.findall("./Coordinates/Coordinate")
        if kind in POINT_TYPES:
            skipped.append(f"{name} ({kind})")
            continue
        if kind not in AREA_TYPES:
            raise AnnotationError(
                f"annotation {name!r} in {str(path)!r} has Type={kind!r}; expected one of {AREA_TYPES + POINT_TYPES}"
            )
        role = _classify(group, tumor_groups, exclusion_groups, group_map)
        if role == "unknown":
            raise AnnotationError(
                f"annotation {name!r} in {str(path)!r} belongs to group {group!r}, which is neither a tumour group "
                f"{tuple(tumor_groups)} nor an exclusion group {tuple(exclusion_groups)}; pass "
                f"group_map={{{group!r}: 'tumor'}} (or 'exclusion' / 'ignore') to say what it is"
            )
        if role is None:
            continue
        try:
            points = sorted(
                ((int(float(c.get("Order", i))), float(c.get("X")), float(c.get("Y"))) for i, c in enumerate(coords)),
                key=lambda t: t[0],
            )
        except (TypeError, ValueError) as exc:
            raise AnnotationError(f"annotation {name!r} in {str(path)!r} has a coordinate without numeric X/Y") from exc
        xy = np.array([(x, y) for _, x, y in points], dtype=float)
        if len(np.unique(xy, axis=0)) < 3:
            raise AnnotationError(
                f"annotation {name!r} in {str(path)!r} has {len(xy)} coordinate(s); an area annotation needs at least 3"
            )
        if kind == "Rectangle" and len(xy) == 2:
            (x0, y0), (x1, y1) = xy
            geom = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        else:
            geom = Polygon(xy)
        if not geom.is_valid:
            geom = shapely.make_valid(geom)  # repairs self-intersecting outlines
        geom = _polygonal(geom)
        if geom.is_empty or geom.area == 0:
            raise AnnotationError(f"annotation {name!r} in {str(path)!r} encloses no area (all points on a line)")
        result.polygons.append(AnnotatedPolygon(name=name, group=group, role=role, geometry=geom))
    if skipped:
        warnings.warn(
            f"{path.name}: skipped {len(skipped)} annotation(s) without area: {', '.join(skipped[:5])}"
            + (" ..." if len(skipped) > 5 else ""),
            stacklevel=2,
        )
    if not result.polygons:
        raise AnnotationError(f"{str(path)!r} holds no tumour or exclusion polygon with coordinates")
    return result


def asap_xml_text(
    polygons: list[tuple[str, list[tuple[float, float]]]],
    *,
    comment: str | None = None,
    colors: dict[str, str] | None = None,
    group_colors: dict[str, str] | None = None,
) -> str:
    """ASAP / CAMELYON16 annotation XML for polygons in level-0 pixels (the format :func:`read_asap_xml` reads).

    ``ASAP_Annotations`` > ``Annotations`` > ``Annotation Name="Annotation i" Type="Polygon"
    PartOfGroup=... Color=...`` > ``Coordinates`` > ``Coordinate Order X Y`` (4 decimals).

    Args:
        polygons: list of ``(group, [(x, y), ...])`` (or an ``(n, 2)`` array) in level-0 pixels.
        comment: an XML comment written after the declaration (e.g. "synthetic teaching data").
        colors: colour of each annotation by group (default ``#F4FA58``, ASAP's yellow).
        group_colors: when given, the ``AnnotationGroups`` block ASAP writes, one ``Group`` per group used
            (sorted), in these colours (default ``#FF0000``).

    Returns:
        The XML text, ending in a newline.
    """
    colors = colors or {}
    lines = ['<?xml version="1.0"?>']
    if comment is not None:
        lines.append(f"<!-- {comment} -->")
    lines += ["<ASAP_Annotations>", "\t<Annotations>"]
    for i, (group, pts) in enumerate(polygons):
        color = colors.get(group, "#F4FA58")
        lines.append(f'\t\t<Annotation Name="Annotation {i}" Type="Polygon" PartOfGroup="{group}" Color="{color}">')
        lines.append("\t\t\t<Coordinates>")
        for j, (x, y) in enumerate(pts):
            lines.append(f'\t\t\t\t<Coordinate Order="{j}" X="{float(x):.4f}" Y="{float(y):.4f}" />')
        lines.append("\t\t\t</Coordinates>")
        lines.append("\t\t</Annotation>")
    lines.append("\t</Annotations>")
    if group_colors is not None:
        lines.append("\t<AnnotationGroups>")
        for group in sorted({g for g, _ in polygons}):
            lines.append(f'\t\t<Group Name="{group}" PartOfGroup="None" Color="{group_colors.get(group, "#FF0000")}">')
            lines.append("\t\t\t<Attributes />")
            lines.append("\t\t</Group>")
        lines.append("\t</AnnotationGroups>")
    lines += ["</ASAP_Annotations>", ""]
    return "\n".join(lines)


def write_asap_xml(path: str | os.PathLike, polygons: list[tuple[str, list[tuple[float, float]]]], *,
                   overwrite: bool = True, **options) -> Path:
    """Write polygons as ASAP XML (:func:`asap_xml_text`), atomically.

    Args:
        path: output ``.xml`` file.
        polygons: list of ``(group, [(x, y), ...])`` in level-0 pixels.
        overwrite: replace an existing file (``False``: raise ``FileExistsError``).
        **options: ``comment``, ``colors``, ``group_colors`` of :func:`asap_xml_text`.

    Returns:
        The path written.
    """
    return atomic_write_text(path, asap_xml_text(polygons, **options), overwrite=overwrite)


def _fill_ring(xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Even-odd scan-line fill of one closed ring: pixel (r, c) is set when its centre (c + 0.5, r + 0.5) is inside.

    ``xy`` (n, 2) are (x, y) in pixel units of the output (pixel c spans [c, c + 1)); the ring may or may
    not repeat its first vertex. Work grows with rows x edges, not with the area filled.
    """
    h, w = shape
    x0, y0 = xy[:, 0], xy[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    rows, xs = [], []
    for a, b, c, d in zip(x0, y0, x1, y1):
        if b == d:
            continue
        lo, hi = min(b, d), max(b, d)
        r = np.arange(max(0, int(np.ceil(lo - 0.5))), min(h, int(np.ceil(hi - 0.5))))  # lo <= r + 0.5 < hi
        if len(r):
            rows.append(r)
            xs.append(a + (r + 0.5 - b) * (c - a) / (d - b))
    out = np.zeros((h, w), bool)
    if not rows:
        return out
    rows, xs = np.concatenate(rows), np.concatenate(xs)
    order = np.lexsort((xs, rows))
    rows, xs = rows[order], xs[order]
    starts, ends = rows[0::2], rows[1::2]
    assert np.array_equal(starts, ends), "ring edges must cross each row an even number of times"
    c0 = np.clip(np.ceil(xs[0::2] - 0.5), 0, w).astype(np.int64)  # first column whose centre >= x_in
    c1 = np.clip(np.ceil(xs[1::2] - 0.5), 0, w).astype(np.int64)  # first column whose centre >= x_out
    for r, a, b in zip(starts.tolist(), c0.tolist(), c1.tolist()):
        out[r, a:b] = True
    return out


def rasterize(geometry: BaseGeometry, shape: tuple[int, int], downsample: float | tuple[float, float]) -> np.ndarray:
    """Draw a level-0 geometry into a boolean mask at a coarser scale (labels, overlays, demo slides).

    Args:
        geometry: polygonal geometry in level-0 pixels (a ``MultiPolygon`` is the union of its parts,
            which may overlap).
        shape: ``(height, width)`` of the mask.
        downsample: level-0 pixels per mask pixel, one number or ``(sx, sy)``; mask pixel ``(r, c)``
            covers level-0 ``[c sx, (c + 1) sx) x [r sy, (r + 1) sy)``.

    Returns:
        ``bool`` array ``shape``; a mask pixel is True when its centre lies inside the geometry (even-odd
        rule per ring; holes, such as exclusion regions, stay False).
    """
    sx, sy = (downsample, downsample) if np.isscalar(downsample) else downsample
    scale = np.array([float(sx), float(sy)])
    mask = np.zeros(shape, dtype=bool)
    geom = _polygonal(geometry)
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty:
            continue
        part = _fill_ring(np.asarray(poly.exterior.coords, dtype=np.float64)[:, :2] / scale, shape)
        for ring in poly.interiors:  # holes, e.g. exclusion regions cut out of a tumour
            part &= ~_fill_ring(np.asarray(ring.coords, dtype=np.float64)[:, :2] / scale, shape)
        mask |= part
    return mask
