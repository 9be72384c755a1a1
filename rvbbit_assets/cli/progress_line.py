"""A status line that rewrites itself on a terminal, and plain lines everywhere else.

On a TTY the latest status, followed by the time elapsed, is redrawn in place (`\\r`, then
clear to the end of the line) whenever it changes and once a second, so a long step still
shows time passing; notes print above it. Off a TTY (CI logs, pipes, files) there is no
status line: notes and finished steps print as plain lines, without control characters.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

_CLEAR_LINE = "\r\x1b[K"
TICK_SECONDS = 1.0


def is_terminal(stream: TextIO) -> bool:
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def elapsed_text(seconds: float) -> str:
    """`0:07`, `2:13`, `1:02:13`."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressLine:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = is_terminal(self.stream)
        self.started = time.monotonic()
        self._status = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def elapsed(self) -> str:
        return elapsed_text(time.monotonic() - self.started)

    def status(self, text: str) -> None:
        """Show `text` as the current status (on a terminal only)."""
        if not self.live or text == self._status:
            return
        with self._lock:
            self._status = text
            self._draw()
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def step(self, text: str) -> None:
        """A step done: the status on a terminal, a line elsewhere (where nothing redraws)."""
        if self.live:
            self.status(text)
        else:
            self.note(f"{text} ({self.elapsed})")

    def note(self, text: str) -> None:
        """A line that stays, printed above the status."""
        with self._lock:
            if self.live:
                self.stream.write(f"{_CLEAR_LINE}{text}\n")
                self._draw()
            else:
                self.stream.write(f"{text}\n")
                self.stream.flush()

    def close(self) -> None:
        """Remove the status line, leaving the notes."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            if self.live and self._status:
                self.stream.write(_CLEAR_LINE)
                self.stream.flush()
            self._status = ""

    def _draw(self) -> None:
        if self._status:
            self.stream.write(f"{_CLEAR_LINE}{self._status} · {self.elapsed}")
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            with self._lock:
                self._draw()
