"""Download one file over http://, https:// or file:// into the raw folder, resumably.

Bytes go to `<dest>.part` and only a complete file is renamed to `dest`, so `dest` either does not
exist or holds the whole download. An interrupted download keeps its `.part`; the next attempt (a
retry here, or a later run) asks the server for the rest with `Range: bytes=N-`. Only the standard
library's urllib talks to the network. Integrity is the manifest's job (`check_file`): this module
checks the byte count only.
"""

from __future__ import annotations

import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from unimse_core.io.errors import RawDataError

CHUNK = 1 << 20
USER_AGENT = "unimse-download/1"
# Status codes worth another try: the server may answer differently in a moment.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


class _Retry(Exception):
    """A transient failure: the attempt may be repeated, resuming from the .part."""


def download(url: str, dest: str | Path, *, expected_size: int | None, timeout_s: float, retries: int,
             progress: bool = True, backoff_s: float = 1.0) -> None:
    """Fetch `url` to `dest`, resuming `<dest>.part` if present.

    Network errors, timeouts, cut connections and 408/429/5xx answers are retried up to `retries`
    times, waiting `backoff_s`, then twice that, and so on (at most 30 s). Other HTTP errors (404,
    403, ...) fail at once. Raises RawDataError naming the URL and the reason; on a size mismatch
    (the final size differs from `expected_size`) neither `dest` nor the `.part` is left.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    scheme = urllib.parse.urlsplit(url).scheme
    with _Progress(progress, dest.name) as bar:
        if scheme == "file":
            _fetch_file(url, part, bar)
        elif scheme in ("http", "https"):
            _fetch_http(url, part, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s, bar=bar)
        else:
            raise RawDataError(url, f"unsupported URL scheme {scheme!r} (expected http, https or file)")
    got = part.stat().st_size
    if expected_size is not None and got != expected_size:
        part.unlink(missing_ok=True)
        raise RawDataError(dest, f"download from {url}: expected {expected_size} bytes, got {got}; "
                                 "nothing was kept")
    os.replace(part, dest)


def _fetch_http(url: str, part: Path, *, timeout_s: float, retries: int, backoff_s: float,
                bar: _Progress) -> None:
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(backoff_s * 2 ** (attempt - 1), 30.0))
        try:
            _attempt_http(url, part, timeout_s, bar)
            return
        except _Retry as err:
            last = str(err)
        except urllib.error.HTTPError as err:
            err.close()
            if err.code not in RETRY_STATUS:
                raise RawDataError(url, f"download failed: HTTP {err.code} {err.reason}") from None
            last = f"HTTP {err.code} {err.reason}"
        except urllib.error.URLError as err:
            last = f"{err.reason}"
        except (OSError, http.client.HTTPException) as err:  # timeouts, resets, malformed answers
            last = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    raise RawDataError(url, f"download failed after {retries + 1} attempt(s): {last}")


def _attempt_http(url: str, part: Path, timeout_s: float, bar: _Progress) -> None:
    """One request: append to the .part (206), restart it (200), or accept it as complete (416)."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not offset:
            raise
        # Nothing left to send: the .part is complete if the server's total agrees with it.
        total = _parse_content_range(err.headers.get("Content-Range", ""))[2]
        err.close()
        if total is not None and total != offset:
            part.unlink()
            raise _Retry(f"server says the file has {total} bytes, the .part has {offset}; restarting") from None
        bar.start(offset, offset)
        return
    with response:
        status = response.status
        if status == 206:
            start, _, total = _parse_content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                part.unlink()
                raise _Retry(f"server resumed at byte {start}, expected {offset}; restarting")
            mode = "ab"
        elif status == 200:
            # The server ignored the range (or there was none): start again from zero.
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        else:
            raise _Retry(f"unexpected HTTP status {status}")
        bar.start(offset, total)
        with part.open(mode) as out:
            _copy(response, out, bar)
            out.flush()
            os.fsync(out.fileno())
    got = part.stat().st_size
    if total is not None and got != total:
        raise _Retry(f"connection closed after {got} of {total} bytes")


def _fetch_file(url: str, part: Path, bar: _Progress) -> None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.netloc not in ("", "localhost"):
        raise RawDataError(url, f"file:// URL on another host ({parsed.netloc!r}) is not supported")
    source = Path(urllib.request.url2pathname(parsed.path))
    try:
        handle = source.open("rb")
    except OSError as err:
        raise RawDataError(url, f"cannot read {source}: {err.strerror or err}") from None
    with handle:
        total = os.fstat(handle.fileno()).st_size
        offset = part.stat().st_size if part.exists() else 0
        if offset > total:
            offset = 0
        handle.seek(offset)
        bar.start(offset, total)
        with part.open("r+b" if offset else "wb") as out:
            out.seek(offset)
            _copy(handle, out, bar)
            out.truncate()
            out.flush()
            os.fsync(out.fileno())


def _copy(source: BinaryIO, out: BinaryIO, bar: _Progress) -> None:
    """Copy in fixed-size chunks so that memory stays flat whatever the file size."""
    while chunk := source.read(CHUNK):
        out.write(chunk)
        bar.advance(len(chunk))


def _parse_content_range(value: str) -> tuple[int | None, int | None, int | None]:
    """`bytes 10-99/100` -> (10, 99, 100); `bytes */100` -> (None, None, 100); unknowns are None."""
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if not match:
        return None, None, None
    start, end, total = match.groups()
    return (int(start) if start else None, int(end) if end else None,
            int(total) if total and total != "*" else None)


class _Progress:
    """A transient rich progress bar; silent when disabled or when stderr is not a terminal."""

    def __init__(self, enabled: bool, name: str):
        self.enabled = enabled and sys.stderr.isatty()
        self.name = name

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                       TransferSpeedColumn)
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                TransferSpeedColumn(), TimeRemainingColumn(), transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task(self.name, total=None)
        return self

    def start(self, completed: int, total: int | None) -> None:
        """A new attempt begins at byte `completed` of `total` (None: unknown)."""
        if self.enabled:
            self.bar.update(self.task, completed=completed, total=total)

    def advance(self, n: int) -> None:
        if self.enabled:
            self.bar.advance(self.task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)
