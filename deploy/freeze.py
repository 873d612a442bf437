"""Write deploy/constraints.txt: the exact versions of every runtime dependency installed in this environment.

Run by `make constraints` after changing dependencies (and a green `make test`): the image and any other
deployment install with `pip install -c deploy/constraints.txt .`, so they get the versions that were tested.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

DISTRIBUTION = "triage-gateway"
# Installers, not dependencies: an image keeps its own.
SKIP = {"pip", "setuptools", "wheel"}


def closure(name: str, extras: tuple[str, ...] = (), seen: dict[str, str] | None = None) -> dict[str, str]:
    """name -> installed version, for `name` and everything it needs at run time (extras it asks for)."""
    seen = {} if seen is None else seen
    key = name.lower().replace("_", "-")
    if key in seen:
        return seen
    dist = metadata.distribution(name)
    seen[key] = dist.version
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is None or any(req.marker.evaluate({"extra": extra}) for extra in ("", *extras)):
            closure(req.name, tuple(req.extras), seen)
    return seen


def main() -> int:
    pins = closure(DISTRIBUTION)
    lines = [f"{name}=={version}" for name, version in sorted(pins.items()) if name not in SKIP | {DISTRIBUTION}]
    header = (
        "# Exact versions of every runtime dependency, as tested (regenerate with `make constraints`).\n"
        f"# Python {sys.version_info.major}.{sys.version_info.minor}. Use: pip install -c deploy/constraints.txt .\n"
    )
    target = Path(__file__).with_name("constraints.txt")
    target.write_text(header + "\n".join(lines) + "\n")
    print(f"{target}: {len(lines)} pinned")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
