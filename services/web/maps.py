"""Choropleth maps of Indonesia drawn on the server as SVG, from the simplified boundaries
shipped in shared/data (boundaries_provinsi.topojson, boundaries_kabkota.topojson; source and
MIT licence in shared/data/README.md).

TopoJSON is decoded here (arcs delta-encoded on a quantized grid, then the transform), each
region's rings are projected (equirectangular, x scaled by cos of the middle latitude) and
written as SVG path data once per map (cached). Colours come from a 5-class sequential palette."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from shared.rupiah import thousands

Point = tuple[float, float]
Ring = list[Point]
Polygon = list[Ring]

# ColorBrewer "Blues" (5 classes), light to dark; a region with none gets the neutral grey.
PALETTE = ("#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c")
NONE_COLOUR = "#eceff2"

FILES = {"provinsi": "boundaries_provinsi.topojson", "kabkota": "boundaries_kabkota.topojson"}


# -- TopoJSON ----------------------------------------------------------------------------------


def decode_arcs(topology: Mapping[str, Any]) -> list[list[Point]]:
    """Every arc as absolute (lng, lat) points: quantized arcs are delta-encoded integers that
    the transform's scale and translate turn into degrees; without a transform they are as is."""
    transform = topology.get("transform")
    arcs: list[list[Point]] = []
    for arc in topology["arcs"]:
        if transform is None:
            arcs.append([(float(p[0]), float(p[1])) for p in arc])
            continue
        (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
        x = y = 0
        points: list[Point] = []
        for p in arc:
            x += p[0]
            y += p[1]
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring_points(indices: Sequence[int], arcs: Sequence[Sequence[Point]]) -> Ring:
    """A ring from its arc indices: a negative index `~i` is arc i reversed; consecutive arcs
    share their joining point, which is kept once."""
    ring: Ring = []
    for index in indices:
        arc = list(arcs[index]) if index >= 0 else list(reversed(arcs[~index]))
        ring.extend(arc[1:] if ring else arc)
    return ring


def polygons_of(geometry: Mapping[str, Any], arcs: Sequence[Sequence[Point]]) -> list[Polygon]:
    """A Polygon or MultiPolygon geometry as a list of polygons (each a list of rings)."""
    kind = geometry.get("type")
    if kind == "Polygon":
        return [[ring_points(r, arcs) for r in geometry["arcs"]]]
    if kind == "MultiPolygon":
        return [[ring_points(r, arcs) for r in polygon] for polygon in geometry["arcs"]]
    return []


def features(topology: Mapping[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """code -> {"properties": ..., "polygons": [...]} for one object of the topology."""
    arcs = decode_arcs(topology)
    out: dict[str, dict[str, Any]] = {}
    for geometry in topology["objects"][name]["geometries"]:
        props = geometry.get("properties") or {}
        code = str(props.get("code") or geometry.get("id"))
        out[code] = {"properties": props, "polygons": polygons_of(geometry, arcs)}
    return out


def _data_dir() -> Path:
    return Path(str(resources.files("shared") / "data"))


@cache
def load(level: str) -> dict[str, dict[str, Any]]:
    """The regions of one level ("provinsi" or "kabkota"), decoded once per process."""
    with open(_data_dir() / FILES[level], encoding="utf-8") as fh:
        topology = json.load(fh)
    return features(topology, level)


# -- projection and SVG ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    code: str
    d: str  # SVG path data


@dataclass(frozen=True)
class Geometry:
    """Projected shapes of one map, with the viewBox that holds them."""

    width: int
    height: int
    shapes: tuple[Shape, ...]


def project(polygons_by_code: Mapping[str, list[Polygon]], width: int = 1000, pad: float = 4.0) -> Geometry:
    """Equirectangular projection, x scaled by cos(middle latitude), fitted to `width` units
    (integers: path data stays small; the SVG scales by its viewBox); SVG y grows downward, so
    latitude is flipped. A ring smaller than one unit is left out."""
    points = [p for polys in polygons_by_code.values() for poly in polys for ring in poly for p in ring]
    if not points:
        return Geometry(width, 1, ())
    min_x = min(p[0] for p in points)
    max_x = max(p[0] for p in points)
    min_y = min(p[1] for p in points)
    max_y = max(p[1] for p in points)
    k_x = math.cos(math.radians((min_y + max_y) / 2))
    span_x = max((max_x - min_x) * k_x, 1e-9)
    scale = (width - 2 * pad) / span_x
    height = round((max_y - min_y) * scale + 2 * pad)
    shapes = []
    for code, polys in sorted(polygons_by_code.items()):
        parts = []
        for poly in polys:
            for ring in poly:
                grid: list[tuple[int, int]] = []
                for lng, lat in ring:
                    xy = (round(pad + (lng - min_x) * k_x * scale), round(pad + (max_y - lat) * scale))
                    if not grid or grid[-1] != xy:
                        grid.append(xy)
                if len(grid) > 1 and grid[0] == grid[-1]:
                    grid.pop()
                if len(grid) < 3:
                    continue  # smaller than a unit of the grid: invisible at this size
                steps = " ".join(f"{x - px} {y - py}" for (px, py), (x, y) in itertools.pairwise(grid))
                parts.append(f"M{grid[0][0]} {grid[0][1]}l{steps}z")
        shapes.append(Shape(code, "".join(parts)))
    return Geometry(width, height, tuple(shapes))


@cache
def national() -> Geometry:
    """The 38 provinces of Indonesia."""
    return project({c: f["polygons"] for c, f in load("provinsi").items()}, width=2000)


@cache
def province(code: str) -> Geometry:
    """One province's kab/kota (empty when the code names none)."""
    regions = {c: f["polygons"] for c, f in load("kabkota").items() if f["properties"].get("province") == code}
    return project(regions, width=1600)


def province_codes() -> list[str]:
    return sorted(load("provinsi"))


# -- classes and the map -----------------------------------------------------------------------


@dataclass(frozen=True)
class LegendItem:
    colour: str
    label: str


def class_breaks(values: Sequence[float], classes: int = len(PALETTE)) -> list[float]:
    """Upper bounds of up to `classes` classes over the positive values (quantiles, rounded up to
    whole numbers, duplicates dropped). A value v falls in the first class whose bound is >= v."""
    positive = sorted(v for v in values if v > 0)
    if not positive:
        return []
    bounds: list[float] = []
    for i in range(1, classes + 1):
        q = positive[min(len(positive) - 1, math.ceil(i * len(positive) / classes) - 1)]
        bound = float(math.ceil(q))
        if not bounds or bound > bounds[-1]:
            bounds.append(bound)
    return bounds


def colour_for(value: float, breaks: Sequence[float]) -> str:
    if value <= 0 or not breaks:
        return NONE_COLOUR
    offset = len(PALETTE) - len(breaks)  # few classes: use the darker end of the palette
    for i, bound in enumerate(breaks):
        if value <= bound:
            return PALETTE[offset + i]
    return PALETTE[-1]


def legend(breaks: Sequence[float], unit: str = "kerja sama") -> list[LegendItem]:
    items = [LegendItem(NONE_COLOUR, f"Tidak ada {unit}")]
    offset = len(PALETTE) - len(breaks)
    low = 1
    for i, bound in enumerate(breaks):
        high = int(bound)
        label = f"{low} {unit}" if low == high else f"{low}–{high} {unit}"
        items.append(LegendItem(PALETTE[offset + i], label))
        low = high + 1
    return items


def choropleth(
    geometry: Geometry, values: Mapping[str, float], *, title: str, desc: str, name: Callable[[str], str],
    href: Callable[[str], str | None], unit: str = "kerja sama", svg_id: str = "peta",
) -> tuple[Markup, list[LegendItem]]:
    """The map as an SVG element (each region a link with its own <title>, coloured by its
    class) and its legend."""
    breaks = class_breaks([values.get(s.code, 0) for s in geometry.shapes])
    out = [
        Markup('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="group" '
               'aria-labelledby="{id}-judul {id}-uraian" preserveAspectRatio="xMidYMid meet">').format(
            w=geometry.width, h=geometry.height, id=svg_id),
        Markup('<title id="{id}-judul">{t}</title><desc id="{id}-uraian">{d}</desc>').format(
            id=svg_id, t=title, d=desc),
    ]
    for shape in geometry.shapes:
        value = values.get(shape.code, 0)
        label = f"{name(shape.code)}: {thousands(int(value))} {unit}"
        path = Markup('<path d="{d}" fill="{fill}" data-kode="{code}"><title>{label}</title></path>').format(
            d=shape.d, fill=colour_for(value, breaks), code=shape.code, label=label)
        link = href(shape.code)
        if link:
            out.append(Markup('<a href="{href}" aria-label="{label}">{path}</a>').format(
                href=link, label=label, path=path))
        else:
            out.append(path)
    out.append(Markup("</svg>"))
    return Markup("").join(out), legend(breaks, unit)


def swatch(colour: str) -> Markup:
    """A small square of a legend colour (an SVG, so no inline style is needed)."""
    return Markup('<svg width="14" height="14" viewBox="0 0 14 14" aria-hidden="true" focusable="false">'
                  '<rect width="14" height="14" fill="{c}" stroke="#8a939e" stroke-width="1"/></svg>').format(
        c=escape(colour))
