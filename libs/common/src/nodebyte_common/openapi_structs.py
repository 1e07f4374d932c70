"""Document a Struct as msgspec checks it, where Litestar 2 leaves something out.

- Our bodies are `forbid_unknown_fields=True` Structs: an unknown field is a 400.
  Litestar documents every Struct as an open object, so a client (and schemathesis)
  would think an extra field is fine: such Structs get `additionalProperties: false`.
- A list of constrained strings (`list[Annotated[str, Meta(min_length=1)]]`) loses
  its items' constraints in Litestar's schema: they are put back on `items`.
- An optional field (`Annotated[int, Meta(ge=1)] | UnsetType`, `... | None`) is a
  `oneOf` whose constraints Litestar puts beside the `oneOf`, dropping a zero bound
  (`ge=0`, `gt=0`): each member's bounds, lengths and pattern are written again, as
  msgspec checks them, on the `oneOf` branch of that member's type.
- A Struct whose fields are alternative names for one value (`one_property = True`,
  a ClassVar) takes exactly one of them: `minProperties` = `maxProperties` = 1.

This schema plugin is placed before Litestar's own for Structs and extends it.
"""

from __future__ import annotations

from typing import Any

import msgspec

# Litestar exports no public base for its Struct schema plugin; subclassing it keeps
# every other detail of how a Struct is documented as Litestar does it.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.typing import FieldDefinition


class ClosedStructSchemas(StructSchemaPlugin):
    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType):
            if info.forbid_unknown_fields:
                schema.additional_properties = False
            if getattr(info.cls, "one_property", False):
                schema.min_properties = schema.max_properties = 1
            for field in info.fields:
                documented = (schema.properties or {}).get(field.encode_name)
                if isinstance(documented, Schema):
                    _member_constraints(field, documented)
                _item_constraints(field, documented)
        return schema


# The keywords Litestar may have put beside a `oneOf`, and where msgspec keeps each.
NUMBER_BOUNDS = {
    "minimum": "ge",
    "exclusive_minimum": "gt",
    "maximum": "le",
    "exclusive_maximum": "lt",
    "multiple_of": "multiple_of",
}
STRING_BOUNDS = {"min_length": "min_length", "max_length": "max_length", "pattern": "pattern"}
ARRAY_BOUNDS = {"min_items": "min_length", "max_items": "max_length"}
OBJECT_BOUNDS = {"min_properties": "min_length", "max_properties": "max_length"}
JSON_TYPES: dict[type, tuple[str, dict[str, str]]] = {
    msgspec.inspect.IntType: ("integer", NUMBER_BOUNDS),
    msgspec.inspect.FloatType: ("number", NUMBER_BOUNDS),
    msgspec.inspect.StrType: ("string", STRING_BOUNDS),
    msgspec.inspect.ListType: ("array", ARRAY_BOUNDS),
    msgspec.inspect.SetType: ("array", ARRAY_BOUNDS),
    msgspec.inspect.FrozenSetType: ("array", ARRAY_BOUNDS),
    msgspec.inspect.VarTupleType: ("array", ARRAY_BOUNDS),
    msgspec.inspect.DictType: ("object", OBJECT_BOUNDS),
}


def _member_constraints(field: msgspec.inspect.Field, documented: Schema) -> None:
    kind = _unwrapped(field.type)
    members = kind.types if isinstance(kind, msgspec.inspect.UnionType) else (field.type,)
    branches = list(documented.one_of or [documented])
    if documented.one_of:
        for keyword in (*NUMBER_BOUNDS, *STRING_BOUNDS, *ARRAY_BOUNDS, *OBJECT_BOUNDS):
            setattr(documented, keyword, None)
    for wrapped in members:
        member = _unwrapped(wrapped)
        json_type, bounds = JSON_TYPES.get(type(member), (None, {}))
        for branch in branches:
            if isinstance(branch, Schema) and _type_name(branch) == json_type:
                for keyword, attribute in bounds.items():
                    setattr(branch, keyword, getattr(member, attribute))
                if json_type == "string" and (pattern := _documented_pattern(wrapped)):
                    branch.pattern = pattern
                if isinstance(member, msgspec.inspect.DictType):
                    _key_constraints(member, branch)


def _key_constraints(kind: msgspec.inspect.DictType, documented: Schema) -> None:
    """A mapping's keys as msgspec checks them (`propertyNames`)."""
    key = _unwrapped(kind.key_type)
    if isinstance(key, msgspec.inspect.StrType) and (key.pattern or key.max_length):
        documented.property_names = Schema(
            type=OpenAPIType.STRING,
            pattern=key.pattern,
            min_length=key.min_length,
            max_length=key.max_length,
        )


def _documented_pattern(kind: Any) -> str | None:
    """A pattern a Struct documents but leaves to its handler to check (with its own
    error code): `Meta(extra_json_schema={"extra": {"pattern": ...}})`."""
    extra = getattr(kind, "extra_json_schema", None) or {}
    return extra.get("extra", extra).get("pattern")


def _unwrapped(kind: msgspec.inspect.Type) -> msgspec.inspect.Type:
    return kind.type if isinstance(kind, msgspec.inspect.Metadata) else kind


def _type_name(schema: Schema) -> str | None:
    return getattr(schema.type, "value", schema.type)  # type: ignore[return-value]


def _item_constraints(field: msgspec.inspect.Field, documented: Any) -> None:
    if not isinstance(documented, Schema):
        return
    kind = _unwrapped(field.type)
    members = kind.types if isinstance(kind, msgspec.inspect.UnionType) else (kind,)
    arrays = [
        branch
        for branch in (documented.one_of or [documented])
        if isinstance(branch, Schema) and isinstance(branch.items, Schema)
    ]
    for member in (_unwrapped(member) for member in members):
        text = _unwrapped(member.item_type) if isinstance(member, LISTS) else None
        if not isinstance(text, msgspec.inspect.StrType):
            continue
        for array in arrays:
            array.items.min_length = text.min_length  # type: ignore[union-attr]
            array.items.max_length = text.max_length  # type: ignore[union-attr]
            array.items.pattern = text.pattern  # type: ignore[union-attr]


LISTS = (
    msgspec.inspect.ListType,
    msgspec.inspect.SetType,
    msgspec.inspect.FrozenSetType,
    msgspec.inspect.VarTupleType,
)
