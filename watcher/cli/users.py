"""``watcher user``: the web UI's accounts (add, list, passwd, role, remove).

Passwords are asked twice at a prompt, or read from stdin (``--password-stdin``),
never from the command line, and kept only as argon2 hashes. A changed password or
a removed user ends their sessions at once, also in a running service.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from watcher.cli.context import Context, pass_ctx

ROLES = ("viewer", "analyst", "admin")  # watcher.web.identity.ROLES
CLI_USER = "cli"  # who the audit says changed a user from the command line


@click.group("user")
def user() -> None:
    """The web UI's users: admin (targets, channels, users), analyst (triage, notes),
    viewer (read only).

    \b
    Examples:
      watcher user add li.wei --role analyst
      printf '%s\\n' "$PW" | watcher user add ops --role admin --password-stdin
      watcher user list
    """


def _password(password_stdin: bool) -> str:
    if password_stdin:
        given = sys.stdin.readline().rstrip("\r\n")
    else:
        # Asked twice by hand rather than with click's confirmation_prompt, which asks
        # again on a mismatch and, at the end of a piped stdin, can ask forever.
        given = click.prompt("Password", hide_input=True, default="", show_default=False)
        again = click.prompt("Repeat password", hide_input=True, default="", show_default=False)
        if given != again:
            raise click.UsageError("the two passwords differ; nothing was changed")
    if not given:
        raise click.UsageError("the password is empty")
    return given


def _hash(clear: str) -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(clear)


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@pass_ctx
def add(ctx: Context, name: str, role: str, password_stdin: bool) -> None:
    """Add user NAME with a password (asked twice)."""
    from watcher.store.accounts import AccountError, Accounts

    with ctx.store(shared=True) as store:
        accounts = Accounts(lambda: store.engine)
        if accounts.get(name) is not None:
            ctx.fail(f"there is already a user named {name!r} (`watcher user passwd {name}`)")
        encoded = _hash(_password(password_stdin))
        try:
            accounts.add(name, role, encoded, _now())
        except AccountError as exc:
            ctx.fail(str(exc))
        accounts.record_action(CLI_USER, "user add", name, role, _now())
    click.echo(f"added {name} ({role})")


@user.command("list")
@pass_ctx
def list_users(ctx: Context) -> None:
    """The users: name, role, last login."""
    from rich.table import Table

    from watcher.store.accounts import Accounts

    with ctx.store(shared=True) as store:
        users = Accounts(lambda: store.engine).all()
    if not users:
        click.echo("no users (the web UI is open, or WATCHER_PASSWORD guards it)")
        return
    table = Table("name", "role", "last login (UTC)", "created (UTC)", box=None)
    for account in users:
        table.add_row(
            account.name + (" (disabled)" if account.disabled else ""),
            account.role,
            _when(account.last_login_at),
            _when(account.created_at),
        )
    ctx.out.print(table)


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@pass_ctx
def passwd(ctx: Context, name: str, password_stdin: bool) -> None:
    """Give NAME a new password; their sessions end."""
    from watcher.store.accounts import AccountError, Accounts

    with ctx.store(shared=True) as store:
        accounts = Accounts(lambda: store.engine)
        if accounts.get(name) is None:
            ctx.fail(f"no user named {name!r} (`watcher user list` shows them)")
        encoded = _hash(_password(password_stdin))
        try:
            ended = accounts.set_password(name, encoded)
        except AccountError as exc:
            ctx.fail(str(exc))
        accounts.record_action(CLI_USER, "user passwd", name, f"{ended} sessions ended", _now())
    click.echo(f"new password for {name}; {ended} session(s) ended")


@user.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@pass_ctx
def role(ctx: Context, name: str, role: str) -> None:
    """Give NAME the role ROLE (at their next request)."""
    from watcher.store.accounts import AccountError, Accounts

    with ctx.store(shared=True) as store:
        accounts = Accounts(lambda: store.engine)
        try:
            accounts.set_role(name, role)
        except AccountError as exc:
            ctx.fail(str(exc))
        accounts.record_action(CLI_USER, "user role", name, role, _now())
    click.echo(f"{name} is now {role}")


@user.command("remove")
@click.argument("name")
@pass_ctx
def remove(ctx: Context, name: str) -> None:
    """Remove user NAME; their sessions end."""
    from watcher.store.accounts import AccountError, Accounts

    with ctx.store(shared=True) as store:
        accounts = Accounts(lambda: store.engine)
        try:
            ended = accounts.remove(name)
        except AccountError as exc:
            ctx.fail(str(exc))
        accounts.record_action(CLI_USER, "user remove", name, f"{ended} sessions ended", _now())
    click.echo(f"removed {name}; {ended} session(s) ended")


def _now() -> datetime:
    return datetime.now(UTC)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "never"
