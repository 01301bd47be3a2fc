"""Task specs (tasks/*.yaml): sources, splits, labels, declared and validated."""
from __future__ import annotations

import unicodedata
from harness.spec.common import NAME_PATTERN, Strict
from harness.spec.recipe import RecipeOverrides

from typing import Any, Literal
from pydantic import Field, field_validator, model_validator


# --------------------------------------------------------------------------- tasks
class HubSource(Strict):
    path: str
    name: str | None = None
    revision: str | None = None


class SplitSource(Strict):
    """Where one harness split comes from. Which field is used depends on the mode:
    Hub (`hub_split`), upstream URL (`url`, optionally `member` of an archive),
    local upstream layout under --data-dir (`local`), or a file shipped beside the spec (`bundled`).
    The generic local layout is `<data-dir>/<task>/<hub_split>.{parquet,jsonl,csv,tsv}`."""

    hub_split: str | None = None
    url: str | None = None
    member: str | None = None
    local: str | None = None
    bundled: str | None = None
    reader: str | None = Field(None, description="this split's file format when it differs from the task's `reader`")

    @model_validator(mode="after")
    def _member_needs_url(self) -> "SplitSource":
        if self.member and not self.url:
            raise ValueError("'member' needs 'url' (the archive it is read from)")
        return self


class CarveOut(Strict):
    """A validation split cut out of train with a recorded seed and fraction, stratified by label
    (each label keeps its share of rows in both parts) unless `stratify: false`."""

    fraction: float = Field(gt=0, lt=1)
    seed: int
    stratify: bool = True


DELIMITED_READERS = ("csv", "tsv")  # the readers that take `delimiter`, `encoding` and `header`


class TaskSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    language: str
    description: str
    text: list[str] = Field(min_length=1, max_length=2, description="one text column, or a pair")
    label: str = Field(description="label column name in the Hub schema")
    labels: list[str] = Field(min_length=2, description="label names; label id = position")
    reader: str = Field(description="file format of the upstream files (see harness.readers)")
    hub: HubSource | None = None
    splits: dict[Literal["train", "validation", "test"], SplitSource]
    validation_from_train: CarveOut | None = None
    drop_labels: list[str | int] = Field(default_factory=list, description="label values dropped (no gold label)")
    expected_rows: dict[Literal["train", "validation", "test"], int] = Field(
        default_factory=dict,
        description="rows of the full upstream splits (after drop_labels, before drop_empty and a carve-out)",
    )
    drop_empty: bool = Field(
        False, description="drop rows whose text is empty or only whitespace (counted in the record); default: an error"
    )
    delimiter: str | None = Field(
        None, min_length=1, max_length=1,
        description="csv/tsv: the field separator (e.g. ';'); default: detected from the header line",
    )
    encoding: str | None = Field(
        None, description="csv/tsv: the text encoding (e.g. cp1252); default: UTF-8, or UTF-16 with a byte-order mark",
    )
    header: bool = Field(
        True, description="csv/tsv: false when the file has no header row; `text` and `label` are then column indexes (0, 1, ...)",
    )
    metric: Literal["accuracy"] = "accuracy"
    training: RecipeOverrides = Field(default_factory=dict, description="recipe overrides (default budget)")
    version: int = 1
    spec_file: str = Field("", description="filled in by the loader")
    spec_dir: str = Field("", description="filled in by the loader")

    @field_validator("text", mode="before")
    @classmethod
    def _text_as_list(cls, value: Any) -> Any:
        value = [value] if isinstance(value, (str, int)) and not isinstance(value, bool) else value
        # a column index (header: false) is written `text: 0`; columns are named by strings
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value] if isinstance(value, list) else value

    @field_validator("label", mode="before")
    @classmethod
    def _label_index(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        import codecs

        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding '{value}' (e.g. utf-8, cp1252, latin-1, utf-16)") from None
        return value

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, value: list[str]) -> list[str]:
        """Label names are shown in every view and matched against the data: one printable line
        each, Unicode-normalised (NFC, so 'é' typed either way is one label), unique."""
        for name in value:
            if not name.strip() or any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
                raise ValueError(f"label {name!r} is empty or holds a newline or control character; give one line of text")
        value = [unicodedata.normalize("NFC", name) for name in value]
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            raise ValueError(f"duplicate label names: {dupes}")
        return value

    @model_validator(mode="after")
    def _complete_splits(self) -> "TaskSpec":
        have = set(self.splits)
        if self.validation_from_train and "validation" in have:
            raise ValueError("give either splits.validation or validation_from_train, not both")
        need = {"train", "test"} | (set() if self.validation_from_train else {"validation"})
        missing = sorted(need - have)
        if missing:
            raise ValueError(f"splits: missing {missing} (or set validation_from_train)")
        readers = {self.reader_for(split) for split in self.splits}
        options = [k for k in ("delimiter", "encoding") if getattr(self, k) is not None] + ([] if self.header else ["header"])
        if options and not readers <= set(DELIMITED_READERS):
            raise ValueError(f"{', '.join(options)}: only for the csv and tsv readers (this task reads {sorted(readers)})")
        if not self.header:
            named = [c for c in [*self.text, self.label] if not c.isdigit()]
            if named:
                raise ValueError(f"header: false: text and label are column indexes (0, 1, ...), not names {named}")
        return self

    def reader_for(self, split: str) -> str:
        """The reader of one split's upstream file: its own `reader`, else the task's."""
        return self.splits[split].reader or self.reader

    @property
    def is_pair(self) -> bool:
        return len(self.text) == 2

    @property
    def source_label(self) -> str:
        if self.hub:
            return f"hub:{self.hub.path}" + (f"/{self.hub.name}" if self.hub.name else "")
        first = self.splits["train"]
        if first.bundled:
            return "bundled"
        if first.url:
            return "url:" + first.url.split("/")[2]
        return "local"


def task_fields_at(loc: tuple) -> Any:
    """The field names valid where a TaskSpec error points: a misspelt `splits.train.locl`
    is compared with the fields of a split source, not with the task's own fields."""
    if len(loc) == 2 and loc[0] == "hub":
        return HubSource.model_fields
    if len(loc) == 2 and loc[0] == "validation_from_train":
        return CarveOut.model_fields
    if len(loc) == 3 and loc[0] == "splits":
        return SplitSource.model_fields
    return [*TaskSpec.model_fields, "vars"]
