"""Document a Struct as msgspec checks it, where Litestar 2 leaves something out.

- Our bodies are `forbid_unknown_fields=True` Structs: an unknown field is a 400.
  Litestar documents every Struct as an open object, so a client (and schemathesis)
  would think an extra field is fine: such Structs get `additionalProperties: false`.
- A list of constrained strings (`list[Annotated[str, Meta(min_length=1)]]`) loses
  its items' constraints in Litestar's schema: they are put back on `items`.

This schema plugin is placed before Litestar's own for Structs and extends it.
"""

from __future__ import annotations

from typing import Any

import msgspec

# Litestar exports no public base for its Struct schema plugin; subclassing it keeps
# every other detail of how a Struct is documented as Litestar does it.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import Schema
from litestar.typing import FieldDefinition


class ClosedStructSchemas(StructSchemaPlugin):
    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType):
            if info.forbid_unknown_fields:
                schema.additional_properties = False
            for field in info.fields:
                _item_constraints(field, (schema.properties or {}).get(field.encode_name))
        return schema


def _item_constraints(field: msgspec.inspect.Field, documented: Any) -> None:
    kind = field.type
    if isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    if not isinstance(kind, LISTS) or not isinstance(documented, Schema):
        return
    text = kind.item_type
    if isinstance(text, msgspec.inspect.Metadata):
        text = text.type
    if isinstance(text, msgspec.inspect.StrType) and isinstance(documented.items, Schema):
        documented.items.min_length = text.min_length
        documented.items.max_length = text.max_length
        documented.items.pattern = text.pattern


LISTS = (
    msgspec.inspect.ListType,
    msgspec.inspect.SetType,
    msgspec.inspect.FrozenSetType,
    msgspec.inspect.VarTupleType,
)
