"""Tests of the one atomic writer: content, suffix kept, no temp file left, old file kept."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pandas as pd
import pytest

from benchmark.atomic import (
    atomic_path,
    temp_path,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from benchmark.errors import StorageError


def test_helpers_write_their_content(tmp_path):
    write_text_atomic("a\nb", tmp_path / "sub" / "t.txt")
    write_bytes_atomic(b"\x00\x01", tmp_path / "b.bin")
    write_json_atomic({"b": 1, "a": 2}, tmp_path / "j.json", indent=None, sort_keys=True)
    write_csv_atomic(pd.DataFrame({"x": [1, 2]}), tmp_path / "c.csv")
    assert (tmp_path / "sub" / "t.txt").read_text() == "a\nb", "parent created, text verbatim"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "j.json").read_text() == '{"a": 2, "b": 1}\n'
    assert json.loads((tmp_path / "j.json").read_text()) == {"a": 2, "b": 1}
    assert (tmp_path / "c.csv").read_text() == "x\n1\n2\n"
    assert not list(tmp_path.rglob("*.tmp*")), "no temp file is left behind"


def test_temp_name_keeps_the_suffix_for_libraries(tmp_path):
    tmp = temp_path(tmp_path / "masks.npz")
    assert tmp.parent == tmp_path and tmp.name.startswith("masks.tmp-") and tmp.suffix == ".npz"
    with atomic_path(tmp_path / "masks.npz") as out:
        np.savez(out, a=np.arange(3))  # np.savez would append .npz to a name without it
    assert np.load(tmp_path / "masks.npz")["a"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["masks.npz"]


def test_error_mid_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("disk full")
    assert target.read_text() == "old\n", "an existing file is untouched when the write fails"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"], "the temp file is removed"


def test_error_before_anything_was_written_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "fig.png"):
        raise KeyboardInterrupt
    assert not list(tmp_path.iterdir()), "no target and no temp file"


def test_failing_replace_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    write_json_atomic({"v": 1}, target)

    def crash(src, dst):
        raise OSError("no space left")

    monkeypatch.setattr("benchmark.atomic.os.replace", crash)
    with pytest.raises(OSError, match="no space"):
        write_json_atomic({"v": 2}, target)
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


@pytest.mark.parametrize(
    ("code", "what"),
    [
        (errno.ENOSPC, "disk full"),
        (errno.EDQUOT, "disk quota exceeded"),
        (errno.EROFS, "read-only file system"),
        (errno.EACCES, "permission denied"),
    ],
)
def test_file_system_refusal_is_one_line_naming_the_target(tmp_path, code, what):
    target = tmp_path / "run" / "cmc.csv"
    with pytest.raises(StorageError) as info, atomic_path(target) as tmp:
        tmp.write_text("half")
        raise OSError(code, os.strerror(code))
    message = str(info.value)
    assert message.startswith(f"{what} writing {target} (") and "\n" not in message, message
    assert list(tmp_path.rglob("*")) == [tmp_path / "run"], "no target and no temp file"


def test_other_errors_pass_through_unchanged(tmp_path):
    with pytest.raises(OSError) as info, atomic_path(tmp_path / "x.json"):
        raise OSError(errno.EIO, "I/O error")
    assert not isinstance(info.value, StorageError) and info.value.errno == errno.EIO
