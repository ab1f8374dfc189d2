"""Read the packaged catalogue, then a user's directory of overrides.

A user's directory may hold any of ``accelerators.yaml``, ``sites.yaml``, ``grid.yaml``,
``network.yaml`` and ``models.yaml``. Entries whose ``id`` matches a packaged entry
replace it whole; new ids extend the catalogue. Any problem is a
:class:`~suanli.errors.CatalogError` naming the file, line, column and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from suanli import _yamlio
from suanli.catalog import diskcache
from suanli.catalog.catalog import Catalog
from suanli.catalog.schema import (
    SCHEMA_VERSION,
    Accelerator,
    GridRegion,
    HourProfile,
    Link,
    Model,
    NetworkDefaults,
    Site,
    _Row,
)
from suanli.errors import CatalogError

FILES = ("accelerators", "sites", "grid", "network", "models")
"""Catalogue file stems, in load order."""
PACKAGED = Path(__file__).with_name("data")
"""The packaged catalogue files (read as files: a short command reads all five on every
start to key the compiled catalogue, and ``importlib.resources`` took 0.8 ms to find them)."""

RowT = TypeVar("RowT", bound=_Row)
ModelT = TypeVar("ModelT", bound=BaseModel)


class _Document:
    """One parsed catalogue file with positions for error messages."""

    def __init__(self, label: str, text: str, kind: str) -> None:
        self.label = label
        try:
            data, self.positions = _yamlio.load(text)
        except _yamlio.YamlError as exc:
            raise CatalogError(exc.message, path=label, line=exc.line, column=exc.column) from None
        if not isinstance(data, dict):
            raise CatalogError("expected a mapping with schema_version, kind and items", path=label, line=1)
        self.data: dict[str, Any] = data
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise self.error(
                ("schema_version",),
                f"schema_version {version!r} is not supported; this suanli reads {SCHEMA_VERSION}",
            )
        if data.get("kind") != kind:
            raise self.error(("kind",), f"kind must be '{kind}' in {kind}.yaml, got {data.get('kind')!r}")

    def error(self, path: tuple[str | int, ...], message: str) -> CatalogError:
        pos = _yamlio.position_of(self.positions, path)
        return CatalogError(
            message,
            path=self.label,
            line=pos[0] if pos else None,
            column=pos[1] if pos else None,
            field=_yamlio.dotted(path) or None,
        )

    def rows(self, key: str, model: type[RowT]) -> dict[str, RowT]:
        """Validate the list under ``key`` into ``model`` rows keyed by id."""
        raw = self.data.get(key, [])
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise self.error((key,), "expected a list of entries")
        out: dict[str, RowT] = {}
        for index, item in enumerate(raw):
            try:
                row = model.model_validate(item)
            except ValidationError as exc:
                first = exc.errors()[0]
                path = (key, index, *first["loc"])
                raise self.error(path, _describe(first)) from None
            ident = str(row.id)
            if ident in out:
                raise self.error((key, index, "id"), f"duplicate id '{ident}' in this file")
            out[ident] = row
        return out

    def mapping(self, key: str, model: type[ModelT]) -> ModelT | None:
        raw = self.data.get(key)
        if raw is None:
            return None
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise self.error((key, *first["loc"]), _describe(first)) from None


def _describe(error: Mapping[str, Any]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = "unknown field"
    elif error.get("type") == "missing":
        message = "required field is missing"
    return message


def _packaged_text(stem: str) -> tuple[str, str]:
    return f"<packaged>/{stem}.yaml", (PACKAGED / f"{stem}.yaml").read_text(encoding="utf-8")


def _user_text(directory: Path, stem: str) -> tuple[str, str] | None:
    path = directory / f"{stem}.yaml"
    if not path.exists():
        alt = directory / f"{stem}.yml"
        if not alt.exists():
            return None
        path = alt
    try:
        return str(path), path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read catalogue file: {exc}", path=str(path)) from None


def load_catalog(directory: str | Path | None = None) -> Catalog:
    """The packaged catalogue, with ``directory``'s files layered on top (cached)."""
    if directory is None:
        return _load_cached(None, ())
    path = Path(directory).resolve()
    stamps = (
        tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in sorted(path.glob("*.y*ml")) if f.is_file())
        if path.is_dir()
        else ()
    )
    return _load_cached(str(path), stamps)


