"""Fuzzing the console link's frame parser (firmware/protocol.py) under CPython."""

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import protocol as p

kinds = st.sampled_from([p.HELLO, p.HEARTBEAT, p.RAMP, p.STOP_RAMP, p.ACK, p.STATUS, p.INFO])
frames = st.builds(p.encode, st.integers(0, 255), kinds, st.binary(max_size=p.MAX_PAYLOAD))


def feed_in_pieces(parser, data, cuts):
    out, start = [], 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        out += parser.feed(data[start:cut])
        start = max(start, cut)
    return out


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(0, 10_000), max_size=20))
def test_random_bytes_never_crash_the_parser_and_its_buffer_stays_small(data, cuts):
    parser = p.Parser()
    for seq, _kind, payload in feed_in_pieces(parser, data, cuts):
        assert 0 <= seq <= 255 and len(payload) <= p.MAX_PAYLOAD
    assert len(parser.buf) < p.HEADER_LEN + p.MAX_PAYLOAD + p.CRC_LEN


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(frames, st.binary(max_size=40)), min_size=1, max_size=12),
       st.lists(st.integers(0, 10_000), max_size=30))
def test_every_frame_is_found_among_garbage_in_any_pieces(pairs, cuts):
    data = b"".join(frame + garbage for frame, garbage in pairs)
    got = [p.encode(seq, kind, payload) for seq, kind, payload in feed_in_pieces(p.Parser(), data, cuts)]
    # Each frame sent comes out, in order (garbage might, once in 65536, hold a frame of its own).
    it = iter(got)
    assert all(any(frame == out for out in it) for frame, _ in pairs)


@settings(max_examples=400, deadline=None)
@given(frames, st.integers(0, 10_000), st.integers(1, 0xFFFF), st.booleans())
def test_a_corrupted_frame_never_gets_through(frame, where, burst, truncate):
    # Any error burst up to 16 bits long: CRC-16 catches every one of them.
    data = bytearray(frame)
    bit = 8 + where % ((len(data) - 1) * 8)  # not in the SYNC byte (that only hides the frame)
    value = int.from_bytes(data, "big") ^ (burst << max(0, len(data) * 8 - bit - 16))
    corrupted = value.to_bytes(len(data), "big")
    if truncate:
        corrupted = corrupted[:len(corrupted) - 1 - where % (len(corrupted) - 1)]
    assert corrupted != frame
    # A corrupted length can make the parser wait for up to one longest frame before it
    # can tell; the frames that follow are then all found.
    after = b"".join(p.encode(seq, p.HEARTBEAT) for seq in range(7, 14))
    got = p.Parser().feed(corrupted + after)
    assert [(seq, kind) for seq, kind, _ in got] == [(seq, p.HEARTBEAT) for seq in range(7, 14)]
