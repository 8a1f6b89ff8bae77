"""The runbook's ``grep WORD``: WORD as GNU grep reads it, a basic regular expression. Pure.

``grep '/build' | grep WORD | wc -l`` counts lines holding ``/build`` and a match of
WORD, case-sensitive, anywhere in the line. A WORD with no special character is a plain
substring (the usual case: a repository name); otherwise it is translated from POSIX basic
regular expression syntax, with GNU's extensions (``\\+ \\? \\| \\< \\> \\w \\s``).
Lines are compared as bytes, as ``grep -a`` does (see :mod:`.aggregate` for binary data).
"""

from __future__ import annotations

import re

_SPECIAL = set(".[]*^$\\")
_CLASSES = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r" \t\n\r\f\v",
    "blank": r" \t",
    "xdigit": "0-9A-Fa-f",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "print": r"\x20-\x7e",
    "graph": r"\x21-\x7e",
    "cntrl": r"\x00-\x1f\x7f",
}
_ESCAPES = {
    "(": "(",
    ")": ")",
    "{": "{",
    "}": "}",
    "|": "|",
    "+": "+",
    "?": "?",
    "<": r"\b(?=\w)",
    ">": r"\b(?<=\w)",
    "b": r"\b",
    "B": r"\B",
    "w": r"\w",
    "W": r"\W",
    "s": r"\s",
    "S": r"\S",
}


def bre_to_python(word: str) -> str:
    """A POSIX basic regular expression (GNU flavour) as a Python one."""
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        c = word[i]
        at_start = not out or out[-1] in ("(", "|")  # of the expression, a group, a branch
        if c == "\\" and i + 1 == n:
            raise ValueError("Trailing backslash")
        if c == "\\":
            nxt = word[i + 1]
            if nxt.isdigit() and nxt != "0":
                out.append("\\" + nxt)  # back-reference
            elif nxt in "+?{" and (at_start or out[-1] == "^"):
                out.append(re.escape(nxt))  # nothing to repeat: grep takes it literally
            elif nxt in "+?":
                _quantifier(out, nxt)
            elif nxt == "{":  # an interval: \{m\}, \{m,\}, \{,n\}, \{m,n\}
                close = word.find("\\}", i + 2)
                if close < 0:
                    raise ValueError("Unmatched \\{")
                if not re.fullmatch(r"\d+(,\d*)?|,\d+", word[i + 2 : close]):
                    raise ValueError("Invalid content of \\{\\}")
                out.append("{" + word[i + 2 : close] + "}")
                i = close + 2
                continue
            else:
                out.append(_ESCAPES.get(nxt, re.escape(nxt)))
            i += 2
            continue
        if c == "[":
            end, cls = _bracket(word, i)
            out.append(cls)
            i = end
            continue
        if c == "^" and at_start:
            out.append("^")
        elif c == "$" and (
            i == n - 1 or word.startswith("\\)", i + 1) or word.startswith("\\|", i + 1)
        ):
            out.append("$")
        elif c == "*" and not at_start and out[-1] != "^":  # else a literal *
            _quantifier(out, "*")
        elif c == ".":
            out.append(".")
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _quantifier(out: list[str], q: str) -> None:
    """Append ``q`` (``*``, ``+``, ``?``); a quantifier after one is an error in Python,
    and in grep the two make one: a** and a\\+* are a*, a\\+\\+ is a+."""
    if out[-1] in ("*", "+", "?"):
        out[-1] = q if out[-1] == q else "*"
    else:
        out.append(q)


def _bracket(word: str, start: int) -> tuple[int, str]:
    """A bracket expression at ``start``: (index after it, Python class). Raises
    ValueError where grep does: no closing ``]``, an unknown class, ``[:alpha:]``."""
    i = start + 1
    negate = i < len(word) and word[i] == "^"
    if negate:
        i += 1
    parts: list[str] = []
    first = True
    while i < len(word):
        c = word[i]
        if c == "]" and not first:
            if len(word[start + 1 : i]) > 1 and word[start + 1] == word[i - 1] == ":":
                raise ValueError("character class syntax is [[:space:]], not [:space:]")
            body = "".join(parts)
            return i + 1, f"[{'^' if negate else ''}{body}]"
        if c == "[" and word.startswith("[:", i):
            end = word.find(":]", i + 2)
            if end > 0 and word[i + 2 : end] not in _CLASSES:
                raise ValueError("Invalid character class name")
            if end > 0:
                parts.append(_CLASSES[word[i + 2 : end]])
                i = end + 2
                first = False
                continue
        if c == "-" and parts and i + 1 < len(word) and word[i + 1] != "]":
            parts.append("-")
        else:
            parts.append(re.escape(c))
        first = False
        i += 1
    raise ValueError("Unmatched [, [^, [:, [., or [=")


class Grep:
    """``grep WORD`` for lines as bytes: ``grep.search(line)``, ``grep.anywhere(block)``."""

    def __init__(self, word: str) -> None:
        self.word = word
        raw = word.encode()
        self.literal: bytes | None = raw if not (_SPECIAL & set(word)) else None
        if self.literal is None:
            try:
                source = bre_to_python(word).encode()
                self._line = re.compile(source)
                self._block = re.compile(source, re.MULTILINE)
            except (re.error, ValueError) as exc:
                raise ValueError(
                    f"{word!r} is not a regular expression grep reads: {exc}"
                ) from None

    def search(self, line: bytes) -> bool:
        """Does one line (no newline) match, as ``grep WORD`` decides?"""
        if self.literal is not None:
            return self.literal in line
        return self._line.search(line) is not None

    def anywhere(self, block: bytes, start: int = 0, end: int | None = None) -> bool:
        """Could any line of ``block[start:end]`` match? (False means surely none.)"""
        end = len(block) if end is None else end
        if self.literal is not None:
            return block.find(self.literal, start, end) >= 0
        return self._block.search(block, start, end) is not None
