"""The admin page ``/users``: who may sign in, with which role, and what was done."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from watcher.web.identity import require
from watcher.web.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request) -> HTMLResponse:
    """Admins only: the accounts (read-only; `watcher user` changes them) and the audit."""
    require(request, "admin")
    accounts = request.app.state.guard.accounts
    return render(
        request,
        "users.html",
        title="Users — watcher",
        users=accounts.all(),
        actions=accounts.recent_actions(),
    )
