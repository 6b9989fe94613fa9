"""Alerts end to end: events → messages → outbox → apprise channels.

Real parts: a real SMTP server (aiosmtpd) and a real HTTP receiver for apprise's
``json://`` posts, both on 127.0.0.1; the real store; the real CLI.
"""

from __future__ import annotations

import email
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from clock import PATIENCE, eventually
from httpserver import HTTPServer, free_port
from pgstores import index_engine

from watcher.alerts.compose import Composer, escape_markdown, hits_summary
from watcher.alerts.events import Event, Rules, capture_events, error_events, recovery_events
from watcher.alerts.plan import plan
from watcher.alerts.send import ChannelsError, Secrets, Sender, expand_env, load_channels
from watcher.cli.main import main
from watcher.core.models import TermHits
from watcher.diff.excerpt import of_diff, of_text
from watcher.diff.ops import diff_texts
from watcher.store.index import Store
from watcher.store.outbox import NewMessage

PAGE = (
    '<html><head><meta charset="utf-8"><title>关于加快船只工业发展的通知</title></head>'
    "<body><div id=c><p>工业和信息化部关于加快船只工业高质量发展的通知。</p>"
    "<p>各省、自治区、直辖市工业和信息化主管部门：</p></div></body></html>"
)
HIT_PAGE = PAGE.replace("船只工业高质量", "船舶工业高质量")


class Mailbox:
    """What the SMTP server received, parsed."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls it by this name
        self.envelopes.append(envelope)
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.original_content, policy=policy.default)  # type: ignore[misc]
            for e in self.envelopes
        ]


class SMTP:
    def __init__(self, port: int) -> None:
        self.port = port
        self.mailbox = Mailbox()
        self.controller: Controller | None = None

    def start(self) -> SMTP:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def url(self) -> str:
        return (
            f"mailto://127.0.0.1:{self.port}?smtp=127.0.0.1&mode=insecure"
            "&from=watcher@example.org&to=analyst@example.org"
        )


@pytest.fixture
def smtp() -> Iterator[SMTP]:
    server = SMTP(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[HTTPServer, Path]]:
    with HTTPServer() as server:
        server.route("/n", body=PAGE.encode())
        server.route("/hook", body=b"ok")
        yield server, tmp_path


def write_config(
    folder: Path, server: HTTPServer, channels: list[tuple[str, str]], **target: str
) -> Path:
    (folder / "notifiers").mkdir(exist_ok=True)
    lines = ["urls:"]
    for url, tag in channels:
        lines += [f"  - {url}:", f"      tag: {tag}"]
    (folder / "notifiers" / "apprise.yml").write_text("\n".join(lines) + "\n")
    extra = "".join(f"\n    {k}: {v}" for k, v in target.items())
    config = folder / "targets.yaml"
    config.write_text(
        f"""settings: {{host_delay: 0, base_url: "http://127.0.0.1:8080"}}
keywords:
  shipbuilding: [船舶, 造船]
targets:
  - name: miit
    title: MIIT 通知公告
    url: {server.url("/n")}
    keywords: [shipbuilding]
    notify: [analysts]{extra}
