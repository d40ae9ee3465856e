"""Programs: the per-conversion reward rules that groups bind to (their own payouts are
out of scope); here they matter for bindings and eligibility."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from siren_core.domain import NAME_LENGTH, check_identifier, check_text
from siren_core.errors import Conflict, InvalidInput, NotFound
from siren_core.groups.bindings import group_binding, owner_key
from siren_core.groups.values import PROGRAM_STATUSES, Program
from siren_core.store import Connection, Engine, queries, unit_of_work
from siren_core.store import group_queries as gq


class ProgramService:
    """Program operations on one store."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    def create(self, id: str, *, name: str | None = None, status: str = "active",
                       collaborators: Sequence[str] = ()) -> Program:
        check_identifier("program.id", id)
        if name is not None:
            check_text("program.name", name, NAME_LENGTH)
        if status not in PROGRAM_STATUSES:
            raise InvalidInput("program.status", status, f"is not one of {PROGRAM_STATUSES}")
        names = list(dict.fromkeys(collaborators))
        with unit_of_work(self._engine) as conn:
            if gq.find_program(conn, id) is not None:
                raise Conflict(f"program {id!r} already exists")
            known = queries.collaborator_keys(conn, names)
            for index, collaborator in enumerate(names):
                if collaborator not in known:
                    raise InvalidInput(f"program.collaborators[{index}]", collaborator,
                                       "is not a known collaborator")
            gq.insert_program(conn, id, name or id, status, [known[n][0] for n in names],
                              self._clock())
        return Program(id, name or id, status, tuple(sorted(names)))

    def set_status(self, id: str, status: str) -> None:
        """Change a program's status; deleting one fires no unbind (its binding stays)."""
        if status not in PROGRAM_STATUSES:
            raise InvalidInput("program.status", status, f"is not one of {PROGRAM_STATUSES}")
        with unit_of_work(self._engine) as conn:
            gq.set_program_status(conn, owner_key(conn, "program", id), status,
                                  self._clock())

    def _program(self, conn: Connection, row: gq.ProgramRow) -> Program:
        binding = group_binding(gq.bound_group(conn, "program", row[0]))
        return Program(row[1], row[2], row[3], tuple(gq.program_collaborators(conn, row[0])),
                       binding.group if binding and not binding.deleted else None, binding)

    def program(self, id: str) -> Program:
        with unit_of_work(self._engine, write=False) as conn:
            row = gq.find_program(conn, id) if isinstance(id, str) else None
            if row is None:
                raise NotFound("program", id)
            return self._program(conn, row)

    def programs(self) -> list[Program]:
        with unit_of_work(self._engine, write=False) as conn:
            return [self._program(conn, row) for row in gq.list_programs(conn)]
