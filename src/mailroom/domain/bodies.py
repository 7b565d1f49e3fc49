"""Rules for request bodies before they are parsed: how deep JSON nests, whether text is readable."""

from __future__ import annotations

import re

# U+FFFD is what a decoder leaves for bytes that were not UTF-8; lone surrogates come from JSON
# escapes such as "\ud800" and cannot be stored or sent.
_UNREADABLE = re.compile("[\ufffd\ud800-\udfff]")
_OPEN = frozenset("[{")
_CLOSE = frozenset("]}")


def has_unreadable_characters(text: str) -> bool:
    """Tell whether text holds U+FFFD or a lone surrogate, the traces of broken encoding."""
    return _UNREADABLE.search(text) is not None


def json_depth(text: str, limit: int) -> int:
    """How deep the arrays and objects of a JSON text nest, counting no further than ``limit + 1``.

    Brackets inside strings do not count; the text need not be valid JSON (the parser judges that
    afterwards, once the depth is known to be safe for it).
    """
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        elif char in _CLOSE:
            depth -= 1
    return deepest
