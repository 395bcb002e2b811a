"""Branch names by git's own rules (`git check-ref-format --branch`), written as code.

The rules are those of git-check-ref-format(1), numbered as there, plus what `--branch` adds
(no leading dash, not HEAD). On top of git we refuse characters that do not show as
themselves on screen (bidi overrides, zero-width and other invisible characters), which git
allows: a branch name is read by people before agents act on it.
"""

from __future__ import annotations

import unicodedata

MAX_LENGTH = 255
# Rules 4 and 5 (and 10): characters git never allows in a ref name.
FORBIDDEN = frozenset(" ~^:?*[\\")
# Unicode categories that do not show as a visible character of their own: controls,
# format characters (bidi overrides, zero-width joiners), separators, unassigned, surrogates.
INVISIBLE = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp", "Zs"})


def problem(name: str) -> str | None:
    """Why `name` is not a branch name git (and we) would take, or None if it is one."""
    for check in (_whole, _characters, _components):
        reason = check(name)
        if reason:
            return reason
    return None


def _whole(name: str) -> str | None:
    if not name:
        return "Must not be empty."
    if len(name) > MAX_LENGTH:
        return f"Must be at most {MAX_LENGTH} characters."
    if name == "@":  # rule 9
        return "Must not be '@' alone."
    if name.startswith("-"):  # --branch: it would read as an option
        return "Must not begin with '-'."
    if name == "HEAD":  # --branch: HEAD names the current branch
        return "Must not be HEAD."
    if name.startswith("/") or name.endswith("/") or "//" in name:  # rule 6
        return "Must not begin or end with '/' or contain '//'."
    if name.endswith("."):  # rule 7
        return "Must not end with '.'."
    if ".." in name:  # rule 3
        return "Must not contain '..'."
    if "@{" in name:  # rule 8
        return "Must not contain '@{'."
    return None


def _characters(name: str) -> str | None:
    for char in name:
        if char in FORBIDDEN:
            return f"Must not contain {char!r}."
        if ord(char) < 0x20 or ord(char) == 0x7F:  # rule 4: ASCII control characters
            return "Must not contain control characters."
        if unicodedata.category(char) in INVISIBLE:
            return f"Must not contain invisible characters (U+{ord(char):04X})."
    return None


def _components(name: str) -> str | None:
    for part in name.split("/"):  # rule 1
        if part.startswith("."):
            return "No part between slashes may begin with '.'."
        if part.endswith(".lock"):
            return "No part between slashes may end with '.lock'."
    return None
