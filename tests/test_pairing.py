"""Pairing tokens (pairing.py, `pair`): a label per phone, the list, revoking one by id, an
optional expiry on an injected clock, a broken pairing.json as one clear line (503 on the
web, exit 2 from `pair`), and a full disk that leaves no temporary file behind."""

import errno
import json
import os
import pty
import select
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from pi_service.config import Config
from pi_service.pairing import (LABEL_MAX, PairingError, PairingStore, UnknownPairing, check_label,
                                parse_expiry)
from pi_service.web.app import create_app
from tests.conftest import ROOT, run_cli
from tests.test_web import RAMP_UNDER_WAY, snapshot
from tests.test_web_api import HOSTS, Source

START = datetime(2025, 3, 1, 7, 30, tzinfo=timezone.utc)


class WallClock:
    """A wall clock that moves only when told."""

    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, span: timedelta) -> None:
        self.now += span


@pytest.fixture
def wall():
    return WallClock()


@pytest.fixture
def store(tmp_path, wall):
    return PairingStore(tmp_path, clock=wall)


# 1. Labels ------------------------------------------------------------------------------

def test_each_phone_gets_a_label_given_or_phone_n_by_default(store):
    store.new_token()
    store.new_token("kitchen tablet")
    store.new_token()
    assert [entry.label for entry in store.tokens()] == ["phone 1", "kitchen tablet", "phone 3"]
    assert store.default_label() == "phone 4"
    assert store.new_token("  Ana's Pixel 8  ") and store.tokens()[-1].label == "Ana's Pixel 8"


@pytest.mark.parametrize("label,why", [("", "empty"), ("   ", "empty"), ("x" * (LABEL_MAX + 1), "at most 40"),
                                       ("two\nlines", "printable"), ("tab\there", "printable"),
                                       ("bell\x07", "printable")])
def test_a_label_that_is_empty_too_long_or_unprintable_is_refused_and_nothing_is_stored(store, label, why):
    with pytest.raises(ValueError, match=why):
        check_label(label)
    with pytest.raises(ValueError, match=why):
        store.new_token(label)
    assert store.tokens() == []
    assert check_label("é" * LABEL_MAX) == "é" * LABEL_MAX  # the bound is in characters, not bytes


# 2. The list, and revoking one by id ------------------------------------------------------

def test_revoking_one_token_by_id_leaves_the_others_working(store):
    phone = store.new_token("phone")
    tablet = store.new_token("tablet")
    tablet_id = store.tokens()[1].id
    was = store.revoke(tablet_id)
    assert (was.label, was.revoked) == ("tablet", False)
    assert store.verify(phone) and not store.verify(tablet)
    assert [entry.summary(store.now())["status"] for entry in store.tokens()] == ["active", "revoked"]
    assert store.revoke(tablet_id).revoked  # a second time: no error, says it already was


def test_an_unknown_id_is_refused_and_nothing_changes(store):
    store.new_token("phone")
    before = store.path.read_bytes()
    with pytest.raises(UnknownPairing, match=r"pairing\.json: no pairing has the id 'nope'"):
        store.revoke("nope")
    assert store.path.read_bytes() == before


def test_revoke_all_counts_only_the_tokens_still_active(store, wall):
    store.new_token()
    store.new_token(expires_in=timedelta(hours=1))
    store.new_token()
    store.revoke(store.tokens()[2].id)
    wall.advance(timedelta(hours=2))
    assert store.revoke_all() == 1
    assert {entry.status(wall.now) for entry in store.tokens()} == {"revoked"}


# 3. Expiry ------------------------------------------------------------------------------

def test_a_token_stops_working_when_it_expires_by_the_injected_clock(store, wall):
    token = store.new_token("guest", expires_in=parse_expiry("30d"))
    forever = store.new_token("owner")
    entry = store.tokens()[0]
    assert entry.expires_at == START + timedelta(days=30)
    assert json.loads(store.path.read_text())["tokens"][0]["expires_at"] == "2025-03-31T07:30:00+00:00"
    wall.advance(timedelta(days=30, seconds=-1))
    assert store.verify(token) and entry.status(wall.now) == "active"
    wall.advance(timedelta(seconds=1))
    assert not store.verify(token) and store.tokens()[0].status(wall.now) == "expired"
    assert store.verify(forever)
    assert store.tokens()[1].summary(wall.now)["expires_at"] is None


