"""The compiled catalogue on disk (suanli.catalog.diskcache): a hit is the same catalogue,
any edit misses, a broken file is rebuilt, and it can be turned off."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.catalog import diskcache, loader


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv(diskcache.CACHE_ENV, str(directory))
    loader._load_cached.cache_clear()  # the in-process cache would answer first
    return directory


def fresh(directory: str | None = None) -> object:
    loader._load_cached.cache_clear()
    return loader.load_catalog(directory)


def test_the_second_load_comes_from_disk_and_is_the_same_catalogue(cache: Path) -> None:
    built = fresh()
    files = list(cache.glob("catalog-*.pickle"))
    assert len(files) == 1
    again = fresh()
    assert again == built and again is not built
    assert list(cache.glob("catalog-*.pickle")) == files


def test_editing_an_override_file_misses_and_the_edit_shows(cache: Path, tmp_path: Path) -> None:
    overrides = tmp_path / "catalog"
    overrides.mkdir()
    fresh(str(overrides))
    (overrides / "accelerators.yaml").write_text(
        (Path(loader.__file__).parent / "data" / "accelerators.yaml")
        .read_text(encoding="utf-8")
        .replace("id: h800\n", "id: h800x\n", 1),
        encoding="utf-8",
    )
    edited = fresh(str(overrides))
    assert "h800x" in edited.accelerators  # type: ignore[attr-defined]
    assert len(list(cache.glob("catalog-*.pickle"))) == 2


def test_a_broken_cache_file_is_rebuilt(cache: Path) -> None:
    built = fresh()
    (path,) = cache.glob("catalog-*.pickle")
    path.write_bytes(b"not a pickle")
    assert fresh() == built
    assert path.read_bytes() != b"not a pickle", "rewritten"


def test_off_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(diskcache.CACHE_ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    fresh()
    assert not (tmp_path / "xdg").exists()
