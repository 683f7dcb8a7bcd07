"""msgspec shortcuts for the common row shape (no `from __future__ import annotations` here:
msgspec reads these annotations at runtime).

Each decoder accepts only rows that the full Python rules in `schema.canonicalize` accept; a row
it rejects goes through those rules, which give the precise reason (or accept it after all, e.g.
a reward written as 2.0). tests/data/test_fast_rules_agree.py checks, row by row, that both paths agree.
"""

from typing import Annotated, Optional, Union

import msgspec as ms


def blank(text: str) -> bool:
    """Whitespace only? (first-character test first: almost all text starts with a letter)."""
    return text[0].isspace() and not text.strip()


# min_length only: a regex per string would cost more than the rest of the decode; callers
# reject whitespace-only text with `blank()`.
Text = Annotated[str, ms.Meta(min_length=1)]
Conf = Annotated[float, ms.Meta(ge=0, le=1)]
Reward = Annotated[int, ms.Meta(ge=-2, le=2)]
Id = Union[Annotated[str, ms.Meta(min_length=1)], int, None]


class Meta(ms.Struct):
    confidence_score: Optional[Conf] = None


class StrictMeta(ms.Struct):
    source_ai: Text
    confidence_score: Conf
    rubric_dimension: Text


class Row(ms.Struct, kw_only=True):
    prompt: Text
    answer: Text
    reward: Reward
    feedback: Optional[str] = None
    reference: Optional[str] = None
    answerable: Optional[bool] = None
    id: Id = None
    metadata: Optional[Meta] = None


class StrictRow(Row, kw_only=True):
    metadata: StrictMeta  # --strict: required, with its three fields


# Preprocess re-encodes the struct itself, so: no unknown fields (nothing may be lost) and the
# fields in canonical output order (kw_only allows required fields after optional ones).
class CanonicalRow(ms.Struct, forbid_unknown_fields=True, kw_only=True):
    id: Optional[Annotated[str, ms.Meta(min_length=1)]] = None
    prompt: Text
    answer: Text
    feedback: Optional[str] = None
    reward: Reward
    reference: Optional[str] = None
    answerable: Optional[bool] = None
    metadata: Optional[dict] = None


class PromptRow(ms.Struct, forbid_unknown_fields=True, kw_only=True):
    id: Optional[Annotated[str, ms.Meta(min_length=1)]] = None
    prompt: Text
    answer: Optional[str] = None
    feedback: Optional[str] = None
    reward: Optional[Reward] = None
    reference: Optional[str] = None
    answerable: Optional[bool] = None
    metadata: Optional[dict] = None


# UnicodeDecodeError: msgspec decodes strings lazily and raises it for invalid UTF-8 inside one.
ERRORS = (ms.ValidationError, ms.DecodeError, UnicodeDecodeError)


def decoder(kind):
    return ms.json.Decoder(kind)
