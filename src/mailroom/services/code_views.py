"""What an account card may show of a code: its one state, where it went and its waits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailroom.domain.codes import CodeState, code_state, seconds_until
from mailroom.services import codes
from mailroom.state import now


@dataclass(frozen=True)
class CodeView:
    """One code as a page shows it: ``state`` None when no code is waiting or was ever sent."""

    state: CodeState | None = None
    email: str | None = None
    expires_in: int = 0
    resend_after: int = 0
    locked: bool = False

    @property
    def name(self) -> str:
        """The state's name for pages and scripts ("none" when there is nothing to tell)."""
        return self.state.value if self.state is not None and self.state is not CodeState.USED else "none"

    def as_data(self) -> dict[str, Any]:
        """The view as a JSON reply carries it to account.js."""
        return {"state": self.name, "email": self.email, "expires_in": self.expires_in,
                "resend_after": self.resend_after, "locked": self.locked}


def view(purpose: str, user_id: int) -> CodeView:
    """The state of the user's code for ``purpose`` now, by the store and the configured policy."""
    record, moment, rules = codes.store().load(purpose, user_id), now(), codes.policy()
    if record is None:
        return CodeView()
    state = code_state(record, moment, rules.max_attempts)
    wait, locked = rules.resend_wait(record, moment)
    live = state is CodeState.PENDING
    return CodeView(state=state, email=record.email if state is not CodeState.VOID else None,
                    expires_in=seconds_until(record.expires_at, moment) if live else 0,
                    resend_after=wait, locked=locked)