""",
        encoding="utf-8",
    )
    return config


def cli(config: Path, *args: str) -> tuple[int, str]:
    data = config.parent / "snapshots"
    result = CliRunner().invoke(main, ["--config", str(config), "--data", str(data), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def outbox_of(config: Path) -> list[dict]:
    data = config.parent / "snapshots"
    result = CliRunner().invoke(
        main, ["--config", str(config), "--data", str(data), "outbox", "--all", "--json"]
    )
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


# --------------------------------------------------------------------------- email


def test_a_keyword_hit_arrives_by_email_with_both_parts_in_chinese(site, smtp) -> None:
    server, folder = site
    config = write_config(folder, server, [(smtp.url, "analysts")])
    assert cli(config, "check")[0] == 0  # the baseline: no alert (alert_new is off)
    assert smtp.mailbox.envelopes == []
    server.route("/n", body=HIT_PAGE.encode())
    assert cli(config, "check")[0] == 0
    (mail,) = smtp.mailbox.messages
    assert mail["Subject"] == "MIIT 通知公告 changed — 船舶"
    assert mail["From"] == "watcher@example.org"
    assert mail["To"] == "analyst@example.org"
    assert smtp.mailbox.envelopes[0].rcpt_tos == ["analyst@example.org"]
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    for part in (plain, html):
        assert "加快船舶工业高质量发展的通知。" in part  # the hit in context
        assert "http://127.0.0.1:8080/t/miit/diff?from=" in part
    assert "船[-只-]{+舶+}工业" in plain  # the change, marked, in the text part too
    assert '<del style="background:#fbd5d5">' in html and "<ins " in html
    (message,) = outbox_of(config)
    assert message["status"] == "sent" and message["channels"][0]["status"] == "sent"


def test_a_change_without_hits_is_quiet_unless_the_target_wants_every_change(site, smtp) -> None:
    server, folder = site
    config = write_config(folder, server, [(smtp.url, "analysts")])
    cli(config, "check")
    server.route("/n", body=PAGE.replace("主管部门", "主管单位").encode())
    cli(config, "check")
    assert smtp.mailbox.envelopes == []
    config = write_config(folder, server, [(smtp.url, "analysts")], alert="changes")
    server.route("/n", body=PAGE.replace("主管部门", "主管机关").encode())
    cli(config, "check")
    (mail,) = smtp.mailbox.messages
    assert mail["Subject"] == "MIIT 通知公告 changed (+2/−2 characters)"


def test_first_capture_alerts_only_when_asked(site, smtp) -> None:
    server, folder = site
    config = write_config(folder, server, [(smtp.url, "analysts")], alert_new="true")
    server.route("/n", body=HIT_PAGE.encode())
    cli(config, "check")
    (mail,) = smtp.mailbox.messages
    assert mail["Subject"] == "MIIT 通知公告: first capture — 船舶"


def test_smtp_down_when_the_change_is_found_delivers_once_when_it_is_back(site) -> None:
    server, folder = site
    smtp = SMTP(free_port())  # not started: the port refuses connections
    config = write_config(folder, server, [(smtp.url, "analysts")])
    cli(config, "check")
    server.route("/n", body=HIT_PAGE.encode())
    assert cli(config, "check")[0] == 0  # the capture is stored whatever the mail does
    (message,) = outbox_of(config)
    (channel,) = message["channels"]
    assert message["status"] == "pending" and channel["attempts"] == 1 and channel["error"]
    smtp.start()
    try:
        data = config.parent / "snapshots"
        with Store(data) as store:
            later = datetime.now(UTC) + timedelta(minutes=5)  # past the first backoff
            sender = make_sender(store, config.parent / "notifiers", clock=lambda: later)
            run(sender.deliver_due())
            run(sender.deliver_due())  # a second pass sends nothing again
        assert len(smtp.mailbox.envelopes) == 1
        assert cli(config, "check")[0] == 0  # and neither does the next check
        assert len(smtp.mailbox.envelopes) == 1
        (message,) = outbox_of(config)
        assert message["status"] == "sent" and message["channels"][0]["attempts"] == 2
    finally:
        smtp.stop()


def test_a_failing_channel_does_not_hold_back_another(site, smtp) -> None:
    server, folder = site
    dead = f"json://127.0.0.1:{free_port()}/hook"
    config = write_config(folder, server, [(dead, "analysts"), (smtp.url, "analysts")])
    cli(config, "check")
    server.route("/n", body=HIT_PAGE.encode())
    cli(config, "check")
    assert len(smtp.mailbox.envelopes) == 1
    (message,) = outbox_of(config)
    states = {c["channel"].split(":")[0]: c for c in message["channels"]}
    assert states["mailto"]["status"] == "sent"
    assert states["json"]["status"] == "pending" and states["json"]["error"]
    assert message["status"] == "pending"  # until every channel has it, or gives up


def test_json_channel_gets_the_message_as_posted_json(site) -> None:
    server, folder = site
    config = write_config(folder, server, [(f"json://{server.url('/hook')[7:]}", "analysts")])
    cli(config, "check")
    server.route("/n", body=HIT_PAGE.encode())
    cli(config, "check")
    (post,) = server.requests("/hook")
    body = json.loads(post.body)
    assert post.method == "POST"
    assert body["title"] == "MIIT 通知公告 changed — 船舶"
    assert "加快船舶工业高质量发展的通知。" in body["message"]


def test_messages_past_their_max_age_fail_and_retry_resends_them(site, smtp) -> None:
    server, folder = site
    smtp.stop()
    config = write_config(folder, server, [(smtp.url, "analysts")])
    cli(config, "check")
    server.route("/n", body=HIT_PAGE.encode())
    cli(config, "check")
    data = config.parent / "snapshots"
    with Store(data) as store:
        days_later = datetime.now(UTC) + timedelta(days=3)
        run(make_sender(store, config.parent / "notifiers", clock=lambda: days_later).deliver_due())
    (message,) = outbox_of(config)
    assert message["status"] == "failed" and "gave up after 1 attempts" in message["error"]
    code, shown = cli(config, "outbox")
    assert code == 0 and "failed" in shown and "MIIT 通知公告 changed" in shown
    smtp.start()
    code, shown = cli(config, "outbox", "--retry")
    assert code == 0 and "1 failed messages are due again" in shown
    assert len(smtp.mailbox.envelopes) == 1
    (message,) = outbox_of(config)
    assert message["status"] == "sent"


def test_a_digest_tag_gathers_messages_into_one(site, smtp) -> None:
    server, folder = site
    config = write_config(folder, server, [(smtp.url, "analysts")])
    text = config.read_text(encoding="utf-8").replace(
        "settings: {", "settings: {digest: {analysts: 1h}, "
    )
    config.write_text(text, encoding="utf-8")
    cli(config, "check")
    for page in (HIT_PAGE, HIT_PAGE.replace("主管部门", "造船主管部门")):
        server.route("/n", body=page.encode())
        cli(config, "check")
    assert smtp.mailbox.envelopes == []  # waiting for the hour to end
    with Store(config.parent / "snapshots") as store:
        later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
        run(make_sender(store, config.parent / "notifiers", clock=lambda: later).deliver_due())
    (mail,) = smtp.mailbox.messages
    assert mail["Subject"] == "watcher digest (analysts): 2 alerts — miit"
    plain = mail.get_body(("plain",)).get_content()
    assert plain.count("MIIT 通知公告 changed") == 2
    statuses = sorted(m["status"] for m in outbox_of(config))
    assert statuses == ["digested", "digested", "sent"]


def test_templates_in_notifiers_override_the_shipped_ones(site, smtp) -> None:
    server, folder = site
    config = write_config(folder, server, [(smtp.url, "analysts")])
    (folder / "notifiers" / "templates").mkdir()
    (folder / "notifiers" / "templates" / "title.txt.j2").write_text(
        "[监测] {{ event.title }}: {{ summary }}", encoding="utf-8"
    )
    cli(config, "check")
    server.route("/n", body=HIT_PAGE.encode())
    cli(config, "check")
    (mail,) = smtp.mailbox.messages
    assert mail["Subject"] == "[监测] MIIT 通知公告: 船舶"


def test_notify_test_reports_each_channel(site, smtp) -> None:
    server, folder = site
    dead = f"json://127.0.0.1:{free_port()}/hook"
    config = write_config(folder, server, [(smtp.url, "analysts"), (dead, "admin")])
    code, out = cli(config, "notify-test")
    assert code == 1
    assert "delivered  mailto://" in out and "failed     json://" in out
    assert len(smtp.mailbox.envelopes) == 1
    code, out = cli(config, "notify-test", "--tag", "analysts")
    assert code == 0 and "json://" not in out
    code, out = cli(config, "notify-test", "--tag", "nobody")
    assert code == 2 and "no channel has the tag 'nobody'" in out


def test_unmatched_tags_fail_the_message_with_a_reason(site, smtp) -> None:
    server, folder = site
    config = write_config(folder, server, [(smtp.url, "someone-else")])
    cli(config, "check")
    server.route("/n", body=HIT_PAGE.encode())
    cli(config, "check")
    (message,) = outbox_of(config)
    assert message["status"] == "failed" and "no channel has the tag analysts" in message["error"]


def test_errors_alert_once_after_three_failures_and_recovery_once(site, smtp) -> None:
    server, folder = site
    config = write_config(folder, server, [(smtp.url, "analysts")], retries="0")
    cli(config, "check")
    server.route("/n", status=500, body=b"busy")
    for _ in range(5):
        assert cli(config, "check")[0] == 1
    (mail,) = smtp.mailbox.messages
    assert mail["Subject"] == "MIIT 通知公告 failing — 3 checks in a row"
    assert "HTTP 500" in mail.get_body(("plain",)).get_content()
    server.route("/n", body=PAGE.encode())
    cli(config, "check")
    cli(config, "check")
    subjects = [m["Subject"] for m in smtp.mailbox.messages]
    assert subjects[1:] == ["MIIT 通知公告 recovered after 5 failed checks"]


# --------------------------------------------------------------------------- channels


def test_env_variables_in_the_channels_file(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "notifiers"
    folder.mkdir()
    (folder / "apprise.yml").write_text(
        "urls:\n  # ${NOT_READ} in a comment is left alone\n"
        "  - json://127.0.0.1:9/${HOOK_PATH}:\n      tag: analysts\n"
    )
    monkeypatch.delenv("HOOK_PATH", raising=False)
    with pytest.raises(ChannelsError, match=r"apprise\.yml:3: environment variable HOOK_PATH"):
        load_channels(folder)
    monkeypatch.setenv("HOOK_PATH", "s3cret-hook")
    (channel,) = load_channels(folder).all
    assert channel.tags == {"analysts"} and "s3cret-hook" in channel.service.url()
    assert expand_env("a ${X} b", folder, {"X": "1"}) == "a 1 b"


def test_without_channels_check_makes_no_messages_and_old_ones_are_skipped(site, smtp) -> None:
    """No channels file: `check` makes no alerts at all. Alerts queued while channels
    existed, then left without any (the file removed), are closed as skipped."""
    server, folder = site
    smtp.stop()  # the message stays pending
    config = write_config(folder, server, [(smtp.url, "analysts")])
    cli(config, "check")
    server.route("/n", body=HIT_PAGE.encode())
    cli(config, "check")
    assert [m["status"] for m in outbox_of(config)] == ["pending"]
    (folder / "notifiers" / "apprise.yml").unlink()
    server.route("/n", body=HIT_PAGE.replace("主管部门", "造船主管部门").encode())
    assert cli(config, "check")[0] == 0  # a hit, but nowhere to send it: no message
    assert len(outbox_of(config)) == 1
    with Store(config.parent / "snapshots") as store:
        later = datetime.now(UTC) + timedelta(minutes=5)
        run(make_sender(store, folder / "notifiers", clock=lambda: later).deliver_due())
    (message,) = outbox_of(config)
    # the delivery made while the channel existed has no channel any more
    assert message["status"] == "failed"
    assert message["channels"][0]["error"] == "channel no longer configured"


def test_a_message_with_no_channels_at_all_is_skipped(tmp_path: Path) -> None:
    with Store(tmp_path / "data") as store:
        message = NewMessage("changed", "miit", None, (), "t", "x", "x", "x", datetime.now(UTC))
        store.outbox.queue([message])
        run(make_sender(store, tmp_path / "none", clock=lambda: datetime.now(UTC)).deliver_due())
        (row,) = store.outbox.messages()
    assert (row.status, row.error) == ("skipped", "no channels configured")


def test_an_event_makes_one_message_for_direct_tags_and_one_per_digest_tag(
    tmp_path: Path,
) -> None:
    at = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    event = Event(
        "changed",
        "miit",
        "工业和信息化部",
        "http://127.0.0.1/",
        at,
        capture_id="01J0000000000000000000CAPT",
        added=1,
        notify=("analysts", "admin", "ops"),
    )
    composed = Composer().compose(event)
    with Store(tmp_path / "data") as store:
        store.outbox.queue(plan(event, composed, {"analysts": 3600.0}))
        rows = sorted(store.outbox.messages(), key=lambda m: m.tags)
    assert [(m.tags, m.digest_tag) for m in rows] == [
        (["admin", "ops"], None),
        (["analysts"], "analysts"),
    ]
    for m in rows:
        assert (m.kind, m.target, m.capture_id, m.created_at) == (
            "changed",
            "miit",
            "01J0000000000000000000CAPT",
            at,
        )
        assert (m.title, m.body_text, m.body_html, m.body_markdown) == (
            composed.title,
            composed.text,
            composed.html,
            composed.markdown,
        )
        assert m.status == "pending"


def test_a_broken_channels_file_is_a_usage_error(site) -> None:
    server, folder = site
    config = write_config(folder, server, [("bogus://nothing", "analysts")])
    code, out = cli(config, "check")
    assert code == 2 and "apprise.yml" in out


# --------------------------------------------------------------------------- messages


def _event(**details) -> Event:
    base = {
        "kind": "changed",
        "target": "miit",
        "title": "MIIT 通知公告",
        "url": "https://www.miit.gov.cn/n",
        "at": datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
        "capture_id": "01B",
        "previous_id": "01A",
    }
    return Event(**{**base, **details})


def test_title_counts_terms_and_names_removed_ones() -> None:
    hits = (
        TermHits("shipbuilding", "船舶", "added", (1, 2, 20, 2)),
        TermHits("sastind", "国防科工局", "added", (9, 5)),
        TermHits("mcf", "re:军民(两用|结合)", "added", (30, 4)),
        TermHits("shipbuilding", "造船", "removed", (3, 2)),
    )
    assert hits_summary(hits) == "船舶 ×2, 国防科工局, mcf; removed: 造船"
    composed = Composer().compose(_event(hits=hits))
    assert composed.title == "MIIT 通知公告 changed — 船舶 ×2, 国防科工局, mcf; removed: 造船"


def test_long_changes_are_cut_with_a_count_of_what_was_left_out() -> None:
    old = "\n".join(f"第{i}段，原来的内容。" for i in range(200))
    new = "\n".join(f"第{i}段，修改后的内容，增加了船舶。" for i in range(200))
    shown = of_diff(diff_texts(old, new), limit=300)
    changed = sum(len(op.text) for hunk in shown.hunks for op in hunk if op.kind != "equal")
    assert changed <= 300 + 1  # the budget, plus the closing ellipsis
    assert shown.omitted > 2000
    composed = Composer().compose(_event(excerpt=shown))
    assert f"… and {shown.omitted} more changed characters not shown." in composed.text
    first = of_text("短文本", limit=300)
    assert first.omitted == 0 and first.hunks[0][0].text == "短文本"


def test_page_text_is_escaped_in_html_and_markdown() -> None:
    hostile = "<script>alert(1)</script> *bold* [link](http://evil)"
    old, new = "通知\n", f"通知\n{hostile}\n"
    composed = Composer("http://ui").compose(
        _event(page_title=hostile, excerpt=of_diff(diff_texts(old, new), 1000))
    )
    assert "<script>" not in composed.html and "&lt;script&gt;" in composed.html
    assert "[link](http://evil)" not in composed.markdown
    assert escape_markdown("*a* [b](c)") == r"\*a\* \[b\]\(c\)"
    assert "<script>" in composed.text  # plain text is shown as text, never rendered


def test_links_need_a_base_url() -> None:
    without = Composer().compose(_event())
    assert "/t/miit/diff" not in without.text
    with_ui = Composer("http://127.0.0.1:8080/").compose(_event())
    assert "http://127.0.0.1:8080/t/miit/diff?from=01A&to=01B" in with_ui.text


# --------------------------------------------------------------------------- events


def test_event_rules() -> None:
    base = _event()
    hit = (TermHits("shipbuilding", "船舶", "added", (1, 2)),)
    hits_rule, every = Rules("hits", False, 3), Rules("changes", False, 3)
    assert capture_events("changed", hits_rule, 0, base) == []
    assert [e.kind for e in capture_events("changed", hits_rule, 0, _event(hits=hit))] == [
        "changed"
    ]
    assert [e.kind for e in capture_events("changed", every, 0, base)] == ["changed"]
    assert capture_events("new", every, 0, base) == []
    assert [e.kind for e in capture_events("new", Rules("changes", True, 3), 0, base)] == ["new"]
    assert capture_events("unchanged", every, 0, base) == []
    # errors: once, on reaching the threshold; recovered only after that
    assert [len(error_events(every, before, base)) for before in range(5)] == [0, 0, 1, 0, 0]
    assert recovery_events(every, 2, base) == []
    (back,) = recovery_events(every, 4, base)
    assert back.kind == "recovered" and back.failures == 4
    assert [e.kind for e in capture_events("changed", every, 3, base)] == ["recovered", "changed"]


# --------------------------------------------------------------------------- helpers


def make_sender(store: Store, notifiers: Path, clock) -> Sender:
    return Sender(store.outbox, load_channels(notifiers), Composer(), clock=clock)


def run(coro):
    import asyncio

    return asyncio.run(coro)


class SlowMailbox(Mailbox):
    """Takes the message, then says 250 only once released: the sender is mid-send."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's name
        import asyncio

        self.envelopes.append(envelope)
        # the server's own event loop goes on meanwhile
        await asyncio.get_running_loop().run_in_executor(None, self.released.wait, PATIENCE)
        return "250 OK"