@pytest.mark.parametrize("text,span", [("12h", timedelta(hours=12)), ("30d", timedelta(days=30)),
                                       ("2w", timedelta(weeks=2)), (" 1H ", timedelta(hours=1)),
                                       ("520w", timedelta(weeks=520))])
def test_an_expiry_is_hours_days_or_weeks(text, span):
    assert parse_expiry(text) == span


@pytest.mark.parametrize("text", ["", "30", "d", "1.5d", "-1d", "0h", "3m", "30 days", "521w", "9" * 40 + "d"])
def test_an_expiry_that_is_not_a_span_is_refused_with_the_forms_it_takes(text):
    with pytest.raises(ValueError, match=r"12h, 30d, 2w|at most 520w"):
        parse_expiry(text)


def test_a_file_from_before_labels_and_expiry_still_works_and_is_kept(tmp_path, wall):
    from pi_service.pairing import _hash

    old = {"tokens": [{"id": "0a1b2c3d", "sha256": _hash("old-token"), "created_at": "2024-06-01T10:00:00+00:00",
                       "revoked": False}]}
    (tmp_path / "pairing.json").write_text(json.dumps(old))
    store = PairingStore(tmp_path, clock=wall)
    assert store.verify("old-token")
    assert store.tokens()[0].summary(wall.now) == {"id": "0a1b2c3d", "label": "",
                                                   "created_at": "2024-06-01T10:00:00+00:00", "expires_at": None,
                                                   "status": "active"}
    store.new_token("new phone")
    assert store.verify("old-token") and len(store.tokens()) == 2


# 4. A broken pairing.json ------------------------------------------------------------------

GOOD = "a" * 64
BROKEN = [
    (b'{"tokens": 5}', '"tokens" is a number, not a list'),
    (b'{"tokens": [1]}', "token 1 is a number, not an object"),
    (b'[{"id": "x", "sha256": "' + GOOD.encode() + b'"}]', "the top level is a list"),
    (b'{"tokens": [{"id": "x"}]}', "token 1 has no sha256"),
    (b'{"tokens": [{"sha256": "' + GOOD.encode() + b'"}]}', "token 1 has no id"),
    (b'{"tokens": [{"id": "x", "sha256": null}]}', "token 1 (id 'x'): sha256 is not 64"),
    (b'{"tokens": [{"id": 7, "sha256": "' + GOOD.encode() + b'"}]}', "token 1: id is a number"),
    (b'{"tokens": [{"id": "x", "sha256": "' + GOOD.encode() + b'", "revoked": "yes"}]}', "revoked is a string"),
    (b'{"tokens": [{"id": "x", "sha256": "' + GOOD.encode() + b'", "label": ["a"]}]}', "label is a list"),
    (b'{"tokens": [{"id": "x", "sha256": "' + GOOD.encode() + b'", "expires_at": "soon"}]}',
     "expires_at 'soon' is not an ISO date"),
    (b'{"tokens": [{"id": "x", "sha256": "' + GOOD.encode() + b'"}, {"id": "x", "sha256": "' + GOOD.encode() + b'"}]}',
     "token 2: id 'x' is token 1's too"),
    (b'{"phones": []}', 'no "tokens" list'),
    (b"null", "the top level is null"),
    (b'{"tokens": [', "not JSON (line 1 column 13"),
    (b"", "not JSON (line 1 column 1"),
    (b'{"tokens": [{"id": "caf\xe9"}]}', "not UTF-8 text (byte 23 is 0xe9)"),
    (b"[" * 100_000, "nested too deeply"),
]


@pytest.mark.parametrize("content,what", BROKEN, ids=[what[:30] for _, what in BROKEN])
def test_a_wrong_shape_is_one_pairing_error_naming_the_file_and_what_is_wrong(tmp_path, content, what):
    (tmp_path / "pairing.json").write_bytes(content)
    store = PairingStore(tmp_path)
    for call in (store.tokens, lambda: store.verify("anything"), store.new_token, lambda: store.revoke("x")):
        with pytest.raises(PairingError) as raised:
            call()
        message = str(raised.value)
        assert message.startswith(f"{tmp_path / 'pairing.json'}: ") and what in message, message
        assert "\n" not in message and "pair --revoke-all" in message
    assert (tmp_path / "pairing.json").read_bytes() == content  # nothing but --revoke-all replaces it
    assert store.revoke_all() == 0
    assert store.tokens() == [] and store.verify(store.new_token())


