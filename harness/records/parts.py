"""The base of every part of a result record: it keeps keys it does not declare (a newer
harness's additions survive a read and rewrite) and writes its keys in the order it was built or
read with, so a record's JSON on disk keeps its key order (harness.records.schema)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_serializer, model_validator


class _Part(BaseModel):
    """A part of a record: keeps undeclared keys, and writes its keys in the order it was built or
    read with (declared fields would otherwise come first), so a record's JSON keeps its key order."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    _order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: Any) -> Any:
        part = handler(data)
        if isinstance(data, dict) and isinstance(part, _Part):
            part._order = tuple(data)
        return part

    def as_json(self) -> dict[str, Any]:
        """This part as its JSON on disk (the keys it was built or read with, in their order)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    @model_serializer(mode="wrap")
    def _in_order(self, handler: Any) -> Any:
        out = handler(self)
        if not self._order or not isinstance(out, dict):
            return out
        ranked = {key: i for i, key in enumerate(self._order)}
        return dict(sorted(out.items(), key=lambda kv: ranked.get(kv[0], len(ranked))))