def test_a_pass_cut_off_mid_send_does_not_make_the_next_pass_send_again(site) -> None:
    """Shutdown cancels the sender's pass while a mail is on its way; the last pass
    that follows must not send that mail a second time."""
    import asyncio

    server, folder = site
    smtp = SMTP(free_port())
    smtp.mailbox = SlowMailbox()
    smtp.start()
    try:
        config = write_config(folder, server, [(smtp.url, "analysts")])
        cli(config, "check", "--no-notify")
        server.route("/n", body=HIT_PAGE.encode())
        with Store(config.parent / "snapshots") as store:
            # queue the alert without sending it: a check with channels but no time
            from watcher.alerts.alerter import Alerter
            from watcher.check.pages import Pages
            from watcher.check.run import run_once
            from watcher.config import load_config
            from watcher.fetch.client import Fetcher, FetchSettings
            from watcher.fetch.session import BrowserSession

            loaded = load_config(config)

            async def scenario() -> None:
                async with Fetcher(FetchSettings(host_delay=0)) as fetcher:
                    pages = Pages(fetcher, BrowserSession())
                    await run_once(loaded, store, pages, alerts=Alerter(Composer(), {}))
                sender = make_sender(store, folder / "notifiers", clock=lambda: datetime.now(UTC))
                first = asyncio.create_task(sender.deliver_due())
                await eventually(lambda: smtp.mailbox.envelopes, "the mail to reach the server")
                first.cancel()
                await asyncio.gather(first, return_exceptions=True)
                await sender.deliver_due()  # the last pass at shutdown, while the mail hangs
                smtp.mailbox.released.set()  # now the first send completes on its thread
                outbox = store.outbox
                await eventually(
                    lambda: [m.status for m in outbox.messages()] == ["sent"], "the send"
                )

            run(scenario())
        assert len(smtp.mailbox.envelopes) == 1
        (message,) = outbox_of(config)
        assert message["status"] == "sent"
    finally:
        smtp.stop()


