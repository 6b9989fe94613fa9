"""``watcher suggest-ignore``: the rules that would have silenced a change, with
what each would have hidden of the target's past changes, ready to paste."""

from __future__ import annotations

import json

import click

from watcher.cli.context import Context, pass_ctx, select


@click.command("suggest-ignore")
@click.argument("name")
@click.option(
    "--capture", "capture_id", help="The change's capture id (default: the latest change)."
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object: the rules and their counts."
)
@pass_ctx
def suggest_ignore(ctx: Context, name: str, capture_id: str | None, as_json: bool) -> None:
    """Rules that would have silenced a change of target NAME: ignore regexes and
    exclude selectors, each with the past changes it silences, and the YAML to add.

    \b
    Examples:
      watcher suggest-ignore miit-notices
      watcher suggest-ignore miit-notices --capture 01JD9F --json
    Exit 0 when shown, 2 for an unknown target, a capture id that matches none, or a
    target with no change yet.
    """
    from watcher.check.suggest import suggest_rules, suggestions_json
    from watcher.store.index import StoreError

    config = ctx.config()
    (target,) = select(ctx, config, (name,))
    with ctx.store(readonly=True) as store:
        try:
            found = suggest_rules(
                store, target, capture_id, regex_timeout=config.settings.regex_timeout
            )
        except StoreError as exc:
            ctx.fail(str(exc))
    if as_json:
        click.echo(json.dumps(suggestions_json(found), ensure_ascii=False))
        return
    _print(ctx, found)


def _print(ctx: Context, found: object) -> None:
    from rich.markup import escape
    from rich.table import Table

    from watcher.check.suggest import Suggestions

    assert isinstance(found, Suggestions)
    out = ctx.out
    out.print(
        f"{found.target}: rules for the change {found.previous_id} → {found.capture_id}"
        f" ({found.changes} past changes replayed)",
        highlight=False,
    )
    if not found.rules:
        out.print("no rule found: the change is not a labelled number, date or one element")
        return
    table = Table(show_lines=False)
    for column in ("#", "rule", "kind", "silenced", "flags"):
        table.add_column(column, overflow="fold")
    for n, s in enumerate(found.rules, 1):
        silenced = f"{len(s.silenced)} of {s.total}" + (
            "" if s.focus_silenced else " (not this one)"
        )
        table.add_row(
            str(n),
            escape("\n".join(s.rule.patterns)),
            s.rule.kind,
            silenced,
            escape(", ".join(s.flags) or "safe"),
        )
    out.print(table)
    for kind in ("ignore", "exclude"):  # the best rule of each kind, ready to paste
        numbered = [(n, s) for n, s in enumerate(found.rules, 1) if s.rule.kind == kind]
        if numbered:
            n, best = numbered[0]
            out.print(f"\n# target {found.target}, rule {n}:", highlight=False)
            click.echo(best.yaml, nl=False)
