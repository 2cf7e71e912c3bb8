import multiprocessing

import pytest

from pi_service.core.sample import Sample
from pi_service.core.session import SessionTracker
from pi_service.recording import HEADER, RecordingWriter, create_recording, format_row, quantize
from pi_service.sampling.board import SnapshotBoard
from pi_service.errors import CompanionError


def test_board_returns_the_latest_snapshot_and_none_before_any():
    board = SnapshotBoard()
    assert board.read() is None
    board.publish({"t": 1.0, "speed": 2})
    board.publish({"t": 2.0, "speed": 3})
    assert board.read() == {"t": 2.0, "speed": 3}


def _slot_base(board, number):
    """Where the slot that publish number `number` went to begins (its sequence, number, length, CRC, payload)."""
    return (number % 2) * board._slot_size


def test_board_refuses_a_torn_payload():
    board = SnapshotBoard()
    board.publish({"t": 1.0})
    board._view[_slot_base(board, 1) + 24] ^= 0xFF  # corrupt one payload byte behind the writer's back
    assert board.read(wait_s=0.01) is None


def test_a_write_in_progress_never_holds_up_a_read_and_a_read_never_loses_what_it_saw():
    """A writer preempted mid-write (the sampling process on a busy core) used to make a read
    wait, then give up and the API answer 503 "no snapshot yet". With two slots the read takes
    the whole one at once."""
    import struct
    import time

    board = SnapshotBoard()
    board.publish({"t": 1.0})
    board.publish({"t": 2.0})
    assert board.read() == {"t": 2.0}
    base = _slot_base(board, 3)  # the writer has begun publish 3 (over publish 1) and is preempted
    sequence = struct.unpack_from("<Q", board._view, base)[0]
    struct.pack_into("<Q", board._view, base, sequence + 1)
    started = time.monotonic()
    assert board.read() == {"t": 2.0}
    assert time.monotonic() - started < 0.005  # no waiting: the latest slot is whole
    # A writer that laps the reader: it finished 3 and has begun 4 over 2, preempted again.
    struct.pack_into("<Q", board._view, base, sequence)
    board._published = 2
    board.publish({"t": 3.0})
    assert board.read() == {"t": 3.0}
    base4 = _slot_base(board, 4)
    struct.pack_into("<Q", board._view, base4, struct.unpack_from("<Q", board._view, base4)[0] + 1)
    assert board.read() == {"t": 3.0}  # 3 is the latest and whole
    # Both slots mid-write (a writer killed mid-write twice): the last one seen, whose age says so.
    struct.pack_into("<Q", board._view, base, struct.unpack_from("<Q", board._view, base)[0] + 1)
    assert board.read(wait_s=0.01) == {"t": 3.0}
    # A restarted writer (a new process attached to the same memory) goes on from there.
    again = SnapshotBoard(buffer=board.buffer, size=board.size)
    again.publish({"t": 4.0})
    assert board.read() == {"t": 4.0}


def _publish_many(board, count):
    for i in range(count):  # (as fast as it can: about a million a second on a 2-core box)
        board.publish({"i": i, "pad": "x" * (i % 500)})


def test_board_is_shared_with_another_process_without_torn_reads():
    ctx = multiprocessing.get_context("spawn")
    board = SnapshotBoard(ctx)
    writer = ctx.Process(target=_publish_many, args=(board, 300_000))
    writer.start()
    seen = []
    while writer.is_alive():
        snapshot = board.read(wait_s=0)
        if snapshot is not None:
            assert snapshot["pad"] == "x" * (snapshot["i"] % 500)
            seen.append(snapshot["i"])
        else:
            # Never "nothing yet" once something was (struct.pack_into's zero-fill made the
            # latest-publish counter read 0 for a moment: thousands of Nones in a few seconds).
            assert not seen, f"None after snapshot {seen[-1]}"
    writer.join()
    assert board.read()["i"] == 299_999
    assert seen == sorted(seen)


def sample(t, kmh):
    return Sample(t, None if kmh is None else kmh / 3.6, 0.0, 0.0, 0.0)


def test_session_starts_at_walking_speed_and_ends_after_a_minute_below():
    tracker = SessionTracker(start_mps=0.5 / 3.6, end_s=60)
    assert tracker.update(sample(0, 0)) is None and tracker.current is None
    tracker.update(sample(1, 0.6))
    assert tracker.current.started_t == 1
    for t in range(2, 102):
        tracker.update(sample(t, 3.6))  # 1 m/s for 100 s
    assert tracker.current.distance_m == pytest.approx(100 + 0.5 * (0.6 + 3.6) / 3.6 - 0.6 / 3.6 * 0, rel=0.01)
    ended = None
    for t in range(102, 170):
        ended = ended or tracker.update(sample(t, 0.2))
    assert ended is not None
    assert ended.ended_t == 102
    assert ended.elapsed_s == 101
    assert tracker.current is None


def test_unknown_speed_neither_ends_a_session_nor_adds_distance():
    tracker = SessionTracker(start_mps=0.5 / 3.6, end_s=60)
    tracker.update(sample(0, 5))
    for t in range(1, 200):
        assert tracker.update(sample(t, None)) is None
    assert tracker.current is not None
    assert tracker.current.distance_m == 0


def test_recording_rows_follow_the_spec_format(tmp_path):
    assert HEADER == "t_s,speed_mps,incline_pct,rail_left_n,rail_right_n,cadence_spm,footstrike_g"
    assert format_row(Sample(12.5, 1.25, 3.0, None, 40.0)) == "12.5000,1.2500,3.000,,40.00,,"
    assert format_row(Sample(12.5, 1.25, 3.0, None, 40.0, 112.34, 0.41249)) == "12.5000,1.2500,3.000,,40.00,112.3,0.412"
    path = tmp_path / "run.csv"
    create_recording(path)
    writer = RecordingWriter(path)
    for i in range(1000):
        writer.add(Sample(i * 0.01, 1.0, 2.0, 3.0, None, 0.0 if i < 500 else 165.0, 0.0 if i < 500 else 1.25))
    writer.close()
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    assert len(lines) == 1001
    assert lines[1] == "0.0000,1.0000,2.000,3.00,,0.0,0.000"
    assert lines[-1] == "9.9900,1.0000,2.000,3.00,,165.0,1.250"


def test_quantize_rounds_every_channel_as_its_row_will_read_back():
    sample = quantize(Sample(1.23456, 1.23456, 1.23456, 1.23456, 1.23456, 112.3456, 0.123456))
    assert sample == Sample(1.2346, 1.2346, 1.235, 1.23, 1.23, 112.3, 0.123)
    assert quantize(Sample(1.0, None, None, None, None)) == Sample(1.0, None, None, None, None, None, None)


def test_recording_to_an_unwritable_place_fails_before_start(tmp_path):
    with pytest.raises(CompanionError, match="cannot write the recording"):
        create_recording(tmp_path / "no-such-dir" / "run.csv")
