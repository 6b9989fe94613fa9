"""The admin pages: ``/users`` (who may sign in, with which role; add, change and
remove them) and ``/audit`` (what was done, by whom, to what).

Every change is a form POST with the CSRF token, needs the admin role, and is kept
in the audit as the CLI's are. An admin cannot remove themselves or take away
their own admin role, so the UI never locks out the one who is using it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from watcher.store.accounts import AccountError, Accounts
from watcher.web.identity import ROLES, User, require
from watcher.web.pages import error_page, render
from watcher.web.security import Guard

router = APIRouter(include_in_schema=False)

AUDIT_ROWS = 200  # what /audit shows, newest first
USER_ACTIONS = ("add", "role", "password", "remove")
MIN_PASSWORD = 8


def _guard(request: Request) -> Guard:
    return request.app.state.guard


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, done: str = "", name: str = "") -> HTMLResponse:
    """Admins only: the accounts, the forms that change them, the recent actions."""
    require(request, "admin")
    accounts = _guard(request).accounts
    return render(
        request,
        "users.html",
        title="Users — watcher",
        users=accounts.all(),
        actions=accounts.recent_actions(),
        roles=ROLES,
        done=done if done in USER_ACTIONS else "",
        name=name,
        min_password=MIN_PASSWORD,
    )


@router.post("/users")
def change_user(
    request: Request,
    action: str = Form(""),
    name: str = Form(""),
    role: str = Form(""),
    password: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    """One change to one account: add, role, password, remove."""
    guard = _guard(request)
    guard.require_csrf(request, csrf)
    admin = require(request, "admin")
    name = name.strip()
    if action not in USER_ACTIONS:
        return error_page(request, 400, f"no action {action!r}; one of {', '.join(USER_ACTIONS)}")
    try:
        _change(guard, admin, action, name, role, password)
    except AccountError as exc:
        return error_page(request, 400, str(exc), ("/users", "Back to the users"))
    return RedirectResponse("/users?" + urlencode({"done": action, "name": name}), 303)


def _change(guard: Guard, admin: User, action: str, name: str, role: str, password: str) -> None:
    """Make the change and keep it in the audit."""
    accounts: Accounts = guard.accounts
    if action in ("role", "remove") and name == admin.name:
        what = "change your own role" if action == "role" else "remove yourself"
        raise AccountError(f"you ({name}) cannot {what}; another admin can")
    if action in ("add", "password") and len(password) < MIN_PASSWORD:
        raise AccountError(f"the password for {name!r} needs {MIN_PASSWORD} characters or more")
    if action == "add":
        accounts.add(name, role, guard.account_passwords.hash(password), guard.clock.now())
        guard.record(admin, "user add", name, role)
    elif action == "role":
        accounts.set_role(name, role)
        guard.record(admin, "user role", name, role)
    elif action == "password":
        ended = accounts.set_password(name, guard.account_passwords.hash(password))
        guard.record(admin, "user passwd", name, f"{ended} sessions ended")
    else:
        ended = accounts.remove(name)
        guard.record(admin, "user remove", name, f"{ended} sessions ended")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, subject: str = "", user: str = "") -> HTMLResponse:
    """Admins only: every recorded action, or one subject's (an inbox item, a target,
    a user) or one user's."""
    require(request, "admin")
    actions = _guard(request).accounts.actions(subject or None, user or None, AUDIT_ROWS)
    return render(
        request,
        "audit.html",
        title="Audit — watcher",
        actions=actions,
        subject=subject,
        who=user,
        limit=AUDIT_ROWS,
    )
