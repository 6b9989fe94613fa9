import json

from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.diff import render
from watcher.diff.ops import diff_texts, split_lines

CJK = st.text(
    alphabet=st.sampled_from(list("船舶国防科工局通知发布的一是在\n abc，。　")), max_size=200
)


@given(CJK, CJK)
@settings(max_examples=300, deadline=None)
def test_ops_rebuild_both_texts(old: str, new: str) -> None:
    d = diff_texts(old, new)
    assert d.old_text() == old
    assert d.new_text() == new


@given(st.text(max_size=300), st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_ops_rebuild_any_unicode(old: str, new: str) -> None:
    d = diff_texts(old, new)
    assert (d.old_text(), d.new_text()) == (old, new)
    assert d.changed == (old != new)


def test_one_cjk_character_edit_is_one_character() -> None:
    old = "第一行\n今年船只建造加快。\n第三行"
    new = "第一行\n今年船舶建造加快。\n第三行"
    d = diff_texts(old, new)
    assert (d.added, d.removed) == (1, 1)
    changed = [op for op in d.ops if op.kind != "equal"]
    assert [(op.kind, op.text) for op in changed] == [("delete", "只"), ("insert", "舶")]


def test_counts_ignore_newlines() -> None:
    d = diff_texts("a", "a\n新增")
    assert (d.added, d.removed) == (2, 0)


def test_time_budget_is_recorded_and_result_still_correct() -> None:
    import random

    rng = random.Random(3)
    alphabet = "的一是在不了有和人这中大为上个国我以要他时来用们生到"
    old = "\n".join("".join(rng.choice(alphabet) for _ in range(2000)) for _ in range(30))
    new = "\n".join("".join(rng.choice(alphabet) for _ in range(2000)) for _ in range(30))
    d = diff_texts(old, new, timeout=0.001)
    assert d.timed_out
    assert (d.old_text(), d.new_text()) == (old, new)


def test_split_lines_keeps_text() -> None:
    for text in ["", "a", "a\n", "a\nb", "\n\n"]:
        assert "".join(split_lines(text)) == text


def test_text_renderer_marks_characters_and_folds() -> None:
    old = "\n".join(f"行{i}" for i in range(20)) + "\n船只"
    new = "\n".join(f"行{i}" for i in range(20)) + "\n船舶"
    out = render.to_text(diff_texts(old, new), old_label="a", new_label="b")
    assert "-    21 船[-只-]" in out
    assert "+    21 船{+舶+}" in out
    assert "@@ 17 unchanged lines @@" in out
    assert "1 characters added, 1 removed" in out


def test_html_renderers_escape_page_text() -> None:
    d = diff_texts("<b>x</b>", "<script>alert(1)</script>")
    for html in (render.to_html_inline(d), render.to_html_side_by_side(d)):
        assert "<script>" not in html
        assert "script&gt;alert(1)&lt;/script" in html
        assert "<ins>" in html and "<del>" in html


def test_side_by_side_aligns_changed_lines() -> None:
    d = diff_texts("同\n旧行", "同\n新行")
    html = render.to_html_side_by_side(d)
    assert '<td class="old"><del>旧</del>行</td>' in html
    assert '<td class="new"><ins>新</ins>行</td>' in html


def test_json_renderer_has_counts_and_change_ops() -> None:
    payload = render.to_json(diff_texts("甲\n乙", "甲\n丙"))
    assert payload["added"] == 1 and payload["removed"] == 1
    change = [b for b in payload["blocks"] if b["kind"] == "change"]
    assert change == [
        {
            "kind": "change",
            "old": [2, 2],
            "new": [2, 2],
            "ops": [["delete", "乙"], ["insert", "丙"]],
        }
    ]
    json.dumps(payload)