def test_an_anti_bot_block_is_told_as_a_block_not_an_outage(site, smtp) -> None:
    server, folder = site
    config = write_config(folder, server, [(smtp.url, "analysts")], retries="0")
    cli(config, "check")
    challenge = (
        b"<html><script>document.cookie='__jsl_clearance=1';location.reload()</script></html>"
    )
    server.route("/n", status=521, body=challenge)
    for _ in range(3):
        cli(config, "check")
    (mail,) = smtp.mailbox.messages
    assert mail["Subject"] == "MIIT 通知公告 blocked by the site — 3 checks in a row"
    assert "This is a block, not a deletion" in mail.get_body(("plain",)).get_content()


def test_a_moved_paragraph_is_told_as_moved_not_as_added() -> None:
    old = "标题\n一、验收范围：船舶工业科研项目。\n二、联系人：李镕（综合处）。\n三、报送材料。\n"
    new = "标题\n二、联系人：李镕（综合处）。\n一、验收范围：船舶工业科研项目。\n三、报送材料。\n"
    diff = diff_texts(old, new)
    event = _event(
        added=diff.added, removed=diff.removed, moved=diff.moved, excerpt=of_diff(diff, 300)
    )
    composed = Composer().compose(event)
    assert composed.title == "MIIT 通知公告 changed (16 characters moved, none added or removed)"
    assert "+0 / −0 characters, 16 moved" in composed.text
    assert "(moved here) 一、验收范围：船舶工业科研项目。" in composed.text
    assert composed.text.count("{+") == 1  # only in the legend of the markers
    assert "<i>(moved here)</i> 一、验收范围：船舶工业科研项目。" in composed.html


