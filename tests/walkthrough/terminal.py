"""A command in a pseudo-terminal of 80 columns, driven like a person at a keyboard."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\r")


class Terminal:
    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.process = subprocess.Popen(  # noqa: S603 - the test's own script
            argv,
            cwd=cwd,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.output = b""
        self._answered = 0  # how much of the output prompts were looked for in

    def text(self) -> str:
        """What the terminal showed, without colours and cursor moves."""
        return ANSI.sub("", self.output.decode(errors="replace"))

    def run_until(self, marker: str, timeout: float, answers: dict[str, str] | None = None) -> None:
        """Read until `marker` is shown, typing each answer after its prompt."""
        deadline = time.monotonic() + timeout
        while marker not in self.text():
            if time.monotonic() > deadline:
                raise AssertionError(f"no {marker!r} in {timeout}s:\n{self.text()[-4000:]}")
            if not self._read(0.5) and self.process.poll() is not None:
                raise AssertionError(f"exited before {marker!r}:\n{self.text()[-4000:]}")
            self._answer(answers or {})

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], wait)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the other side closed
            return False
        self.output += chunk
        return bool(chunk)

    def _answer(self, answers: dict[str, str]) -> None:
        pending = self.output[self._answered :].decode(errors="replace")
        for prompt, reply in answers.items():
            at = pending.find(prompt)
            if at >= 0:
                self._answered += len(pending[: at + len(prompt)].encode())
                os.write(self.master, (reply + "\n").encode())
                return

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0.1):
            pass
        return self.process.wait(timeout=1)
