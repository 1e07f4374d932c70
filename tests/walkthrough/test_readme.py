"""The README, followed to the letter on a fresh clone with nothing beside it.

A clone of this repository (its working tree's tracked state) in a temporary
directory, with no `../shared`, runs `make up`; the README's "First steps" are
typed into a terminal (a pty, so `nodebyte` prompts for the password as it does
for a person); `make up` is stopped and started again on the first run's data and
the README's next commands run in the same terminal; `make reset` empties it.

The stack is isolated the way the README says a second stack is (NB_DATABASE,
NB_AMQP_PREFIX, NB_PORT_OFFSET), so a developer's `make up` is untouched; the
README's `localhost:80xx` URLs are moved by the same offset. The uv cache is the
machine's, so the clone's `.venv` is made of hard links in seconds.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from nodebyte_devstack.cleanup import discard_topology, drop_database
from nodebyte_devstack.config import DEFAULT_PORTS
from tests.walkthrough.terminal import Terminal

REPO = Path(__file__).resolve().parents[2]
# What a newcomer's shell does not have: ours, and this test run's virtualenv.
PROJECT_VARIABLES = (
    "NB_",
    "NODEBYTE_",
    "DATABASE_URL",
    "AMQP_",
    "BACKEND_API_KEY",
    "ENCRYPTION_KEYS",
    "JWT_",
    "SERVICE_TOKEN",
    "PTERODACTYL_",
    "HYTALE_",
    "DISCORD_",
    "RESEND_",
    "SMTP_",
    "EMAIL_",
    "OTEL_",
    "VIRTUAL_ENV",
    "PYTEST_",
    "COLUMNS",
    "LINES",
)
PASSWORD = "Walk-through-1234"

pytestmark = pytest.mark.timeout(900)


def command(*argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """`argv` with its program found on the PATH, its output captured as text."""
    program = shutil.which(argv[0]) or argv[0]
    return subprocess.run(  # noqa: S603 - git and make, with our own arguments
        [program, *argv[1:]], capture_output=True, text=True, **kwargs
    )


def readme_blocks(readme: str, section: str) -> list[list[str]]:
    """The lines of each ```bash block of a README section, comments kept."""
    body = readme.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [block.strip().splitlines() for block in re.findall(r"```bash\n(.*?)```", body, re.S)]


def port_offset() -> int:
    """An offset that puts every default port of the stack on a free port, below the
    ephemeral range (where other processes' outgoing connections would take them)."""
    for _ in range(50):
        offset = random.randrange(10000, 24000, 100)
        if all(_free(port + offset) for port in DEFAULT_PORTS.values()):
            return offset
    raise RuntimeError("no free port range for the walk-through stack")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def shifted(line: str, offset: int) -> str:
    return re.sub(r"localhost:(80\d\d)\b", lambda m: f"localhost:{int(m[1]) + offset}", line)


def typed(lines: list[str], offset: int) -> list[str]:
    """Script lines that echo each README command (`$ cmd`) and then run it."""
    script = []
    for line in lines:
        command = shifted(line, offset)
        script += [f"printf '%s\\n' {shlex.quote('$ ' + command)}", command, "echo"]
    return script


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A clone of the repository's tracked working tree, alone in its directory."""
    commit = command("git", "stash", "create", cwd=REPO, check=True).stdout.strip()
    commit = commit or command("git", "rev-parse", "HEAD", cwd=REPO, check=True).stdout.strip()
    target = tmp_path / "nodebyte"
    command(
        "git", "clone", "--quiet", "--shared", "--no-checkout", str(REPO), str(target), check=True
    )
    command("git", "checkout", "--quiet", commit, cwd=target, check=True)
    assert not (tmp_path / "shared").exists()
    return target


@pytest.fixture
def walk_env(tmp_path: Path, admin_dsn: str, amqp_url: str) -> Iterator[dict[str, str]]:
    """A newcomer's shell: uv on the PATH (the machine's cache), nothing of ours set."""
    tools = tmp_path / "bin"
    tools.mkdir()
    uv = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    (tools / "uv").symlink_to(uv)
    path = [p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(str(REPO))]
    tag = os.urandom(4).hex()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(PROJECT_VARIABLES)},
        "PATH": os.pathsep.join([str(tools), *path]),
        "TERM": "xterm",
        "NB_ADMIN_DATABASE_URL": admin_dsn,
        "AMQP_URL": amqp_url,
        "NB_DATABASE": f"nb_test_readme_{tag}",
        "NB_AMQP_PREFIX": f"nbtest.readme{tag}",
        "NB_PORT_OFFSET": str(port_offset()),
    }
    try:
        yield env
    finally:  # whatever `make reset` did not get to
        asyncio.run(drop_database(admin_dsn, env["NB_DATABASE"]))
        asyncio.run(discard_topology(amqp_url, env["NB_AMQP_PREFIX"]))


class MakeUp:
    """`make up` in the foreground of its own terminal; Ctrl-C stops it."""

    def __init__(self, clone: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603
                [shutil.which("make") or "make", "up"],
                cwd=clone,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_up(self, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if "NodeByte is up." in text.split("== make up ==")[-1]:
                return text
            if self.process.poll() is not None:
                raise AssertionError(f"make up exited:\n{text[-4000:]}")
            time.sleep(0.5)
        raise AssertionError(f"make up not up in {timeout}s:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # Ctrl-C, as in its terminal
            self.process.wait(timeout=60)


def make_up(clone: Path, env: dict[str, str], log: Path) -> MakeUp:
    with log.open("a") as out:
        out.write("== make up ==\n")
    return MakeUp(clone, env, log)


async def database_exists(admin_dsn: str, name: str) -> bool:
    conn = await asyncpg.connect(admin_dsn)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def test_the_readme_walk_through_on_a_fresh_clone(
    clone: Path, walk_env: dict[str, str], tmp_path: Path, admin_dsn: str
) -> None:
    readme = (clone / "README.md").read_text()
    two_commands = readme_blocks(readme, "Two commands")
    assert two_commands[0][0].startswith("make up")
    first, after_restart = readme_blocks(readme, "First steps")
    offset = int(walk_env["NB_PORT_OFFSET"])
    resume = tmp_path / "resume"
    os.mkfifo(resume)
    script = tmp_path / "walk.sh"
    script.write_text(
        "\n".join(
            [
                "set -e -o pipefail",
                *typed(first, offset),
                "echo __FIRST_DONE__",
                f"read -r _ < {shlex.quote(str(resume))}",
                *typed(after_restart, offset),
                "echo __SECOND_DONE__",
            ]
        )
    )
    up_log = tmp_path / "make-up.log"
    transcript = tmp_path / "transcript.txt"
    stack = make_up(clone, walk_env, up_log)
    try:
        started = time.monotonic()
        stack.wait_up()
        first_up = time.monotonic() - started
        terminal = Terminal(["bash", str(script)], cwd=clone, env=walk_env)
        terminal.run_until(
            "__FIRST_DONE__", timeout=300, answers={"Password: ": PASSWORD, "Repeat: ": PASSWORD}
        )
        stack.stop()
        stack = make_up(clone, walk_env, up_log)
        started = time.monotonic()
        stack.wait_up()
        second_up = time.monotonic() - started
        with resume.open("w") as go_on:
            go_on.write("\n")
        terminal.run_until("__SECOND_DONE__", timeout=300)
        assert terminal.wait() == 0, terminal.text()
    finally:
        stack.stop()
        transcript.write_text(up_log.read_text(errors="replace"))
    text = terminal.text()
    (tmp_path / "terminal.txt").write_text(text)
    print(f"first make up {first_up:.1f}s, second {second_up:.1f}s\n{text}")

    done_first, done_second = text.split("__FIRST_DONE__", 1)
    for service in ("gateway", "sync", "hytale-auth", "notifier", "scheduler"):
        assert f"http://127.0.0.1:{DEFAULT_PORTS[service] + offset}" in done_first
    assert "NOT READY" not in done_first
    assert "created you@example.com (SUPER_ADMIN)" in done_first
    assert "COMPLETED" in done_first
    assert "Sync completed" in done_first  # the Discord emulator got the sync's post
    assert re.search(r"sync [0-9a-f-]{36}: COMPLETED", done_second)  # the old key, new run
    assert "sync.read" in done_second

    reset = command("make", "reset", cwd=clone, env=walk_env, timeout=120)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert not (clone / ".stack").exists()
    assert not asyncio.run(database_exists(admin_dsn, walk_env["NB_DATABASE"]))