# --------------------------------------------------------------------------- secrets

TOKEN = "Zq9 Tk-4f1c8e"  # apprise shows it percent-encoded: Zq9%20Tk-4f1c8e
SMTP_PASSWORD = "Pw-77-secret"


def secret_channels(folder: Path, server: HTTPServer, monkeypatch) -> Path:
    """The README's shape: a webhook whose token is in its path, and SMTP with a
    password, both from the environment, both failing (nothing listens there)."""
    monkeypatch.setenv("WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    dead = free_port()
    return write_config(
        folder,
        server,
        [
            (f"json://127.0.0.1:{dead}/hook/${{WEBHOOK_TOKEN}}", "analysts"),
            (
                f"mailtos://bob:${{SMTP_PASSWORD}}@127.0.0.1:{dead}?from=w@example.org"
                "&to=a@example.org",
                "analysts",
            ),
        ],
    )


def assert_no_secret(text: str, where: str) -> None:
    for secret in (TOKEN, "Zq9%20Tk-4f1c8e", "Zq9+Tk-4f1c8e", SMTP_PASSWORD):
        assert secret not in text, f"{secret!r} shown in {where}"


def test_a_token_from_the_environment_is_hidden_wherever_a_channel_is_named(
    site, monkeypatch
) -> None:
    server, folder = site
    config = secret_channels(folder, server, monkeypatch)
    names = [c.name for c in load_channels(folder / "notifiers").all]
    assert names[0].startswith("json://127.0.0.1:") and "/hook/${WEBHOOK_TOKEN}?" in names[0]
    assert "bob:" in names[1] and "@127.0.0.1:" in names[1]
    for name in names:
        assert_no_secret(name, "the channel's name")

    code, out = cli(config, "notify-test")
    assert code == 1 and out.count("failed     ") == 2 and "${WEBHOOK_TOKEN}" in out
    assert_no_secret(out, "notify-test")

    cli(config, "check")
    server.route("/n", body=HIT_PAGE.encode())
    code, out = cli(config, "-v", "check")  # the sender's log lines name the channels
    assert "failed (attempt 1" in out and "/hook/${WEBHOOK_TOKEN}" in out
    assert_no_secret(out, "the log")

    engine = index_engine(folder / "snapshots")
    with engine.connect() as conn:
        rows = [
            tuple(r) for r in conn.exec_driver_sql("SELECT channel_name, error FROM deliveries")
        ]
    engine.dispose()
    assert len(rows) == 2 and all(error for _, error in rows)
    assert_no_secret(repr(rows), "deliveries")

    (message,) = outbox_of(config)
    assert {c["channel"] for c in message["channels"]} == {n for n in names}
    assert_no_secret(json.dumps(message, ensure_ascii=False), "outbox --json")
    monkeypatch.setenv("COLUMNS", "400")  # the table whole, not cut to a terminal's width
    code, out = cli(config, "outbox")
    assert "${WEBHOOK_TOKEN}" in out
    assert_no_secret(out, "outbox")


def test_deliveries_recorded_with_the_token_in_clear_get_it_hidden(site, monkeypatch) -> None:
    server, folder = site
    config = secret_channels(folder, server, monkeypatch)
    cli(config, "check")
    server.route("/n", body=HIT_PAGE.encode())
    cli(config, "check")
    engine = index_engine(folder / "snapshots")
    clear = f"json://127.0.0.1:9/hook/{TOKEN}"  # as an older watcher recorded it
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE deliveries SET channel_name = :c, error = :e "
                "WHERE channel_name LIKE 'json:%'"
            ),
            {"c": clear, "e": f"cannot reach {clear}"},
        )
    engine.dispose()
    assert TOKEN in json.dumps(outbox_of(config), ensure_ascii=False)
    with Store(folder / "snapshots") as store:
        make_sender(store, folder / "notifiers", clock=lambda: datetime.now(UTC))
    text = json.dumps(outbox_of(config), ensure_ascii=False)
    assert "${WEBHOOK_TOKEN}" in text
    assert_no_secret(text, "outbox --json")


