"""distcc's host list: WASI_DISTCC_HOSTS, in distcc's own syntax (distcc(1), "HOST SPECIFICATIONS"), parsed here
so that a list distcc could not use is reported when the tool loads, as our error, and so that
`scons wasi-distcc-check` can probe each host on its own.

    127.0.0.1:3700/2  hostA/4,lzo  @hostB/4  localhost/2  --randomize   # comments run to the end of the line

The text itself is what distcc gets (as DISTCC_HOSTS); the parse only checks it and names its hosts. It is stricter
than distcc in two places: a port must be 1 to 65535 (distcc 3.4 takes ``h:0`` and ``h:99999``), and ``,cpp``
(pump mode) is refused, because pump mode is broken in 3.4: its include server fails and distcc silently
preprocesses locally (https://github.com/distcc/distcc/issues/454). Plain mode needs no headers on the workers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError

HostKind = Literal["local", "tcp", "ssh", "zeroconf"]
DEFAULT_PORT = 3632  # distccd's
MAX_LIMIT = 1024

_HOSTID = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)"
_OPTIONS = r"(?P<options>(?:,[^,\s]+)*)"
_LIMIT = r"(?:/(?P<limit>[^,:\s]*))?"
# The forms of distcc(1); each match is checked further below (numbers, options).
_LOCAL = re.compile(r"localhost(?:/(?P<limit>[^,:\s]*))?")
_LOCAL_SLOTS = re.compile(r"--localslots(?:_cpp)?=(?P<limit>\S*)")
_SSH = re.compile(rf"(?:(?P<user>[^@\s/:,]+))?@(?P<host>{_HOSTID}){_LIMIT}(?::(?P<command>[^,\s]+))?{_OPTIONS}")
_TCP = re.compile(rf"(?P<host>{_HOSTID})(?::(?P<port>[^/,\s]*))?{_LIMIT}{_OPTIONS}")
_OLD_TCP = re.compile(rf"(?P<host>{_HOSTID})/(?P<limit>[^,:\s]*):(?P<port>[^/,\s]*){_OPTIONS}")
_OPTION_WORDS = ("lzo", "auth")


@dataclass(frozen=True)
class DistccHost:
    spec: str  # the host as written: DISTCC_HOSTS for this host alone
    kind: HostKind
    address: str = ""  # host name or IP address ('localhost' for local)
    port: int | None = None  # TCP hosts; None: distccd's default
    limit: int | None = None  # at most this many jobs at once; None: distcc's default

    @property
    def remote(self) -> bool:
        return self.kind in ("tcp", "ssh")

    @property
    def label(self) -> str:
        """How reports name the host: address:port for TCP (the default port spelled out), the spec otherwise."""
        if self.kind == "tcp":
            return f"{self.address}:{self.port or DEFAULT_PORT}"
        return self.spec


def parse_hosts(text: str, *, source: str = "WASI_DISTCC_HOSTS") -> tuple[DistccHost, ...]:
    """The hosts of a distcc host list, in order. Raises ConfigError naming ``source`` and the word at fault."""
    words = " ".join(line.split("#", 1)[0] for line in text.splitlines()).split()
    hosts = tuple(h for h in (_parse_word(word, source) for word in words) if h is not None)
    if not hosts:
        raise ConfigError(f"{source}: {text.strip()!r} names no host to compile on",
                          hint=f"list distcc hosts, e.g. {source}='worker1:3632/4 worker2:3632/4', or unset {source} "
                               f"to compile here")
    return hosts


def _parse_word(word: str, source: str) -> DistccHost | None:
    def bad(problem: str) -> ConfigError:
        return ConfigError(f"{source}: cannot use the host {word!r}: {problem}",
                           hint="write hosts as distcc(1) does: HOST[:PORT][/LIMIT][,lzo], @HOST[/LIMIT] for ssh, "
                                "or localhost[/LIMIT], separated by spaces")

    if word == "--randomize":
        return None
    if word == "+zeroconf":
        return DistccHost(word, "zeroconf")
    if match := _LOCAL_SLOTS.fullmatch(word):
        _number(match["limit"], "the number of slots", bad)
        return None
    if match := _LOCAL.fullmatch(word):
        return DistccHost(word, "local", "localhost", None, _limit(match["limit"], bad))
    if "@" in word:
        match = _SSH.fullmatch(word)
        if match is None:
            raise bad("an ssh host is [USER]@HOST[/LIMIT][:COMMAND][,OPTION…]")
        _options(match["options"], bad)
        return DistccHost(word, "ssh", match["host"], None, _limit(match["limit"], bad))
    match = _TCP.fullmatch(word) or _OLD_TCP.fullmatch(word)
    if match is None:
        raise bad("a TCP host is HOST[:PORT][/LIMIT][,OPTION…], HOST a name, an IPv4 address or an IPv6 address in "
                  "[brackets]")
    _options(match["options"], bad)
    port = match["port"]
    number = _number(port, "the port", bad) if port is not None else None
    if number is not None and not 1 <= number <= 65535:
        raise bad(f"the port must be 1 to 65535, got {port}")
    return DistccHost(word, "tcp", match["host"], number, _limit(match["limit"], bad))


_Bad = Callable[[str], ConfigError]  # the error for the word being parsed, given the problem


def _number(text: str, what: str, bad: _Bad) -> int:
    if not text.isdigit():
        raise bad(f"{what} must be a whole number, got {text!r}")
    return int(text)


def _limit(text: str | None, bad: _Bad) -> int | None:
    if text is None:
        return None
    number = _number(text, "the job limit after /", bad)
    if not 1 <= number <= MAX_LIMIT:
        raise bad(f"the job limit after / must be 1 to {MAX_LIMIT}, got {text}")
    return number


def _options(text: str, bad: _Bad) -> None:
    for option in filter(None, text.split(",")):
        if option == "cpp":
            raise bad("',cpp' is distcc's pump mode, which is broken in distcc 3.4 (its include server fails and "
                      "the client silently preprocesses here: https://github.com/distcc/distcc/issues/454); plain "
                      "mode needs nothing on the workers but the compiler, so drop ',cpp'")
        if option.split("=", 1)[0] not in _OPTION_WORDS:
            raise bad(f"unknown option ',{option}'; distcc knows ',lzo' and ',auth[=NAME]'")
