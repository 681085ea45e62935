"""Atomic writes: the old file or the new one, never half of one, and no temporary left behind."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pandas as pd
import pytest

from pestcast.core.atomic import (
    atomic_path,
    replace_symlink_atomic,
    write_bytes_atomic,
    write_text_atomic,
)
from pestcast.core.errors import PublishError


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_bytes_creates_folders_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "data.bin"

    write_bytes_atomic(path, b"first")
    write_bytes_atomic(path, b"second")

    assert path.read_bytes() == b"second"
    assert names(path.parent) == ["data.bin"]


def test_written_file_has_ordinary_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)

    path = write_text_atomic(tmp_path / "map.geojson", "{}")

    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable by a web server


def test_write_text_is_utf8(tmp_path: Path) -> None:
    path = write_text_atomic(tmp_path / "note.txt", "rầy nâu, đạo ôn")
    assert path.read_bytes() == "rầy nâu, đạo ôn".encode()


def test_atomic_path_keeps_the_suffix_for_writers_that_need_it(tmp_path: Path) -> None:
    table = pd.DataFrame({"parcel_id": ["AG-00001"], "ndvi_mean": [0.61]})
    destination = tmp_path / "observations.parquet"

    with atomic_path(destination) as temporary:
        assert temporary.parent == tmp_path
        assert temporary.name.startswith(".")
        assert temporary.suffix == ".parquet"
        table.to_parquet(temporary, index=False)
        assert not destination.exists()  # nothing visible until the block succeeds

    pd.testing.assert_frame_equal(pd.read_parquet(destination), table)
    assert names(tmp_path) == ["observations.parquet"]


def test_failure_in_the_block_keeps_the_previous_file(tmp_path: Path) -> None:
    destination = write_text_atomic(tmp_path / "table.csv", "old")

    def write_half_then_break() -> None:
        with atomic_path(destination) as temporary:
            temporary.write_text("half of the new cont")
            raise RuntimeError("writer broke")

    with pytest.raises(RuntimeError, match="writer broke"):
        write_half_then_break()

    assert destination.read_text() == "old"
    assert names(tmp_path) == ["table.csv"]


def test_an_os_error_while_writing_names_the_destination(tmp_path: Path) -> None:
    destination = write_text_atomic(tmp_path / "table.csv", "old")

    def write_until_the_disk_is_full() -> None:
        with atomic_path(destination) as temporary:
            temporary.write_text("partial")
            raise OSError(28, "disk full")

    with pytest.raises(PublishError, match=r"cannot write .*table\.csv: .*disk full"):
        write_until_the_disk_is_full()
    assert destination.read_text() == "old"
    assert names(tmp_path) == ["table.csv"]


def test_a_writer_that_writes_nothing_is_an_error(tmp_path: Path) -> None:
    destination = write_text_atomic(tmp_path / "table.csv", "old")

    with (
        pytest.raises(PublishError, match=r"nothing was written for .*table\.csv"),
        atomic_path(destination),
    ):
        pass

    assert destination.read_text() == "old"


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    versions = [bytes([n]) * 2_000_000 for n in (1, 2)]
    write_bytes_atomic(path, versions[0])
    seen: set[bytes] = set()
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            content = path.read_bytes()
            seen.add(content[:1] + content[-1:] + str(len(content)).encode())

    thread = threading.Thread(target=reader)
    thread.start()
    for n in range(40):
        write_bytes_atomic(path, versions[n % 2])
    done.set()
    thread.join(timeout=10)

    assert seen <= {b"\x01\x012000000", b"\x02\x022000000"}
    assert names(tmp_path) == ["big.bin"]


def test_symlink_is_relative_and_replaced(tmp_path: Path) -> None:
    first, second = tmp_path / "models" / "v1", tmp_path / "models" / "v2"
    first.mkdir(parents=True)
    second.mkdir()
    link = tmp_path / "models" / "latest"

    replace_symlink_atomic(link, first)
    replace_symlink_atomic(link, second)

    assert link.readlink() == Path("v2")
    assert link.resolve() == second.resolve()
    assert names(link.parent) == ["latest", "v1", "v2"]


def test_symlink_refuses_a_real_folder_or_a_missing_target(tmp_path: Path) -> None:
    target = tmp_path / "v1"
    target.mkdir()
    real_folder = tmp_path / "latest"
    real_folder.mkdir()

    with pytest.raises(PublishError, match=r"is a real file or folder"):
        replace_symlink_atomic(real_folder, target)
    with pytest.raises(PublishError, match=r"target does not exist"):
        replace_symlink_atomic(tmp_path / "other", tmp_path / "missing")
    assert real_folder.is_dir()
    assert not real_folder.is_symlink()


def test_the_temporaries_of_killed_writes_are_removed_and_nothing_else(tmp_path: Path) -> None:
    from pestcast.core.atomic import remove_stale_temporaries

    (tmp_path / "observations").mkdir()
    stale = tmp_path / "observations" / ".2024-09-13_e6beae1a.82f9ed01150c.tmp.parquet"
    stale.write_bytes(b"half")
    kept = [
        tmp_path / "observations" / "2024-09-13_e6beae1a.parquet",
        tmp_path / ".pestcast",
        tmp_path / ".pestcast.lock",
        tmp_path / "notes.tmp.txt",
    ]
    for path in kept:
        path.write_text("keep", encoding="utf-8")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert all(path.exists() for path in kept)