def test_every_form_of_a_substituted_value_is_hidden() -> None:
    secrets = Secrets({"TOKEN": "a b/c+d", "EMPTY": "", "PORT": "587"})
    shown = "x://h:587/a%20b%2Fc%2Bd/a b/c+d/a+b%2Fc%2Bd/a%20b/c%2Bd"
    assert secrets.hide(shown) == "x://h:${PORT}/" + "/".join(["${TOKEN}"] * 4)
    assert Secrets().hide("nothing to hide") == "nothing to hide"


# --------------------------------------------------------------------------- SMTP answers


class Refusing(Mailbox):
    """Answers every RCPT TO with ``reply`` (or DATA, with ``at="DATA"``); counts tries."""

    def __init__(self, reply: str, at: str) -> None:
        super().__init__()
        self.reply, self.at, self.tries = reply, at, 0

    async def handle_RCPT(self, server, session, envelope, address, options) -> str:
        self.tries += 1
        if self.at == "RCPT":
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        return self.reply


@pytest.mark.parametrize(
    ("reply", "at"),
    [
        ("550 5.1.1 <analyst@example.org>: mailbox unavailable", "RCPT"),
        ("553 5.7.1 sender address rejected", "RCPT"),
        ("554 5.7.1 message refused as spam", "DATA"),
    ],
)
def test_a_permanent_smtp_refusal_fails_at_once_with_the_servers_words(site, reply, at) -> None:
    server, folder = site
    smtp = SMTP(free_port())
    smtp.mailbox = Refusing(reply, at)
    smtp.start()
    try:
        config = write_config(folder, server, [(smtp.url, "analysts")])
        cli(config, "check")
        server.route("/n", body=HIT_PAGE.encode())
        cli(config, "check")
        with Store(config.parent / "snapshots") as store:
            later = datetime.now(UTC) + timedelta(hours=1)  # past any retry's wait
            run(make_sender(store, folder / "notifiers", clock=lambda: later).deliver_due())
    finally:
        smtp.stop()
    assert smtp.mailbox.tries == 1  # never tried again
    (message,) = outbox_of(config)
    (channel,) = message["channels"]
    assert message["status"] == "failed" and channel["status"] == "failed"
    assert channel["attempts"] == 1
    assert channel["error"] == f"SMTP {reply} (a permanent refusal: not tried again)"
    assert message["error"] == channel["error"]
    code, shown = cli(config, "outbox")
    assert code == 0 and f"SMTP {reply.split()[0]}" in shown


