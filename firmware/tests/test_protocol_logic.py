"""The protocol module's logic; runs under CPython and MicroPython (see run.py)."""

try:
    from firmware import protocol as p
except ImportError:
    import protocol as p


def test_crc_check_value():
    assert p.crc16(b"123456789") == 0x29B1


def test_round_trip_of_every_message():
    frames = [p.encode(1, p.HELLO), p.encode(2, p.HEARTBEAT), p.encode(3, p.RAMP, p.pack_ramp(5.0, 0.5)),
              p.encode(4, p.STOP_RAMP), p.encode(5, p.ACK, p.pack_ack(3, p.RESULT_OK, 0xBEEF)),
              p.encode(6, p.STATUS, p.pack_status(12.3, -1, p.MODE_RAMP, p.RAMP_RUNNING, 70000, 5)),
              p.encode(7, p.INFO, p.pack_info("incline-1.0.0"))]
    got = p.Parser().feed(b"".join(frames))
    assert [(seq, kind) for seq, kind, _ in got] == [(1, p.HELLO), (2, p.HEARTBEAT), (3, p.RAMP), (4, p.STOP_RAMP),
                                                     (5, p.ACK), (6, p.STATUS), (7, p.INFO)]
    assert p.unpack_ramp(got[2][2]) == (5.0, 0.5)
    assert p.unpack_ack(got[4][2]) == (3, p.RESULT_OK, 0xBEEF)
    assert p.unpack_status(got[5][2]) == (12.3, -1, p.MODE_RAMP, p.RAMP_RUNNING, 70000 & 0xFFFF, 5)
    assert p.unpack_info(got[6][2]) == (p.VERSION, "incline-1.0.0")


def test_a_byte_at_a_time():
    frame = p.encode(9, p.RAMP, p.pack_ramp(4.5, 0.25))
    parser = p.Parser()
    got = []
    for i in range(len(frame)):
        got += parser.feed(frame[i:i + 1])
    assert len(got) == 1 and p.unpack_ramp(got[0][2]) == (4.5, 0.25)


def test_corrupt_frames_are_dropped_and_the_next_one_found():
    good = p.encode(1, p.HEARTBEAT)
    for i in range(1, len(good)):  # every byte but the SYNC flipped in turn
        bad = bytearray(good)
        bad[i] ^= 0x40
        parser = p.Parser()
        got = parser.feed(bytes(bad) + p.encode(2, p.HEARTBEAT))
        assert [seq for seq, _, _ in got] == [2], (i, got)


def test_truncated_frame_then_a_whole_one():
    whole = p.encode(5, p.RAMP, p.pack_ramp(5.0, 0.5))
    parser = p.Parser()
    got = parser.feed(whole[:6] + p.encode(6, p.HEARTBEAT))
    assert [seq for seq, _, _ in got] == [6]
    assert parser.corrupt >= 1


def test_garbage_between_frames_and_an_impossible_length():
    noise = bytes([0xA5, 0xFF, 0x00, 0x13, 0xA5, 0xA5, 0x01]) + b"hello world"
    data = noise + p.encode(1, p.HEARTBEAT) + noise + p.encode(2, p.HEARTBEAT) + noise
    got = p.Parser().feed(data)
    assert [seq for seq, _, _ in got] == [1, 2]


def test_sequence_filter_new_duplicate_old_and_hello():
    f = p.SequenceFilter()
    assert f.check(250, p.HEARTBEAT) == p.NEW  # the first frame sets the base
    assert f.check(251, p.HEARTBEAT) == p.NEW
    assert f.check(251, p.RAMP) == p.DUPLICATE
    assert f.check(249, p.HEARTBEAT) == p.OLD
    assert f.check(3, p.HEARTBEAT) == p.NEW  # across the wrap
    assert f.check(200, p.HEARTBEAT) == p.OLD
    assert f.check(200, p.HELLO) == p.NEW  # a restarted peer
    assert f.check(201, p.HEARTBEAT) == p.NEW


def test_a_command_is_retried_a_bounded_number_of_times_then_failed():
    s = p.Sender()
    first = s.command(p.RAMP, p.pack_ramp(5, 0.5), 0)
    assert s.due(p.ACK_TIMEOUT_MS - 1) is None
    resent = [s.due(p.ACK_TIMEOUT_MS * i) for i in range(1, p.MAX_RETRIES + 2)]
    assert resent[:p.MAX_RETRIES] == [first] * p.MAX_RETRIES  # the same frame, the same seq
    assert resent[p.MAX_RETRIES] is None and s.failed == [p.RAMP] and s.pending is None


def test_an_ack_ends_the_retries():
    s = p.Sender()
    frame = s.command(p.STOP_RAMP, b"", 0)
    seq, crc = s.seq, (frame[-2] << 8) | frame[-1]
    assert crc == p.frame_crc(seq, p.STOP_RAMP, b"")
    assert s.acked((seq + 1) & 0xFF, crc) is None
    assert s.acked(seq, crc) == p.STOP_RAMP
    assert s.due(10_000) is None and s.failed == []
