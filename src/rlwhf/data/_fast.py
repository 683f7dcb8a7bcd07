"""msgspec shortcuts for the common row shape (no `from __future__ import annotations` here:
msgspec reads these annotations at runtime).

Each decoder accepts only rows that the full Python rules in `schema.canonicalize` accept; a row
it rejects goes through those rules, which give the precise reason (or accept it after all, e.g.
a reward written as 2.0). tests/data/test_fast_path.py checks the two paths agree.
"""

from typing import Annotated, Optional, Union

from rlwhf.data.io import msgspec as ms

if ms is not None:
    Text = Annotated[str, ms.Meta(pattern=r"\S")]
    Conf = Annotated[float, ms.Meta(ge=0, le=1)]
    Reward = Annotated[int, ms.Meta(ge=-2, le=2)]
    Id = Union[Annotated[str, ms.Meta(min_length=1)], int, None]

    class Meta(ms.Struct):
        confidence_score: Optional[Conf] = None

    class StrictMeta(ms.Struct):
        source_ai: Text
        confidence_score: Conf
        rubric_dimension: Text

    class Row(ms.Struct):
        prompt: Text
        answer: Text
        reward: Reward
        feedback: Optional[str] = None
        reference: Optional[str] = None
        answerable: Optional[bool] = None
        id: Id = None
        metadata: Optional[Meta] = None

    class StrictRow(ms.Struct):
        prompt: Text
        answer: Text
        reward: Reward
        metadata: StrictMeta
        feedback: Optional[str] = None
        reference: Optional[str] = None
        answerable: Optional[bool] = None
        id: Id = None

    # Preprocess may re-encode the row from the struct only when no field would be lost.
    class CanonicalRow(ms.Struct, forbid_unknown_fields=True):
        prompt: Text
        answer: Text
        reward: Reward
        feedback: Optional[str] = None
        reference: Optional[str] = None
        answerable: Optional[bool] = None
        id: Optional[Annotated[str, ms.Meta(min_length=1)]] = None
        metadata: Optional[dict] = None

    class PromptRow(ms.Struct, forbid_unknown_fields=True):
        prompt: Text
        reference: Optional[str] = None
        answerable: Optional[bool] = None
        id: Optional[Annotated[str, ms.Meta(min_length=1)]] = None
        metadata: Optional[dict] = None

    # UnicodeDecodeError: msgspec decodes strings lazily and raises it for invalid UTF-8 inside one.
    ERRORS = (ms.ValidationError, ms.DecodeError, UnicodeDecodeError)

    def decoder(kind):
        return ms.json.Decoder(kind)
