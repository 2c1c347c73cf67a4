"""Console users: roles, argon2 password hashes, sign-in throttled per account.

Roles are cumulative grants, not a ladder: ``owner`` may do everything (and sees the
audit log and users), ``operator`` changes rules, offers and customers (export, erasure),
``marketer`` works on templates, previews and test sends, ``viewer`` only reads.

    add_user(session, email="ops@shop.pl", role="operator", password="...", now=now)
    authenticate(session, email=..., password=..., now=now) -> ConsoleUser   # or raises

Five wrong passwords in a row lock the account for :data:`LOCKOUT`; while locked even
the right password is refused, so guessing gains nothing. Unknown e-mails cost the same
hash verification as known ones (no timing oracle on who has an account).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from notifier.errors import NotifierError
from notifier.store import audit
from notifier.store.console_tables import ConsoleUser

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = 10


class Role(StrEnum):
    OWNER = "owner"
    OPERATOR = "operator"
    MARKETER = "marketer"
    VIEWER = "viewer"


class Permission(StrEnum):
    READ = "read"
    RULES = "rules"
    OFFERS = "offers"
    CUSTOMERS = "customers"
    TEMPLATES = "templates"
    AUDIT = "audit"
    USERS = "users"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.OPERATOR: frozenset({Permission.READ, Permission.RULES, Permission.OFFERS,
                              Permission.CUSTOMERS}),
    Role.MARKETER: frozenset({Permission.READ, Permission.TEMPLATES}),
    Role.VIEWER: frozenset({Permission.READ}),
}


def may(role: str, permission: Permission) -> bool:
    try:
        return permission in GRANTS[Role(role)]
    except ValueError:
        return False


class AuthError(NotifierError):
    """Sign-in refused: wrong e-mail or password (``locked_until`` is None) or the account
    is locked after too many failures (``locked_until`` says until when)."""

    def __init__(self, message: str, *, locked_until: datetime | None = None) -> None:
        super().__init__(message)
        self.locked_until = locked_until


class UserError(NotifierError):
    """A user cannot be added or removed as asked (bad role, short password, unknown...)."""


def hasher() -> PasswordHasher:
    return PasswordHasher()


# Verified against when the e-mail is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$oB+bdJ5XAJpUl/tMBLzeHg$"
               "MeX3lAModS60OJVTGVSt4xg3o3eTTG/lQhuqkNflVI4")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def add_user(session: Session, *, email: str, role: str, password: str, now: datetime,
             actor: str = "cli", locale: str | None = None) -> ConsoleUser:
    email = normalise_email(email)
    if "@" not in email:
        raise UserError(f"email: {email!r} is not an e-mail address")
    try:
        role = Role(role).value
    except ValueError as exc:
        raise UserError(f"role: {role!r} is not one of {', '.join(r.value for r in Role)}"
                        ) from exc
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password: at least {MIN_PASSWORD} characters")
    if session.exec(select(ConsoleUser).where(ConsoleUser.email == email)).first():
        raise UserError(f"email: a user {email} already exists")
    user = ConsoleUser(email=email, role=role, password_hash=hasher().hash(password),
                       locale=locale, created_at=now)
    session.add(user)
    audit.record(session, actor=actor, action="user.add", target=email, now=now,
                 detail={"role": role})
    session.flush()
    return user


def list_users(session: Session) -> list[ConsoleUser]:
    return list(session.exec(select(ConsoleUser).order_by(col(ConsoleUser.email))).all())


def remove_user(session: Session, *, email: str, now: datetime, actor: str = "cli") -> None:
    email = normalise_email(email)
    user = session.exec(select(ConsoleUser).where(ConsoleUser.email == email)).first()
    if user is None:
        raise UserError(f"email: no user {email}")
    session.delete(user)
    audit.record(session, actor=actor, action="user.remove", target=email, now=now)


def authenticate(session: Session, *, email: str, password: str, now: datetime) -> ConsoleUser:
    """The user whose password this is; counts failures and locks after too many.

    Call it in a writing transaction: the failure count is stored even when it raises
    (the caller commits before turning the error into a response)."""
    user = session.exec(select(ConsoleUser).where(
        ConsoleUser.email == normalise_email(email))).first()
    if user is None:
        _verify(_DUMMY_HASH, password)
        raise AuthError("wrong e-mail or password")
    if user.locked_until is not None and user.locked_until > now:
        raise AuthError("too many failed sign-ins", locked_until=user.locked_until)
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.failed_logins = 0
            user.locked_until = now + LOCKOUT
            audit.record(session, actor=user.email, action="user.locked", target=user.email,
                         now=now, detail={"until": user.locked_until.isoformat()})
            session.add(user)
            raise AuthError("too many failed sign-ins", locked_until=user.locked_until)
        session.add(user)
        raise AuthError("wrong e-mail or password")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hasher().hash(password)
    session.add(user)
    return user


def end_sessions(session: Session, user_id: int) -> None:
    """Invalidate every cookie issued to the user (sign-out ends them everywhere)."""
    user = session.get(ConsoleUser, user_id)
    if user is not None:
        user.session_version += 1
        session.add(user)


def _verify(hashed: str, password: str) -> bool:
    try:
        return hasher().verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
