"""Which Debian mirror this machine's apt uses: the images are built from the same one.

Reads /etc/apt/sources.list (one-line format) and /etc/apt/sources.list.d/*.list and
*.sources (deb822). CHAOS_EVAL_MIRROR overrides. No mirror host is ever written anywhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from chaos_eval.errors import ImageError

APT_SOURCES_LIST = Path("/etc/apt/sources.list")
APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")


@dataclass(frozen=True)
class AptSource:
    types: tuple[str, ...]
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def parse_one_line_sources(text: str) -> list[AptSource]:
    """`deb [options] URI suite component...` lines (sources.list, *.list)."""
    out: list[AptSource] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        line = re.sub(r"\[[^\]]*\]", " ", line)  # [arch=amd64 signed-by=...]
        parts = line.split()
        if len(parts) < 3 or parts[0] not in ("deb", "deb-src"):
            continue
        out.append(AptSource((parts[0],), parts[1], (parts[2],), tuple(parts[3:])))
    return out


def parse_deb822_sources(text: str) -> list[AptSource]:
    """deb822 stanzas (*.sources): Types/URIs/Suites/Components, `Enabled: no` skipped."""
    out: list[AptSource] = []
    for stanza in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            if raw[0] in " \t" and key:  # continuation line
                fields[key] += " " + raw.strip()
                continue
            name, sep, value = raw.partition(":")
            if not sep:
                continue
            key = name.strip().lower()
            fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        types, suites = fields.get("types", "").split(), tuple(fields.get("suites", "").split())
        comps = tuple(fields.get("components", "").split())
        for uri in fields.get("uris", "").split():
            out.append(AptSource(tuple(types), uri, suites, comps))
    return out


def pick_mirror(sources: Iterable[AptSource], suite: str = "bookworm") -> str | None:
    """The URI serving `suite` itself (not -security/-updates) with `main`, for debootstrap."""
    for s in sources:
        usable = s.uri.startswith(("http://", "https://", "file:/"))
        if usable and "deb" in s.types and suite in s.suites and "main" in s.components:
            return s.uri.rstrip("/")
    return None


def read_apt_sources(
    sources_list: Path = APT_SOURCES_LIST, sources_dir: Path = APT_SOURCES_DIR
) -> list[AptSource]:
    found: list[AptSource] = []
    if sources_list.is_file():
        found += parse_one_line_sources(sources_list.read_text(errors="replace"))
    if sources_dir.is_dir():
        for path in sorted(sources_dir.iterdir()):
            if path.suffix == ".list":
                found += parse_one_line_sources(path.read_text(errors="replace"))
            elif path.suffix == ".sources":
                found += parse_deb822_sources(path.read_text(errors="replace"))
    return found


def apt_mirror(suite: str = "bookworm") -> str:
    """CHAOS_EVAL_MIRROR, else the mirror apt is configured with for `suite`."""
    override = os.environ.get("CHAOS_EVAL_MIRROR")
    if override:
        return override
    mirror = pick_mirror(read_apt_sources(), suite)
    if mirror is None:
        raise ImageError(
            f"no Debian mirror for {suite} main in {APT_SOURCES_LIST} or {APT_SOURCES_DIR}; "
            "set CHAOS_EVAL_MIRROR"
        )
    return mirror
