"""Where a conversation's labels live (issue 16): the strategies of
:class:`~autoassign.adapters.sql.SqlSchema`'s ``labels=``.

* ``None`` (the default): a plain join table, the logical table
  ``conversation_labels`` (``conversation_id``, ``label``), which a
  :class:`~autoassign.adapters.sql.TableMap` can point at a host's table with other
  names.
* :class:`TaggingLabels`: a tagging join table and a tags table, as ActsAsTaggableOn
  (Chatwoot's ``taggings``/``tags``) and django-taggit use them, with the taggable type
  and context filters.
* :class:`ArrayLabels`: a label array column on the conversations table
  (PostgreSQL ``text[]`` or ``jsonb``).

Every strategy serves the same three uses, each inside the repository's one statement:
the labels of the rows read (an outer join, or the array column), the excluded-labels
filter of ``unassigned_open`` (``NOT EXISTS``, or an array overlap), and the writer's
replacement of a conversation's labels (for tests and hosts without their own writer).
The indexes each needs are in ``docs/sql.md``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, Literal

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from autoassign.errors import ConfigurationError

__all__ = ["ArrayLabels", "LabelSource", "TaggingLabels"]

_TAGGING_COLUMNS = ("tag_id", "taggable_id", "taggable_type", "context")
_TAG_COLUMNS = ("id", "name")


def _names(
    value: Mapping[str, str], known: Iterable[str], field: str
) -> dict[str, str]:
    names = dict(value)
    unknown = set(names) - set(known)
    if unknown:
        raise ConfigurationError(
            f"{field}: unknown columns {sorted(unknown)}; known: {sorted(known)}",
            field=field,
        )
    for logical, physical in names.items():
        given: object = physical
        if not (isinstance(given, str) and given):
            raise ConfigurationError(
                f"{field}[{logical!r}] must be a column name, got {physical!r}",
                field=field,
            )
    return names


@attrs.frozen(kw_only=True)
class TaggingLabels:
    """Labels from a tagging table: ``taggings(tag_id, taggable_id, taggable_type,
    context)`` joined to ``tags(id, name)``; a conversation's labels are the names of
    the tags whose taggings point at it (``taggable_id``), with ``taggable_type`` and
    ``context`` equal to the values given (``None``: that column is not filtered, or
    does not exist). ``tagging_columns`` / ``tag_columns`` rename the columns
    (logical -> physical). ``create`` makes
    :meth:`~autoassign.adapters.sql.SqlSchema.create_all` create both tables (tests;
    a host's tables are its own)."""

    taggings: str = "taggings"
    tags: str = "tags"
    taggable_type: str | None = "Conversation"
    context: str | None = "labels"
    tagging_columns: Mapping[str, str] = attrs.field(factory=dict)
    tag_columns: Mapping[str, str] = attrs.field(factory=dict)
    schema: str | None = None
    create: bool = False

    def __attrs_post_init__(self) -> None:
        tables: tuple[tuple[str, object], ...] = (
            ("taggings", self.taggings),
            ("tags", self.tags),
        )
        for name, value in tables:
            if not (isinstance(value, str) and value):
                raise ConfigurationError(
                    f"labels.{name} must be a table name, got {value!r}",
                    field=f"labels.{name}",
                )
        _names(self.tagging_columns, _TAGGING_COLUMNS, "labels.tagging_columns")
        _names(self.tag_columns, _TAG_COLUMNS, "labels.tag_columns")

    def build(
        self,
        metadata: sa.MetaData,
        conversation_id: TypeEngine[Any],
        *,
        schema: str | None,
    ) -> LabelSource:
        tagging = {
            name: self.tagging_columns.get(name, name) for name in _TAGGING_COLUMNS
        }
        tag = {name: self.tag_columns.get(name, name) for name in _TAG_COLUMNS}
        where = self.schema if self.schema is not None else schema
        tags = sa.Table(
            self.tags,
            metadata,
            sa.Column(tag["id"], sa.Integer, primary_key=True, key="id"),
            sa.Column(tag["name"], sa.String(255), nullable=False, key="name"),
            schema=where,
        )
        columns = [
            sa.Column(tagging["tag_id"], sa.Integer, nullable=False, key="tag_id"),
            sa.Column(
                tagging["taggable_id"],
                conversation_id,
                nullable=False,
                key="taggable_id",
            ),
        ]
        if self.taggable_type is not None:
            columns.append(
                sa.Column(tagging["taggable_type"], sa.String(255), key="taggable_type")
            )
        if self.context is not None:
            columns.append(sa.Column(tagging["context"], sa.String(128), key="context"))
        taggings = sa.Table(
            self.taggings,
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            *columns,
            schema=where,
        )
        if self.create:
            sa.Index(
                f"ix_{self.taggings}_taggable",
                taggings.c.taggable_id,
                *(
                    taggings.c[name]
                    for name in ("taggable_type", "context")
                    if name in taggings.c
                ),
            )
            sa.Index(f"ix_{self.tags}_name", tags.c.name, unique=True)
        return _Tagging(self, taggings, tags)


@attrs.frozen(kw_only=True)
class ArrayLabels:
    """Labels in an array column of the conversations table (PostgreSQL only):
    ``kind="text[]"`` (``ARRAY(TEXT)``, the overlap operator ``&&`` for exclusions; a
    GIN index serves it) or ``kind="jsonb"`` (a JSON array of strings, ``?|``)."""

    column: str = "labels"
    kind: Literal["text[]", "jsonb"] = "text[]"

    def __attrs_post_init__(self) -> None:
        column: object = self.column
        if not (isinstance(column, str) and column):
            raise ConfigurationError(
                f"labels.column must be a column name, got {self.column!r}",
                field="labels.column",
            )
        if self.kind not in ("text[]", "jsonb"):
            raise ConfigurationError(
                f"labels.kind must be 'text[]' or 'jsonb', got {self.kind!r}",
                field="labels.kind",
            )

    def column_type(self) -> TypeEngine[Any]:
        """The type of the array column on the conversations table."""
        if self.kind == "jsonb":
            return postgresql.JSONB()
        return postgresql.ARRAY(sa.Text())


class LabelSource:
    """The built strategy the repository and the writer use (see the module)."""

    #: ``True``: the labels are one column of the conversation row (an array).
    in_row: bool = False

    def outer(
        self, source: Any, conversation_id: Any
    ) -> tuple[Any, ColumnElement[Any]]:
        """``source`` outer-joined to its labels and the label expression (a label per
        row), or ``source`` itself and the array column."""
        raise NotImplementedError

    def excluded(
        self, conversation_id: Any, row: Any, labels: Collection[str]
    ) -> ColumnElement[bool]:
        """True for a conversation (its id column, or ``row``'s columns) holding any of
        ``labels``."""
        raise NotImplementedError

    def replace(
        self, conn: sa.Connection, conversation_id: object, labels: Collection[str]
    ) -> None:
        """Make the stored labels of ``conversation_id`` exactly ``labels``."""
        raise NotImplementedError

    def row_value(self, labels: Collection[str]) -> dict[str, Any]:
        """The conversation row's own values for ``labels`` (an array strategy)."""
        return {}

    def delete(self, conn: sa.Connection, conversation_ids: Any) -> None:
        """Delete the labels of the conversations ``conversation_ids`` selects."""
        raise NotImplementedError

    def tables(self) -> list[sa.Table]:
        """The tables ``create_all`` creates for it."""
        return []


class _JoinTable(LabelSource):
    def __init__(self, table: sa.Table) -> None:
        self.table = table

    def outer(
        self, source: Any, conversation_id: Any
    ) -> tuple[Any, ColumnElement[Any]]:
        table = self.table
        joined = source.outerjoin(table, table.c.conversation_id == conversation_id)
        return joined, table.c.label

    def excluded(
        self, conversation_id: Any, row: Any, labels: Collection[str]
    ) -> ColumnElement[bool]:
        table = self.table
        return sa.exists().where(
            table.c.conversation_id == conversation_id,
            table.c.label.in_(sorted(labels)),
        )

    def replace(
        self, conn: sa.Connection, conversation_id: object, labels: Collection[str]
    ) -> None:
        table = self.table
        conn.execute(sa.delete(table).where(table.c.conversation_id == conversation_id))
        rows = [
            {"conversation_id": conversation_id, "label": label}
            for label in sorted(labels)
        ]
        if rows:
            conn.execute(sa.insert(table), rows)

    def delete(self, conn: sa.Connection, conversation_ids: Any) -> None:
        table = self.table
        conn.execute(
            sa.delete(table).where(table.c.conversation_id.in_(conversation_ids))
        )


class _Tagging(LabelSource):
    def __init__(self, spec: TaggingLabels, taggings: sa.Table, tags: sa.Table) -> None:
        self.spec = spec
        self.taggings = taggings
        self.tags = tags

    def _filters(self) -> list[ColumnElement[bool]]:
        taggings, spec = self.taggings, self.spec
        found: list[ColumnElement[bool]] = []
        if spec.taggable_type is not None:
            found.append(taggings.c.taggable_type == spec.taggable_type)
        if spec.context is not None:
            found.append(taggings.c.context == spec.context)
        return found

    def outer(
        self, source: Any, conversation_id: Any
    ) -> tuple[Any, ColumnElement[Any]]:
        taggings, tags = self.taggings, self.tags
        tagged = taggings.join(tags, tags.c.id == taggings.c.tag_id)
        joined = source.outerjoin(
            tagged, sa.and_(taggings.c.taggable_id == conversation_id, *self._filters())
        )
        return joined, tags.c.name

    def excluded(
        self, conversation_id: Any, row: Any, labels: Collection[str]
    ) -> ColumnElement[bool]:
        taggings, tags = self.taggings, self.tags
        return sa.exists().where(
            taggings.c.taggable_id == conversation_id,
            *self._filters(),
            tags.c.id == taggings.c.tag_id,
            tags.c.name.in_(sorted(labels)),
        )

    def replace(
        self, conn: sa.Connection, conversation_id: object, labels: Collection[str]
    ) -> None:
        taggings, tags = self.taggings, self.tags
        conn.execute(
            sa.delete(taggings).where(
                taggings.c.taggable_id == conversation_id, *self._filters()
            )
        )
        if not labels:
            return
        wanted = sorted(labels)
        known = {
            row.name: row.id
            for row in conn.execute(
                sa.select(tags.c.id, tags.c.name).where(tags.c.name.in_(wanted))
            )
        }
        for name in wanted:
            if name not in known:
                known[name] = conn.execute(
                    sa.insert(tags).values(name=name).returning(tags.c.id)
                ).scalar_one()
        extra: dict[str, Any] = {}
        if self.spec.taggable_type is not None:
            extra["taggable_type"] = self.spec.taggable_type
        if self.spec.context is not None:
            extra["context"] = self.spec.context
        conn.execute(
            sa.insert(taggings),
            [
                {"tag_id": known[name], "taggable_id": conversation_id, **extra}
                for name in wanted
            ],
        )

    def delete(self, conn: sa.Connection, conversation_ids: Any) -> None:
        taggings = self.taggings
        conn.execute(
            sa.delete(taggings).where(
                taggings.c.taggable_id.in_(conversation_ids), *self._filters()
            )
        )

    def tables(self) -> list[sa.Table]:
        return [self.tags, self.taggings] if self.spec.create else []


class InRow(LabelSource):
    """A strategy whose labels are one column of the conversation row."""

    column: Any


class _Array(InRow):
    in_row = True

    def __init__(self, spec: ArrayLabels, conversations: sa.Table) -> None:
        self.spec = spec
        self.column = conversations.c[spec.column]

    def outer(
        self, source: Any, conversation_id: Any
    ) -> tuple[Any, ColumnElement[Any]]:
        return source, source.c[self.spec.column]

    def excluded(
        self, conversation_id: Any, row: Any, labels: Collection[str]
    ) -> ColumnElement[bool]:
        column = row[self.spec.column]
        wanted = sa.literal(sorted(labels), type_=postgresql.ARRAY(sa.Text()))
        if self.spec.kind == "jsonb":
            return sa.func.coalesce(column.has_any(wanted), False)
        return sa.func.coalesce(column.overlap(wanted), False)

    def row_value(self, labels: Collection[str]) -> dict[str, Any]:
        return {self.spec.column: sorted(labels)}

    def replace(
        self, conn: sa.Connection, conversation_id: object, labels: Collection[str]
    ) -> None:
        return  # written with the row (row_value)

    def delete(self, conn: sa.Connection, conversation_ids: Any) -> None:
        return  # deleted with the row


def join_table(table: sa.Table) -> LabelSource:
    """The default strategy over the logical ``conversation_labels`` table."""
    return _JoinTable(table)


def array_column(spec: ArrayLabels, conversations: sa.Table) -> LabelSource:
    """The array strategy over the built conversations table."""
    return _Array(spec, conversations)
