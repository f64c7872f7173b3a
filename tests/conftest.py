"""Shared fixtures: offline environment, index home in tmp, photos the tests index."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# The suite is offline by design: hub libraries must use their caches only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def provenance_cache(tmp_path_factory) -> Path:
    """Compiled query encoders go to a cache of the test session's own, never the user's."""
    cache = tmp_path_factory.mktemp("provenance-cache")
    os.environ["PROVENANCE_CACHE"] = str(cache)
    return cache


@pytest.fixture(autouse=True)
def indexes_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "indexes"
    monkeypatch.setenv("PROVENANCE_INDEXES", str(home))
    monkeypatch.delenv("PROVENANCE_INDEX", raising=False)
    return home


@pytest.fixture(scope="session")
def photos():
    """Name -> RGB PIL image, from scikit-image's bundled (offline) samples."""
    from helpers import load_photos

    return load_photos()


@pytest.fixture
def image_folder(tmp_path, photos) -> Path:
    from helpers import write_folder

    return write_folder(tmp_path / "photos", photos)


@pytest.fixture
def cli_run():
    from helpers import run_cli

    return run_cli
