"""The Docker image reference grammar (distribution/reference), for `image:` and `version:`.

A value that reaches `docker compose` as an image or a tag must be exactly one reference:
no whitespace, shell characters, newlines, leading `-` (an option), `..` path segments or
upper-case repository names. Pure.

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component ( "/" path-component )*
    domain     := host [ ":" port ]
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
"""

from __future__ import annotations

import re

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*"
_PORT = r"(?::[0-9]{1,5})"
# a first component is a registry only if it has a dot or a port, or is localhost (Docker's
# own rule); otherwise it is a (lower-case) path component
_DOMAIN = rf"(?:{_HOST}\.{_HOST}{_PORT}?|{_HOST}{_PORT}|localhost{_PORT}?)"
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE_RE = re.compile(
    rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{TAG})?(?:@{_DIGEST})?"
)
TAG_RE = re.compile(TAG)
MAX_REFERENCE = 255


def reference_problem(ref: str) -> str | None:
    """None when `ref` is one valid image reference, else the reason."""
    if len(ref) > MAX_REFERENCE:
        return f"an image reference is at most {MAX_REFERENCE} characters"
    if REFERENCE_RE.fullmatch(ref) is None:
        return (f"{ref!r} is not a Docker image reference ([registry/]name[:tag][@digest], "
                "lower-case name, no spaces or shell characters)")
    return None


def tag_problem(tag: str) -> str | None:
    """None when `tag` is a valid image tag (what `version:` becomes), else the reason."""
    if TAG_RE.fullmatch(tag) is None:
        return f"{tag!r} is not an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
    return None
