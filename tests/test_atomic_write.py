"""storage/atomic.py: a state file is replaced whole or not at all, and no temporary is left."""

import errno
import os
import stat

import pytest

from pi_service.pairing import PairingError, PairingStore
from pi_service.storage import atomic
from pi_service.storage.atomic import write_atomic


def test_a_write_replaces_the_file_with_its_mode_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "state" / "pairing.json"
    write_atomic(path, "old")
    write_atomic(path, "new ✓", mode=0o600)
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["pairing.json"]
    write_atomic(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"


def test_the_file_and_then_its_folder_are_fsynced_before_it_returns(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)), real(fd)))
    write_atomic(tmp_path / "calibration.json", "{}")
    assert synced == [False, True]  # the data, then the rename


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_a_full_disk_at_any_step_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch, failing):
    path = tmp_path / "calibration.json"
    path.write_text("old")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if failing == "write":
        real_fdopen = os.fdopen

        class Full:
            def __init__(self, file):
                self.file = file

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.file.close()

            def write(self, data):
                full()

        monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    else:
        monkeypatch.setattr(atomic.os, failing, full)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["calibration.json"]


def test_pairing_on_a_full_disk_names_its_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    store = PairingStore(tmp_path)
    store.new_token("phone")
    before = (tmp_path / "pairing.json").read_text()
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
    with pytest.raises(PairingError, match=r"pairing\.json: cannot write: No space left"):
        store.new_token("tablet")
    assert (tmp_path / "pairing.json").read_text() == before
    assert os.listdir(tmp_path) == ["pairing.json"]


def test_temporaries_a_killed_writer_left_are_removed_and_nothing_else(tmp_path):
    path = tmp_path / "calibration.json"
    write_atomic(path, "{}")
    for name in (".calibration.json.abc123.tmp", ".calibration.json.x.tmp"):
        (tmp_path / name).write_text("half")
    (tmp_path / ".pairing.json.y.tmp").write_text("another file's")
    atomic.remove_stale_temporaries(path)
    assert sorted(os.listdir(tmp_path)) == [".pairing.json.y.tmp", "calibration.json"]
    PairingStore(tmp_path).new_token("phone")  # the pairing file's writer sweeps its own
    assert sorted(os.listdir(tmp_path)) == ["calibration.json", "pairing.json"]


def test_a_folder_that_cannot_be_synced_is_no_failure_but_a_failing_disk_is(tmp_path, monkeypatch):
    real = os.fsync

    def folder_sync(error):
        def fsync(fd):
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                raise OSError(error, os.strerror(error))
            real(fd)
        return fsync

    monkeypatch.setattr(atomic.os, "fsync", folder_sync(errno.EINVAL))
    write_atomic(tmp_path / "a.json", "1")
    assert (tmp_path / "a.json").read_text() == "1"
    monkeypatch.setattr(atomic.os, "fsync", folder_sync(errno.EIO))
    with pytest.raises(OSError, match="Input/output"):
        write_atomic(tmp_path / "a.json", "2")
