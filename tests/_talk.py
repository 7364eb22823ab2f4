"""The talk's scenarios as functions that run in child processes (start method "spawn").

"Zarr in Production Using Icechunk": an array of 1000 x 2 int8 with (1, 1) chunks; a
writer sets it all to 1 (or 0); readers print the mean of a random column.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore

import icechunk as ic

NUM_ROWS = 1_000
NUM_COLS = 2


def create_array(store: Any) -> None:
    # zarr >= 3.4 refuses dtype= together with data=: the dtype goes on the data.
    zarr.create_array(store=store, chunks=(1, 1), data=np.zeros((NUM_ROWS, NUM_COLS), np.int8))


def mean(store: Any) -> float:
    array = zarr.open_array(store, mode="r")
    col = random.randint(0, NUM_COLS - 1)
    return float(np.mean(array[:, col]))


def open_repo(path: str) -> ic.Repository:
    return ic.Repository.open(ic.local_filesystem_storage(path))


# ---- writers ------------------------------------------------------------------------------
def write_until_killed_plain(path: str, ready: Any) -> None:
    """Write 1s into the first half of the rows, say so, then hang (to be SIGKILLed)."""
    array = zarr.open_array(LocalStore(path))
    for x in range(NUM_ROWS // 2):
        for y in range(NUM_COLS):
            array[x, y] = 1
    ready.set()
    time.sleep(600)


def write_until_killed_icechunk(path: str, ready: Any) -> None:
    repo = open_repo(path)
    session = repo.writable_session("main")
    array = zarr.open_array(session.store)
    for x in range(NUM_ROWS // 2):
        for y in range(NUM_COLS):
            array[x, y] = 1
    ready.set()
    time.sleep(600)
    session.commit("never reached")


def flip_plain(path: str, stop: Any, rounds: Any) -> None:
    """Set the whole array to 1, then 0, then 1... until told to stop."""
    array = zarr.open_array(LocalStore(path))
    value = 1
    while not stop.is_set():
        array[:] = value
        value = 1 - value
        with rounds.get_lock():
            rounds.value += 1


def flip_icechunk(path: str, stop: Any, rounds: Any) -> None:
    """The same with one commit per update, as in the talk's ``repo.transaction``."""
    repo = open_repo(path)
    value = 1
    while not stop.is_set():
        with repo.transaction("main", message=f"set to {value}") as store:
            zarr.open_array(store)[:] = value
        value = 1 - value
        with rounds.get_lock():
            rounds.value += 1


# ---- readers ------------------------------------------------------------------------------
def read_means_plain(path: str, n: int, stop_on_torn: bool, out: Any) -> None:
    means = []
    for _ in range(n):
        m = mean(LocalStore(path, read_only=True))
        means.append(m)
        if stop_on_torn and m not in (0.0, 1.0):
            break
    out.put((os.getpid(), means))


def read_means_icechunk(path: str, n: int, out: Any) -> None:
    repo = open_repo(path)
    means = []
    for _ in range(n):
        session = repo.readonly_session(branch="main")
        means.append(mean(session.store))
    out.put((os.getpid(), means))


def read_pickled_store(store: ic.IcechunkStore, out: Any) -> None:
    array = zarr.open_array(store, mode="r")
    out.put((store.read_only, float(np.mean(array[:])), array.shape))


def commit_many(path: str, worker: int, n: int, out: Any) -> None:
    """Commit ``n`` times to main, retrying on ConflictError; report the acknowledged ids."""
    repo = open_repo(path)
    acknowledged, conflicts = [], 0
    while len(acknowledged) < n:
        session = repo.writable_session("main")
        zarr.open_array(session.store).attrs[f"w{worker}"] = len(acknowledged)
        try:
            acknowledged.append(session.commit(f"worker {worker} #{len(acknowledged)}"))
        except ic.ConflictError:
            conflicts += 1
    out.put((worker, acknowledged, conflicts))
