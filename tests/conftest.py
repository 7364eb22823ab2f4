from __future__ import annotations

import sys
from pathlib import Path

import pytest

import icechunk as ic

# Worker functions for child processes live in tests/_talk.py; spawned children find it
# through the sys.path they inherit from this process.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def repo() -> ic.Repository:
    return ic.Repository.create(ic.in_memory_storage())


@pytest.fixture
def local_repo(tmp_path: Path) -> ic.Repository:
    return ic.Repository.create(ic.local_filesystem_storage(tmp_path / "repo"))
