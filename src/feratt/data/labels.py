"""The canonical expression vocabulary and each data set's mapping onto it."""

from __future__ import annotations

# Canonical order, as SPEC section 3 lists the CK+ classes. A data set's label index always
# indexes its own `classes` tuple, which is a subset of this vocabulary in this order.
EXPRESSIONS: tuple[str, ...] = (
    "neutral",
    "happy",
    "surprise",
    "sad",
    "anger",
    "disgust",
    "fear",
    "contempt",
)

# Synonyms used by the publishers' layouts, mapped onto the canonical names.
ALIASES: dict[str, str] = {
    "angry": "anger",
    "sadness": "sad",
    "happiness": "happy",
    "surprised": "surprise",
    "disgusted": "disgust",
    "fearful": "fear",
    "scared": "fear",
}


def canonical(name: str) -> str:
    """Canonical expression name for a publisher's label; raises ValueError when unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in EXPRESSIONS:
        raise ValueError(
            f"unknown expression {name!r}; expected one of {', '.join(EXPRESSIONS)} "
            f"(or a synonym: {', '.join(sorted(ALIASES))})"
        )
    return key


def ordered_classes(names: set[str] | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The given canonical names in canonical order (a data set's `classes`)."""
    wanted = {canonical(n) for n in names}
    return tuple(c for c in EXPRESSIONS if c in wanted)
