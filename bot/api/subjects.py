"""The polymorphic ``*_type`` of communications and follow-ups (SPEC 8): ``lead``,
``customer``, ``opportunity``, or the original system's model class names such as
``App\\Infrastructure\\Persistence\\Eloquent\\CMS\\LeadModel``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from crm.errors import ValidationError
from crm.models import SUBJECT_TYPES

SubjectType = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    Field(
        description=(
            "lead, customer or opportunity, or the original system's model class "
            "(App\\Infrastructure\\Persistence\\Eloquent\\CMS\\LeadModel)"
        )
    ),
]


def subject_type(value: str, field: str) -> str:
    """``lead`` | ``customer`` | ``opportunity`` from either spelling: the last part of a
    class name, without its ``Model`` suffix, case-insensitive."""
    name = value.replace("/", "\\").rsplit("\\", 1)[-1].strip()
    if name.lower().endswith("model") and len(name) > len("model"):
        name = name[: -len("model")]
    kind = name.lower()
    if kind not in SUBJECT_TYPES:
        raise ValidationError(
            field,
            f"{value[:60]!r} is not a lead, customer or opportunity",
            hint=f"{field}=lead (or App\\...\\CMS\\LeadModel)",
        )
    return kind