def test_a_byte_order_mark_an_editor_added_is_read_and_dropped_on_the_next_write(tmp_path):
    store = PairingStore(tmp_path)
    token = store.new_token("phone")
    store.path.write_bytes(b"\xef\xbb\xbf" + store.path.read_bytes())
    assert store.verify(token)
    store.new_token("tablet")
    assert not store.path.read_bytes().startswith(b"\xef\xbb\xbf") and store.verify(token)


# The web side: an expired token is refused as a revoked one; a broken file is 503, never 500.

def app_over(folder):
    source = Source()
    source.board.publish(snapshot(ramp=RAMP_UNDER_WAY))  # so /api/ramp/stop is a real command
    return TestClient(create_app(source, Config(), sim=True, hosts=HOSTS, folder=folder)), source


def test_the_web_refuses_an_expired_token_with_403_and_takes_a_live_one(tmp_path):
    month_ago = PairingStore(tmp_path, clock=lambda: datetime.now(timezone.utc) - timedelta(days=31))
    expired = month_ago.new_token("guest", expires_in=timedelta(days=30))
    live = month_ago.new_token("owner", expires_in=timedelta(days=60))
    client, source = app_over(tmp_path)
    refused = client.post("/api/ramp/stop", headers={"Authorization": f"Bearer {expired}"})
    assert refused.status_code == 403 and source.commands.sent == []
    assert client.get("/api/pair/check", headers={"Authorization": f"Bearer {live}"}).status_code == 200
    assert client.post("/api/ramp/stop", headers={"Authorization": f"Bearer {live}"}).status_code == 202


ON_THE_WEB = BROKEN[:6] + BROKEN[-2:]


@pytest.mark.parametrize("content,what", ON_THE_WEB, ids=[what[:30] for _, what in ON_THE_WEB])
def test_the_web_answers_a_broken_pairing_file_with_503_and_its_reason_never_500(tmp_path, content, what):
    (tmp_path / "pairing.json").write_bytes(content)
    client, source = app_over(tmp_path)
    for path, body in (("/api/ramp/stop", None), ("/api/nudges/rail_lean/snooze", {"minutes": 5})):
        answer = client.post(path, json=body, headers={"Authorization": "Bearer some-token"})
        assert answer.status_code == 503, answer.text
        assert "pairing.json" in answer.json()["detail"] and what in answer.json()["detail"]
    assert client.get("/api/status").status_code == 200  # reading needs no token, and goes on
    assert source.commands.sent == []


# The command line ---------------------------------------------------------------------

def pair(*args):
    done = run_cli("pair", "--address", "pi.local", *args) if not _acts(args) else run_cli("pair", *args)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _acts(args):
    return any(a in ("--list", "--revoke", "--revoke-all") for a in args)


def error_line(done):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("treadmill-companion: error: ")
    return lines[0]


@pytest.fixture
def state(tmp_path, monkeypatch):
    folder = tmp_path / "state"
    monkeypatch.setenv("STATE_DIRECTORY", str(folder))
    return folder


def test_pair_lists_labels_and_expiry_and_revokes_one_by_id(state):
    made = json.loads(pair("--json", "--label", "kitchen tablet", "--expires", "2w").stdout)
    assert made["url"].startswith("http://pi.local:8080/#token=")
    pair("--json")  # no terminal: "phone 2", never a question
    listed = json.loads(pair("--list", "--json").stdout)
    assert [(e["label"], e["status"], e["expires_at"] is None) for e in listed] == [
        ("kitchen tablet", "active", False), ("phone 2", "active", True)]
    created = datetime.fromisoformat(listed[0]["created_at"])
    assert datetime.fromisoformat(listed[0]["expires_at"]) - created == timedelta(weeks=2)
    revoked = pair("--revoke", listed[0]["id"])
    assert revoked.returncode == 0 and f"revoked {listed[0]['id']} (kitchen tablet)" in revoked.stdout
    table = pair("--list").stdout.splitlines()
    assert table[0].split() == ["ID", "LABEL", "CREATED", "EXPIRES", "STATUS"] and len(table) == 3
    assert table[1].startswith(listed[0]["id"]) and "kitchen tablet" in table[1] and table[1].endswith("revoked")
    assert "phone 2" in table[2] and " never " in table[2] and table[2].endswith("active")
    assert "no pairing has the id 'nope'" in error_line(pair("--revoke", "nope"))
    assert pair("--revoke-all").stdout.startswith("revoked 1 token:")


