"""Text people typed, shown to other people: one place that makes it safe.

- `plain(text)`: a name as literal text inside Markdown (st.markdown, captions, titles, st.table
  cells, which Streamlit renders as GitHub-flavoured Markdown). Every ASCII punctuation mark is
  backslash-escaped (CommonMark allows that escape for each of them), so `![b](http://x/b.png)`
  shows those characters instead of fetching an image, `[x](http://…)` is no link, `**`, `:red[…]`,
  `:smile:` and `$…$` do nothing, and `<b>` is shown, not parsed. Widgets that show text as text
  (st.dataframe, select box options) get the name itself.
- `display_name(text)`: what a typed name becomes before it is stored: NFKC-normalised (full-width
  `Ａｄａ` is `Ada`), whitespace collapsed, visible characters only (no control, format,
  zero-width or blank-looking fillers such as U+3164 "ㅤ"), and one alphabet among the look-alike
  ones (a Cyrillic `А` beside Latin letters is refused). `skeleton(text)` folds case and the common
  Cyrillic and Greek look-alikes of Latin letters, so that `Аda` (all Cyrillic but a) and `Ada`
  count as the same name in a class.
"""
from __future__ import annotations

import string
import unicodedata
from typing import Any

_ESCAPE = {ord(c): "\\" + c for c in string.punctuation}

# Characters that render as nothing or as a blank although Unicode calls them letters or symbols.
BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u17b4\u17b5\u034f")
# Alphabets whose letters look like each other's (Latin a / Cyrillic а / Greek α): a name uses one.
LOOKALIKE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC")
# The Cyrillic and Greek letters that look like a Latin letter, as that letter (after casefold).
_LOOKALIKES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g",
    "α": "a", "β": "b", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k", "μ": "m", "ν": "v",
    "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w",
})


class TextError(ValueError):
    """A typed name that cannot be shown as it is; the message says why."""


def plain(text: Any) -> str:
    """`text` as literal characters in Streamlit Markdown (see the module's docstring)."""
    return " ".join(str(text if text is not None else "").split()).translate(_ESCAPE)


def _script(ch: str) -> str | None:
    name = unicodedata.name(ch, "")
    for script in LOOKALIKE_SCRIPTS:
        if name.startswith(script + " "):
            return script
    return None


def display_name(text: Any, what: str = "name", max_len: int = 40) -> str:
    """A name to store and show: normalised, visible, one look-alike alphabet, 1..max_len
    characters. Raises TextError saying what is wrong."""
    raw = str(text if text is not None else "")
    if len(raw) > 4 * max_len:            # before any work on it
        raise TextError(f"A {what} has at most {max_len} characters.")
    norm = unicodedata.normalize("NFKC", raw)
    bad = [c for c in norm if c in BLANKS or (unicodedata.category(c)[0] == "C" and not c.isspace())]
    if bad:
        raise TextError(f"A {what} can only contain visible characters (not U+{ord(bad[0]):04X}).")
    name = " ".join(norm.split())
    if not name:
        raise TextError(f"Please type a {what}.")
    if len(name) > max_len:
        raise TextError(f"A {what} has at most {max_len} characters.")
    if not any(unicodedata.category(c)[0] in "LN" for c in name):
        raise TextError(f"A {what} needs at least one letter or digit.")
    scripts = {s for s in map(_script, name) if s}
    if len(scripts) > 1:
        raise TextError(f"A {what} mixes look-alike alphabets ({', '.join(sorted(s.title() for s in scripts))}): "
                         "type it in one alphabet.")
    return name


def skeleton(name: str) -> str:
    """What a name looks like, for telling two names apart: case and the common Cyrillic/Greek
    look-alikes of Latin letters folded, marks dropped."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name).casefold())
    return "".join(c for c in folded if not unicodedata.combining(c)).translate(_LOOKALIKES)
