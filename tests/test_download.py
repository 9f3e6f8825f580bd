"""download(): against a real HTTP server on 127.0.0.1 that honours Range and can cut or stall."""

from __future__ import annotations

import http.server
import re
import socket
import threading
from dataclasses import dataclass, field

import pytest

from unimse_core.io.download import download
from unimse_core.io.errors import RawDataError

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes: more than one download chunk
FAST = {"timeout_s": 5.0, "retries": 3, "progress": False, "backoff_s": 0.01}


@dataclass
class ServerState:
    """What the handler serves and how it misbehaves; `ranges` logs the Range header of each request."""

    files: dict[str, bytes] = field(default_factory=dict)
    ranges: list[str | None] = field(default_factory=list)
    cut_after: int | None = None      # first request only: send this many body bytes, then hang up
    stall_first: bool = False         # first request only: send headers, then wait until released
    ignore_range: bool = False        # answer 200 with the whole file even when asked for a range
    release: threading.Event = field(default_factory=threading.Event)


class RangeHandler(http.server.BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state = self.state
        first = not state.ranges
        header = self.headers.get("Range")
        state.ranges.append(header)
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", header or "")
        if match and not state.ignore_range:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        try:
            if first and state.stall_first:
                state.release.wait(10)
                return
            if first and state.cut_after is not None:
                self.wfile.write(body[start:start + state.cut_after])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body[start:])
        except OSError:
            pass  # the client gave up on a stalled response


@pytest.fixture
def server():
    state = ServerState(files={"/data.bin": PAYLOAD})
    handler = type("Handler", (RangeHandler,), {"state": state})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_full_download(server, tmp_path):
    state, base = server
    dest = tmp_path / "sub" / "data.bin"
    download(f"{base}/data.bin", dest, expected_size=len(PAYLOAD), **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert state.ranges == [None]
    assert not (tmp_path / "sub" / "data.bin.part").exists()


def test_resume_existing_part(server, tmp_path):
    state, base = server
    dest = tmp_path / "data.bin"
    part = tmp_path / "data.bin.part"
    part.write_bytes(PAYLOAD[:300_001])
    download(f"{base}/data.bin", dest, expected_size=len(PAYLOAD), **FAST)
    assert state.ranges == ["bytes=300001-"]
    assert dest.read_bytes() == PAYLOAD
    assert not part.exists()


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    state, base = server
    state.ignore_range = True
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(b"x" * 1000)  # wrong bytes: must not survive a 200
    download(f"{base}/data.bin", dest, expected_size=len(PAYLOAD), **FAST)
    assert state.ranges == ["bytes=1000-"]
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_answered_with_416(server, tmp_path):
    state, base = server
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)
    download(f"{base}/data.bin", dest, expected_size=len(PAYLOAD), **FAST)
    assert state.ranges == [f"bytes={len(PAYLOAD)}-"]
    assert dest.read_bytes() == PAYLOAD


def test_cut_connection_is_retried_and_resumed(server, tmp_path):
    state, base = server
    state.cut_after = 123_456
    dest = tmp_path / "data.bin"
    download(f"{base}/data.bin", dest, expected_size=len(PAYLOAD), **FAST)
    assert state.ranges == [None, "bytes=123456-"]
    assert dest.read_bytes() == PAYLOAD


def test_stalled_response_times_out_and_is_retried(server, tmp_path):
    state, base = server
    state.stall_first = True
    dest = tmp_path / "data.bin"
    download(f"{base}/data.bin", dest, expected_size=None, **{**FAST, "timeout_s": 0.3})
    assert state.ranges == [None, None]  # nothing arrived before the timeout, so no range to resume
    assert dest.read_bytes() == PAYLOAD


def test_404_names_the_url(server, tmp_path):
    state, base = server
    url = f"{base}/missing.bin"
    with pytest.raises(RawDataError, match="404") as err:
        download(url, tmp_path / "missing.bin", expected_size=None, **FAST)
    assert url in str(err.value)
    assert len(state.ranges) == 1  # a 404 is final: not retried
    assert not (tmp_path / "missing.bin").exists()


def test_size_mismatch_leaves_no_dest(server, tmp_path):
    _, base = server
    dest = tmp_path / "data.bin"
    url = f"{base}/data.bin"
    with pytest.raises(RawDataError) as err:
        download(url, dest, expected_size=len(PAYLOAD) + 1, **FAST)
    message = str(err.value)
    assert url in message and str(dest) in message
    assert f"expected {len(PAYLOAD) + 1} bytes, got {len(PAYLOAD)}" in message
    assert not dest.exists()
    assert not (tmp_path / "data.bin.part").exists()


def test_refused_connection_fails_after_retries(tmp_path):
    with socket.socket() as probe:  # a port that was free a moment ago and that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/data.bin"
    with pytest.raises(RawDataError, match=r"after 3 attempt\(s\).*refused") as err:
        download(url, tmp_path / "data.bin", expected_size=None, **{**FAST, "retries": 2})
    assert url in str(err.value)
    assert not (tmp_path / "data.bin").exists()


def test_file_url_with_resume(tmp_path):
    source = tmp_path / "source dir" / "data.bin"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "data.bin"
    download(source.as_uri(), dest, expected_size=len(PAYLOAD), **FAST)
    assert dest.read_bytes() == PAYLOAD

    dest.unlink()
    (tmp_path / "out" / "data.bin.part").write_bytes(PAYLOAD[:5000])
    download(source.as_uri(), dest, expected_size=len(PAYLOAD), **FAST)
    assert dest.read_bytes() == PAYLOAD


def test_missing_file_url(tmp_path):
    url = (tmp_path / "nope.bin").as_uri()
    with pytest.raises(RawDataError, match="nope.bin") as err:
        download(url, tmp_path / "out.bin", expected_size=None, **FAST)
    assert url in str(err.value)


def test_unsupported_scheme(tmp_path):
    with pytest.raises(RawDataError, match="unsupported URL scheme 'ftp'"):
        download("ftp://example.org/x", tmp_path / "x", expected_size=None, **FAST)
