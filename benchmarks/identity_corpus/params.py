"""Random parameter values of every kind a message carries: ids, hosts, users, paths, durations, clocks."""

from __future__ import annotations

import random
import string

USERS = ["root", "admin", "alice", "bob", "deploy", "postgres", "git", "oracle", "test", "ubuntu", "www-data"]
HOSTS = ["orion", "vega", "lyra", "draco", "auriga", "cygnus", "hydra", "pavo", "carina"]
DOMAINS = ["example.com", "corp.internal", "shop.io", "cdn.example.net", "mail.example.org"]
WORDS = ["orders", "billing", "search", "ledger", "sessions", "catalog", "payments", "users", "audit", "events"]
STATES = ["NEW", "RUNNING", "LOCALIZING", "COMPLETED", "KILLING", "DONE", "FAILED", "SCHEDULED"]
UNITS = ["nginx", "postgresql", "docker", "containerd", "sshd", "cron", "kubelet", "rsyslog", "redis"]
PROGRAMS = ["chrome", "firefox", "Dropbox", "outlook", "Slack", "zoom", "git-remote-https", "WeChat"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class Params:
    """Draws values; each call gives a fresh one, as each occurrence of a message would."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def n(self, lo: int = 0, hi: int = 99999) -> str:
        return str(self.rng.randint(lo, hi))

    def f(self) -> str:
        return f"{self.rng.uniform(0, 1000):.{self.rng.randint(1, 6)}f}"

    def pct(self) -> str:
        """A share above a threshold: repeats of one alert stay in one class (part, not none or all)."""
        return f"{self.rng.uniform(50, 99.9):.{self.rng.randint(1, 3)}f}"

    def hex(self, k: int = 8) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(k))

    def uuid(self) -> str:
        return f"{self.hex(8)}-{self.hex(4)}-{self.hex(4)}-{self.hex(4)}-{self.hex(12)}"

    def ip(self) -> str:
        return ".".join(str(self.rng.randint(1, 254)) for _ in range(4))

    def user(self) -> str:
        return self.rng.choice(USERS)

    def host(self) -> str:
        return self.rng.choice(HOSTS) + self.rng.choice(["", "", f"-{self.n(1, 40)}"])

    def fqdn(self) -> str:
        return self.rng.choice(["www", "api", "static", "ns1", "mx"]) + "." + self.rng.choice(DOMAINS)

    def word(self) -> str:
        return self.rng.choice(WORDS)

    def state(self) -> str:
        return self.rng.choice(STATES)

    def unit(self) -> str:
        return self.rng.choice(UNITS)

    def program(self) -> str:
        return self.rng.choice(PROGRAMS)

    def path(self) -> str:
        depth = self.rng.randint(1, 4)
        return "/" + "/".join(self.rng.choice([*WORDS, "var", "srv", "tmp", "data"]) for _ in range(depth))

    def pod(self) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        rs = "".join(self.rng.choice(alphabet) for _ in range(self.rng.choice([9, 10])))
        return f"{self.word()}-api-{rs}-" + "".join(self.rng.choice(alphabet) for _ in range(5))

    def duration(self) -> str:
        return self.rng.choice(
            [f"{self.n(1, 900)}ms", f"{self.n(1, 59)}s", f"{self.f()} ms", f"{self.n(1, 9)}m{self.n(0, 59)}s",
             f"{self.n(1, 59)} seconds"]
        )

    def token(self, k: int = 12) -> str:
        return "".join(self.rng.choice(string.ascii_letters + string.digits) for _ in range(k))

    def clock(self) -> str:
        return f"{self.n(0, 23).zfill(2)}:{self.n(0, 59).zfill(2)}:{self.n(0, 59).zfill(2)}"

    def iso(self) -> str:
        return f"2024-{self.n(1, 12).zfill(2)}-{self.n(1, 28).zfill(2)}T{self.clock()}Z"

    def syslog_time(self) -> str:
        return f"{self.rng.choice(MONTHS)} {self.n(1, 28).rjust(2)} {self.clock()}"