@pytest.mark.parametrize("reply", ["451 4.3.0 try again later", "421 4.7.0 too busy"])
def test_a_temporary_smtp_refusal_keeps_the_retry_schedule(site, reply) -> None:
    server, folder = site
    smtp = SMTP(free_port())
    smtp.mailbox = Refusing(reply, "RCPT")
    smtp.start()
    try:
        config = write_config(folder, server, [(smtp.url, "analysts")])
        cli(config, "check")
        server.route("/n", body=HIT_PAGE.encode())
        cli(config, "check")
        (message,) = outbox_of(config)
        assert message["status"] == "pending"
        assert message["channels"][0]["error"] == f"SMTP {reply}"
        with Store(config.parent / "snapshots") as store:
            later = datetime.now(UTC) + timedelta(minutes=5)  # past the first retry's wait
            run(make_sender(store, folder / "notifiers", clock=lambda: later).deliver_due())
    finally:
        smtp.stop()
    assert smtp.mailbox.tries == 2
    (message,) = outbox_of(config)
    assert message["status"] == "pending" and message["channels"][0]["attempts"] == 2


class DropsAfterData(Mailbox):
    """Keeps the whole message, then cuts the connection instead of answering."""

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        server.transport.abort()
        return "250 OK"  # never reaches the client


