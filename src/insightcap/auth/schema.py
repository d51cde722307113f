"""Who is asking: the signed-in user (or the local CLI) and their role in each program."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    ADMIN = "admin"  # everything, every program, accounts
    FACILITATOR = "facilitator"  # upload, edit and approve memos in their programs
    MEMBER = "member"  # read approved memos and search within their programs


PROGRAM_ROLES = (Role.FACILITATOR, Role.MEMBER)


@dataclass(frozen=True)
class Principal:
    email: str
    is_admin: bool
    # program id -> role; admins need none.
    roles: Mapping[int, Role] = field(default_factory=dict)
    user_id: int | None = None
    # How the request proved who it is: pages (cookie) must also send their CSRF token.
    via: Literal["cookie", "bearer", "cli"] = "cli"
    csrf_token: str | None = None
    # The network address the request came from, for the audit log.
    client: str = ""

    def role_in(self, program_id: int | None) -> Role | None:
        if self.is_admin:
            return Role.ADMIN
        return self.roles.get(program_id) if program_id is not None else None

    def facilitates(self, program_id: int | None) -> bool:
        return self.role_in(program_id) in (Role.ADMIN, Role.FACILITATOR)

    @property
    def facilitated_programs(self) -> set[int]:
        return {program_id for program_id, role in self.roles.items() if role == Role.FACILITATOR}

    @property
    def facilitates_any(self) -> bool:
        """Admins and the facilitators of some program upload and see themes; members only read and
        search approved memos (the menu, the upload and the themes pages all ask this)."""
        return self.is_admin or bool(self.facilitated_programs)


def local_operator() -> Principal:
    """The person at this computer's terminal: they can read the data folder anyway, so the CLI is admin."""
    import getpass

    return Principal(email=f"cli:{getpass.getuser()}", is_admin=True, via="cli")
