"""Find the line of a table or key in a TOML text (``tomllib`` reports none), and the
policy file being parsed (``PolicyFile``, shared by the loader and the rule parser).

Good enough for the policy files' shape: ``[table]``, ``[[array]]``, ``[array.sub]``,
``key = value`` and ``dotted.key = value`` lines, and multi-line arrays whose elements
each start on their own line (``obligations = [`` then one ``{ ... }`` per line).
"""

from __future__ import annotations

import re
from typing import Any

_HEADER = re.compile(r"^\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^([A-Za-z0-9_\-.\"' ]+?)\s*=")

Anchor = tuple[str, int | None]
"""(table name, index in its array or None): ``("rules", 3)``, ``("regime", None)``."""


class LineIndex:
    """Line numbers (1-based) of the tables and keys of one TOML text."""

    def __init__(self, text: str) -> None:
        self._tables: dict[Anchor, int] = {}
        self._keys: dict[tuple[str, int | None, str], int] = {}
        counts: dict[str, int] = {}
        anchor: Anchor = ("", None)
        prefix = ""
        array_key: str | None = None
        array_items = 0
        depth = 0
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if array_key is not None:
                if line.startswith("{") and depth == 1:
                    self._keys.setdefault((*anchor, f"{array_key}[{array_items}]"), number)
                    array_items += 1
                depth += _depth_delta(line)
                if depth <= 0:
                    array_key = None
                continue
            header = _HEADER.match(line)
            if header:
                name = header.group(1).replace(" ", "")
                if line.startswith("[["):
                    index = counts.get(name, 0)
                    counts[name] = index + 1
                    anchor, prefix = (name, index), ""
                    self._tables[anchor] = number
                else:
                    head, _, rest = name.partition(".")
                    if rest and head in counts:
                        anchor, prefix = (head, counts[head] - 1), rest + "."
                        self._keys.setdefault((*anchor, rest), number)
                    else:
                        anchor, prefix = (name, None), ""
                        self._tables[anchor] = number
                continue
            key = _KEY.match(line)
            if key:
                dotted = prefix + re.sub(r"[\s\"']", "", key.group(1))
                parts = dotted.split(".")
                for n in range(1, len(parts) + 1):
                    self._keys.setdefault((*anchor, ".".join(parts[:n])), number)
                value = line[key.end() :].strip()
                depth = _depth_delta(value) if value.startswith("[") else 0
                if depth > 0:
                    array_key, array_items = dotted, 0
                    if value[1:].lstrip().startswith("{"):
                        self._keys.setdefault((*anchor, f"{dotted}[0]"), number)
                        array_items = 1

    def table(self, name: str, index: int | None = None) -> int:
        """The header line of ``[name]`` or of the ``index``-th ``[[name]]`` (0 if absent)."""
        return self._tables.get((name, index), 0)

    def key(self, name: str, index: int | None, key: str) -> int:
        """The line of ``key`` (dotted, or ``key[n]`` for an array element) in a table,
        falling back to the enclosing key and then the table header."""
        probe = key
        while probe:
            found = self._keys.get((name, index, probe))
            if found:
                return found
            if probe.endswith("]"):
                probe = probe[: probe.rfind("[")]
            elif "." in probe:
                probe = probe[: probe.rfind(".")]
            else:
                break
        return self.table(name, index)


def _depth_delta(text: str) -> int:
    """How much deeper in ``[``/``{`` nesting the end of ``text`` is than its start."""
    depth = 0
    in_string: str | None = None
    for char in text:
        if in_string:
            if char == in_string:
                in_string = None
        elif char in "\"'":
            in_string = char
        elif char == "#":
            break
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    return depth


class PolicyFile:
    """One policy file being parsed: its display name, data, line index and problems."""

    def __init__(self, display: str, data: dict[str, Any], lines: LineIndex) -> None:
        self.display = display
        self.data = data
        self.lines = lines
        self.problems: list[str] = []

    def problem(self, line: int, message: str) -> None:
        self.problems.append(f"{self.display}:{line}: {message}")

    def text(self, table: dict[str, Any], key: str, line: int, what: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            self.problem(
                line,
                f"{what}: missing {key}"
                if value is None
                else f"{what}: {key} must be a non-empty string",
            )
            return ""
        return value.strip()