def test_a_server_dropping_after_data_gets_each_message_once_marked_unconfirmed(site) -> None:
    """9 alerts, a server that keeps each one and drops the connection before its
    verdict: every retry would be a second copy. Each arrives once, and the outbox
    says it may have arrived."""
    server, folder = site
    smtp = SMTP(free_port())
    smtp.mailbox = DropsAfterData()
    smtp.start()
    try:
        config = write_config(folder, server, [(smtp.url, "analysts")])
        with Store(config.parent / "snapshots") as store:
            start = datetime.now(UTC)
            store.outbox.queue(
                [
                    NewMessage(
                        "changed",
                        "miit",
                        None,
                        ("analysts",),
                        f"通知 {n}",
                        "正文",
                        "<p>正文</p>",
                        "正文",
                        start,
                    )
                    for n in range(9)
                ]
            )
            channels = load_channels(folder / "notifiers")
            for channel in channels.all:
                channel.service.request_rate_per_sec = 0  # apprise's 5.5 s between emails
            for hour in range(60):  # the whole retry schedule, and past outbox_max_age
                later = start + timedelta(hours=hour)
                sender = Sender(store.outbox, channels, Composer(), clock=lambda t=later: t)
                run(sender.deliver_due())
    finally:
        smtp.stop()
    copies = len(smtp.mailbox.envelopes)
    print(f"copies received of 9 messages: {copies}")
    assert sorted(m["Subject"] for m in smtp.mailbox.messages) == [f"通知 {n}" for n in range(9)]
    shown = outbox_of(config)
    assert [m["status"] for m in shown] == ["unconfirmed"] * 9
    assert {c["status"] for m in shown for c in m["channels"]} == {"unconfirmed"}
    assert "may have arrived" in shown[0]["error"]
    code, table = cli(config, "outbox")
    assert code == 0 and table.count("unconfirmed") >= 9 and "9 unconfirmed" in table


def test_a_server_silent_after_the_whole_message_leaves_it_unconfirmed(site) -> None:
    """The reply to the message never comes within send_timeout: it may have arrived."""
    server, folder = site
    smtp = SMTP(free_port())
    smtp.mailbox = SlowMailbox()
    smtp.start()
    try:
        config = write_config(folder, server, [(smtp.url, "analysts")])
        with Store(config.parent / "snapshots") as store:
            now = datetime.now(UTC)
            store.outbox.queue(
                [
                    NewMessage(
                        "changed", "miit", None, ("analysts",), "通知", "正文", "正文", "正文", now
                    )
                ]
            )
            channels = load_channels(folder / "notifiers")
            sender = Sender(store.outbox, channels, Composer(), send_timeout=0.5, clock=lambda: now)
            run(sender.deliver_due())
            later = now + timedelta(hours=1)
            run(Sender(store.outbox, channels, Composer(), clock=lambda: later).deliver_due())
    finally:
        smtp.mailbox.released.set()
        smtp.stop()
    assert len(smtp.mailbox.envelopes) == 1
    (message,) = outbox_of(config)
    assert message["status"] == "unconfirmed"
    assert "timed out" in message["error"] and "may have arrived" in message["error"]