@pytest.mark.parametrize("args,fragment", [
    (["--expires", "30"], "Invalid value for '--expires': '30' is not a time span"),
    (["--expires", "0d"], "more than none"),
    (["--label", "x" * 41], "at most 40 characters"),
    (["--label", "a\x1bb"], "printable"),
    (["--list", "--revoke", "ab"], "--list and --revoke cannot be combined"),
    (["--revoke-all", "--label", "x"], "--label applies only when making a token"),
])
def test_pair_refuses_a_bad_option_with_one_line_and_exit_2_storing_nothing(state, args, fragment):
    assert fragment in error_line(pair(*args))
    assert not (state / "pairing.json").exists()


@pytest.mark.parametrize("content,what", [BROKEN[0], BROKEN[3], BROKEN[2], BROKEN[-2]],
                         ids=["tokens-a-number", "no-sha256", "top-level-list", "not-utf8"])
def test_pair_on_a_broken_file_says_what_is_wrong_and_revoke_all_starts_afresh(state, content, what):
    state.mkdir()
    (state / "pairing.json").write_bytes(content)
    for args in ([], ["--list"], ["--revoke", "x"]):
        line = error_line(pair(*args))
        assert f"{state / 'pairing.json'}: " in line and what in line and "pair --revoke-all` starts afresh" in line
    assert (state / "pairing.json").read_bytes() == content
    fresh = pair("--revoke-all")
    assert fresh.returncode == 0 and "replaced the broken file" in fresh.stdout and what in fresh.stdout
    assert json.loads(pair("--json").stdout)["token"]
    assert [e["label"] for e in json.loads(pair("--list", "--json").stdout)] == ["phone 1"]


def test_pair_at_a_terminal_asks_for_a_label_offering_phone_n(state):
    """Through a pseudo-terminal, as a person runs it: a bad answer is explained and asked
    again; Enter on the second run takes the offered default."""
    first = at_a_terminal(["pair", "--address", "pi.local", "--no-qr"], ["x" * 41, "Ana's phone"])
    assert "Label for this phone [phone 1]" in first and "at most 40 characters" in first, first
    second = at_a_terminal(["pair", "--address", "pi.local", "--no-qr"], [""])
    assert "Label for this phone [phone 2]" in second, second
    assert [e["label"] for e in json.loads(pair("--list", "--json").stdout)] == ["Ana's phone", "phone 2"]


def at_a_terminal(args, answers, deadline_s=30.0):
    """Run the CLI on a pty, answering each prompt in turn; what the terminal showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "pi_service", *args], cwd=ROOT, stdin=follower,
                               stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    shown, prompts = b"", 0
    end = time.monotonic() + deadline_s
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # EIO: the process closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
                if shown.count(b"Label for this phone") > prompts and prompts < len(answers):
                    os.write(leader, answers[prompts].encode() + b"\r")
                    prompts += 1
            elif process.poll() is not None:
                break
        assert process.wait(timeout=max(1.0, end - time.monotonic())) == 0, shown.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return shown.decode(errors="replace")


# 5. A full disk ----------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    assert done.returncode == 0, f"these tests mount a small tmpfs as the state folder (root needed): {done.stderr}"
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder):
    with open(folder / "filler", "wb", buffering=0) as file:
        try:
            while True:
                file.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


@pytest.mark.parametrize("sim", [False, True], ids=["state-folder", "sim-folder"])
def test_pair_on_a_full_disk_names_the_file_leaves_no_temporary_and_keeps_the_old_file(small_disk, monkeypatch, sim):
    monkeypatch.setenv("STATE_DIRECTORY", str(small_disk))
    extra = ["--sim"] if sim else []
    folder = small_disk / "sim" if sim else small_disk
    token = json.loads(pair("--json", "--label", "phone", *extra).stdout)["token"]
    ident = json.loads(pair("--list", "--json", *extra).stdout)[0]["id"]
    before = (folder / "pairing.json").read_bytes()
    fill(folder)
    files = sorted(os.listdir(folder))
    for args in ([], ["--json"], ["--revoke", ident], ["--revoke-all"]):
        line = error_line(pair(*args, *extra))
        assert f"{folder / 'pairing.json'}: " in line and "no space left on device" in line.lower(), line
        assert sorted(os.listdir(folder)) == files, "a temporary file was left behind"
        assert (folder / "pairing.json").read_bytes() == before
    assert PairingStore(folder).verify(token)
    (folder / "filler").unlink()
    assert pair("--revoke", ident, *extra).returncode == 0 and not PairingStore(folder).verify(token)
