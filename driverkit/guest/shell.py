"""Run commands in the Linux guest over its serial console, with deadlines and exit status.

Works with any console offering `write(bytes|str)`, `await expect(pattern, timeout) -> Match`
(searching output received since the last expect) and `text` — `Machine.console` does.

Each command is sent as one brace group:

    { echo "DK"BEGIN:<token>
    <command>
    echo "DK"END:<token>:$?
    } </dev/null

The terminal echoes what is typed, but the echo holds `"DK"BEGIN`, never `DKBEGIN`, so only
the shell's output matches the markers; the group is parsed whole before it runs, so prompts
and echo never land between the markers. stdin is /dev/null so a command cannot eat input.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Protocol

from ..errors import ConfigError, GuestCommandFailed, MachineTimeout
from .report import GuestReport, ProbeReport, normalize, parse_dkprobe, parse_report

READY = "=== DK READY ==="
PROMPT = "dk-guest# "


class Console(Protocol):
    """What GuestShell needs from a serial console."""

    @property
    def text(self) -> str: ...

    def write(self, data: bytes | str) -> None: ...

    async def expect(self, pattern: str | bytes | re.Pattern, timeout: float) -> re.Match: ...


@dataclass(frozen=True)
class CommandResult:
    """A finished guest command: its output (\\n line ends) and exit status."""

    command: str
    output: str
    status: int

    @property
    def ok(self) -> bool:
        return self.status == 0


class GuestShell:
    """The guest's root shell on the serial console."""

    def __init__(self, console: Console, *, timeout: float = 10.0) -> None:
        self.console = console
        self.timeout = timeout
        self._serial = 0

    async def wait_ready(self, timeout: float = 60.0) -> GuestReport:
        """Wait for init's reports and the shell prompt; return the parsed boot report."""
        await self.console.expect(READY, timeout)
        await self.console.expect(PROMPT, timeout)
        text = self.console.text
        return parse_report(text[: text.rfind(READY)])

    async def run(self, command: str, timeout: float | None = None, *,
                  check: bool = False) -> CommandResult:
        """Run `command` (may span lines; must be complete shell syntax) and wait for it.

        Raises MachineTimeout after `timeout` seconds (having sent Ctrl-C to the guest so
        the shell is usable again), GuestCommandFailed if `check` and the status is not 0.
        """
        if "\x03" in command or "\x04" in command:
            raise ConfigError(
                f"command contains a control character (Ctrl-C/Ctrl-D): {command!r}"
            )
        wait = self.timeout if timeout is None else timeout
        self._serial += 1
        token = f"{self._serial}-{secrets.token_hex(4)}"
        body = command.rstrip("\n")
        self.console.write(
            f'{{ echo "DK"BEGIN:{token}\n{body}\necho "DK"END:{token}:$?\n}} </dev/null\n'
        )
        done = re.compile(
            rf"DKBEGIN:{token}\r?\n(.*?)DKEND:{token}:(\d+)\r?\n".encode(), re.S
        )
        try:
            m = await self.console.expect(done, wait)
        except MachineTimeout:
            self.interrupt()
            raise
        output = normalize(m.group(1))
        result = CommandResult(command, output, int(m.group(2)))
        if check and not result.ok:
            raise GuestCommandFailed(command, result.status, output)
        return result

    def interrupt(self) -> None:
        """Send Ctrl-C to the foreground command (the shell owns the console as its tty)."""
        self.console.write(b"\x03")

    async def probe(self, timeout: float = 60.0, **params: str | int) -> ProbeReport:
        """Run dkprobe again in the guest with these module parameters; its parsed report."""
        args = " ".join(f"{k}={v}" for k, v in params.items())
        result = await self.run(f"dkprobe-run {args}", timeout, check=True)
        return parse_dkprobe(result.output)

    async def read_file(self, path: str, timeout: float | None = None) -> str:
        """The text of a guest file (`cat`), GuestCommandFailed if it cannot be read."""
        return (await self.run(f"cat '{path}'", timeout, check=True)).output


class Shell:
    """The guest's shell as a test uses it: `await shell.run(cmd) -> str`, the command's output.

    A non-zero exit raises GuestCommandFailed (status and output with it): a test never reads
    the output of a command that failed without knowing. `result()` gives the status instead.
    """

    def __init__(self, console: Console, *, timeout: float = 10.0) -> None:
        self.guest = GuestShell(console, timeout=timeout)

    async def run(self, command: str, timeout: float | None = None) -> str:
        return (await self.guest.run(command, timeout, check=True)).output

    async def result(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run `command`; its output and exit status, whatever the status."""
        return await self.guest.run(command, timeout)
