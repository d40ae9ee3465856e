"""The raw-SQL side of the benchmarks: a kernel's DBAPI connection, with the dialect's
placeholders, time format and bulk paths (``executemany``, and ``COPY`` on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from benchmarks.period import copy, multirow, store_time
from siren_core import Kernel, store


class Raw:
    def __init__(self, kernel: Kernel) -> None:
        self.sqlite = store.is_sqlite(kernel.engine)
        self.connection: Any = kernel.engine.raw_connection()
        self.mark = "?" if self.sqlite else "%s"

    def time(self, value: datetime) -> Any:
        return store_time(value, self.sqlite)

    def sql(self, text: str) -> str:
        return text.replace("?", self.mark)

    def begin(self) -> Any:
        cursor = self.connection.cursor()
        if self.sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        return cursor

    def commit(self, cursor: Any) -> None:
        """End the transaction :meth:`begin` began."""
        if self.sqlite:
            cursor.execute("COMMIT")
        else:
            self.connection.commit()

    def insert(self, cursor: Any, table: str, columns: list[str],
               rows: Iterable[tuple[Any, ...]]) -> None:
        """``executemany`` of one ``INSERT``."""
        marks = ", ".join(self.mark for _ in columns)
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def multirow(self, cursor: Any, table: str, columns: list[str],
                 rows: list[tuple[Any, ...]], per: int = 200) -> None:
        """``executemany`` of an ``INSERT`` of ``per`` rows at a time (the rest at once)."""
        multirow(cursor, self.mark, table, columns, rows, per)

    def fastest(self, cursor: Any, table: str, columns: list[str],
                rows: Iterable[tuple[Any, ...]], types: list[str]) -> None:
        """The fastest raw path we know: binary ``COPY`` on PostgreSQL (the columns'
        ``types``; each row sent as it comes), multi-row ``INSERT`` on SQLite (as the
        engine's bulk writes)."""
        if self.sqlite:
            self.multirow(cursor, table, columns, list(rows))
        else:
            copy(cursor, table, columns, rows, types)

    def bulk(self, cursor: Any, table: str, columns: list[str],
             rows: Iterable[tuple[Any, ...]], types: list[str] | None = None) -> None:
        """A bulk path: ``COPY`` on PostgreSQL (binary with ``types``), ``executemany`` on
        SQLite."""
        if self.sqlite:
            self.insert(cursor, table, columns, rows)
            return
        copy(cursor, table, columns, rows, types)

    def close(self) -> None:
        self.connection.close()