@lru_cache(maxsize=8)
def _load_cached(directory: str | None, stamps: tuple[tuple[str, int, int], ...]) -> Catalog:
    """``stamps`` (name, mtime, size of the directory's files) keeps the cache honest when
    a user edits an override file in a long-lived process."""
    del stamps
    user_dir = Path(directory) if directory is not None else None
    if user_dir is not None and not user_dir.is_dir():
        raise CatalogError("catalogue override directory does not exist", path=str(user_dir))
    texts: dict[str, list[tuple[str, str]]] = {}
    for stem in FILES:
        texts[stem] = [_packaged_text(stem)]
        if user_dir is not None:
            found = _user_text(user_dir, stem)
            if found is not None:
                texts[stem].append(found)
    name = diskcache.key((doc for stem in FILES for doc in texts[stem]), SCHEMA_VERSION)
    cached = diskcache.read(name)
    if cached is not None:
        return cached
    documents = {stem: [_Document(*doc, kind=stem) for doc in docs] for stem, docs in texts.items()}
    catalog = _build(documents)
    diskcache.write(name, catalog)
    return catalog


def _build(documents: dict[str, list[_Document]]) -> Catalog:
    """Validate the documents (packaged first, overrides after) into one catalogue."""
    accelerators: dict[str, Accelerator] = {}
    sites: dict[str, Site] = {}
    regions: dict[str, GridRegion] = {}
    profiles: dict[str, HourProfile] = {}
    links: dict[str, Link] = {}
    models: dict[str, Model] = {}
    defaults: NetworkDefaults | None = None
    for doc in documents["accelerators"]:
        accelerators.update(doc.rows("items", Accelerator))
    for doc in documents["sites"]:
        sites.update(doc.rows("items", Site))
    for doc in documents["grid"]:
        regions.update(doc.rows("items", GridRegion))
        profiles.update(doc.rows("profiles", HourProfile))
    for doc in documents["network"]:
        links.update(doc.rows("items", Link))
        defaults = doc.mapping("defaults", NetworkDefaults) or defaults
    for doc in documents["models"]:
        models.update(doc.rows("items", Model))
    if defaults is None:
        raise documents["network"][0].error(("defaults",), "network defaults are required")
    _check_references(documents, accelerators, sites, regions, profiles, links)
    return Catalog(
        accelerators=accelerators,
        sites=sites,
        grid_regions=regions,
        hour_profiles=profiles,
        links=links,
        network_defaults=defaults,
        models=models,
    )


def _find(docs: list[_Document], key: str, ident: str) -> tuple[_Document, int]:
    """The last document (and index) that defines ``ident`` under ``key``."""
    for doc in reversed(docs):
        for index, item in enumerate(doc.data.get(key) or []):
            if isinstance(item, dict) and item.get("id") == ident:
                return doc, index
    return docs[-1], 0


def _check_references(
    documents: dict[str, list[_Document]],
    accelerators: Mapping[str, Accelerator],
    sites: Mapping[str, Site],
    regions: Mapping[str, GridRegion],
    profiles: Mapping[str, HourProfile],
    links: Mapping[str, Link],
) -> None:
    for site in sites.values():
        doc, index = _find(documents["sites"], "items", site.id)
        for accel in site.inventory:
            if accel not in accelerators:
                raise doc.error(
                    ("items", index, "inventory", accel),
                    f"unknown accelerator '{accel}'; valid: {', '.join(sorted(accelerators))}",
                )
        if site.grid_region not in regions:
            raise doc.error(
                ("items", index, "grid_region"),
                f"unknown grid region '{site.grid_region}'; valid: {', '.join(sorted(regions))}",
            )
        if site.pricing.model == "rental":
            missing = sorted(set(site.inventory) - set(site.pricing.accelerator_usd_per_h))
            if missing:
                raise doc.error(
                    ("items", index, "pricing", "accelerator_usd_per_h"),
                    f"rental site has no price for {', '.join(missing)}",
                )
    for region in regions.values():
        if region.profile not in profiles:
            doc, index = _find(documents["grid"], "items", region.id)
            raise doc.error(
                ("items", index, "profile"),
                f"unknown hour profile '{region.profile}'; valid: {', '.join(sorted(profiles))}",
            )
    for link in links.values():
        for end in ("a", "b"):
            if getattr(link, end) not in sites:
                doc, index = _find(documents["network"], "items", link.id)
                raise doc.error(
                    ("items", index, end),
                    f"unknown site '{getattr(link, end)}'; valid: {', '.join(sorted(sites))}",
                )


def load_sites_file(path: str | Path, catalog: Catalog) -> dict[str, Site]:
    """Sites from a file in ``sites.yaml`` format, checked against ``catalog``
    (accelerators, grid regions, prices): a network of one's own for the simulator."""
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read the file: {exc}", path=label) from None
    doc = _Document(label, text, kind="sites")
    sites = doc.rows("items", Site)
    if not sites:
        raise doc.error(("items",), "a network needs at least one site")
    _check_references(
        {"sites": [doc], "grid": [], "network": []},
        catalog.accelerators,
        sites,
        catalog.grid_regions,
        catalog.hour_profiles,
        {},
    )
    return sites
