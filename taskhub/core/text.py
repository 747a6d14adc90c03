"""Text a user names something with, made safe to show anywhere: one line, nothing invisible.

A name typed by one user is shown to others, in pages and in email subjects and bodies. Control
and format characters (Unicode category C: line breaks, NUL, bidi overrides such as U+202E that
make "txt.exe" read "exe.txt", zero-width spaces and joiners) would let it forge lines in an
email, hide text, or look like another name; so they are dropped, and any run of whitespace
becomes one space.
"""

from __future__ import annotations

import unicodedata


def single_line(text: str) -> str:
    """Return ``text`` without control or format characters, its whitespace collapsed to single spaces."""
    # A line break or tab is whitespace: it becomes a space, so "Acme\nCorp" stays two words.
    kept = (" " if char.isspace() else char for char in text if char.isspace() or not _invisible(char))
    return " ".join("".join(kept).split())


def _invisible(char: str) -> bool:
    # C*: Cc controls, Cf format (bidi overrides, zero-width), Cs surrogates, Co private use, Cn unassigned.
    return unicodedata.category(char).startswith("C")
