import json
import random
import time

from govpages import CMSE, swap_paragraphs
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.analysis.extract import extract_with_report
from watcher.diff import excerpt, moves, render
from watcher.diff.moves import find_moves
from watcher.diff.ops import Op, diff_texts, split_lines

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


def _scattered(lines: int, seed: int) -> tuple[str, str]:
    """A page of ``lines`` short lines and a copy with one character in 3% of them
    replaced: nearly every stretch between unchanged lines changed."""
    rng = random.Random(seed)
    alphabet = "的一是在不了有和人这中大为上个国我以要他时来用们生到"
    rows = [f"第{i}条" + "".join(rng.choice(alphabet) for _ in range(30)) for i in range(lines)]
    edited = list(rows)
    for i in rng.sample(range(lines), lines * 3 // 100):
        k = rng.randrange(3, len(rows[i]))
        edited[i] = rows[i][:k] + ("船" if rows[i][k] != "船" else "舶") + rows[i][k + 1 :]
    return "\n".join(rows), "\n".join(edited)


def test_a_long_page_is_diffed_between_its_unique_lines_as_exactly(monkeypatch) -> None:
    from watcher.diff import ops

    old, new = _scattered(5000, 11)
    chains = []
    anchors = ops._anchors
    monkeypatch.setattr(ops, "_anchors", lambda a, b: chains.append(anchors(a, b)) or chains[-1])
    anchored = diff_texts(old, new, timeout=0)
    assert len(chains) == 1 and len(chains[0]) == 5000 - 150  # every unchanged line
    monkeypatch.setattr(ops, "ANCHORED_LINES", 10**9)  # the engine's one diff of all lines
    plain = diff_texts(old, new, timeout=0)
    assert (anchored.old_text(), anchored.new_text()) == (old, new)
    assert (anchored.added, anchored.removed) == (plain.added, plain.removed) == (150, 150)
    assert not anchored.timed_out and not anchored.moves


def test_anchors_are_the_longest_chain_of_lines_unique_on_both_sides() -> None:
    from watcher.diff.ops import _anchors

    # x repeats on the old side, y on the new one: neither anchors; b crosses c, d, e
    assert _anchors("abxcxde", "aycdyeb") == [(0, 0), (3, 2), (5, 3), (6, 5)]
    assert _anchors("", "abc") == []
    assert _anchors("abc", "cba") in ([(0, 2)], [(1, 1)], [(2, 0)])


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
    assert (
        '<td class="new"><span class="edit-anchor" id="edit-2"></span><ins>新</ins>行</td>' in html
    )


def test_small_edits_are_listed_with_anchors_and_rewrites_are_not() -> None:
    old = "\n".join(["标题", "各单位：请于本月底前提出意见。", "旧的一段", "联系人：张三"])
    new = "\n".join(
        ["标题", "各单位：请于本月底前交出意见。", "完全不同的新段落内容", "联系人：张三"]
    )
    d = diff_texts(old, new)
    edits, total = render.small_edits(d)
    assert [(e.label, e.line, e.anchor) for e in edits] == [("提→交", 2, "edit-2")]
    assert total == 1
    for html in (render.to_html_inline(d), render.to_html_side_by_side(d)):
        assert html.count('id="edit-2"') == 1 and "edit-3" not in html
        assert "<del>提</del>" in html and "<ins>交</ins>" in html  # marked hard: no class
        assert '<ins class="whole">' in html  # the rewritten line: shaded, not shouted
    many, total = render.small_edits(diff_texts("甲乙\n" * 30, "甲丙\n" * 30), limit=10)
    assert len(many) == 10 and total == 30


def test_folds_carry_their_lines_escaped_to_expand() -> None:
    lines = [f"第{i}行 <img src=x onerror=alert({i})>" for i in range(12)]
    d = diff_texts("\n".join([*lines, "旧"]), "\n".join([*lines, "新"]))
    inline = render.to_html_inline(d, context=2)
    assert '<details class="fold"><summary>10 unchanged lines</summary>' in inline
    assert "<img" not in inline and "第0行 &lt;img src=x onerror=alert(0)&gt;" in inline
    side = render.to_html_side_by_side(d, context=2)
    assert "<details><summary>10 unchanged lines</summary>" in side
    assert '<td class="ln">10</td><td class="old">第9行 &lt;img' in side and "<img" not in side
    assert "@@ 10 unchanged lines @@" in render.to_text(d, context=2)


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


# -- moves ----------------------------------------------------------------------------------


def page_text(html: str) -> str:
    return extract_with_report(html, "http://127.0.0.1/")[0].text


def cmse_texts() -> tuple[str, str]:
    html = CMSE.read_text("utf-8")
    swapped = swap_paragraphs(html, "中国运载火箭技术研究院负责", "随着空间站工程规模")
    return page_text(html), page_text(swapped)


def test_two_swapped_paragraphs_of_a_real_page_are_a_move_not_delete_and_add() -> None:
    old, new = cmse_texts()
    d = diff_texts(old, new)
    assert (d.old_text(), d.new_text()) == (old, new)
    assert (d.added, d.removed) == (0, 0)  # was 729 added, 729 removed
    assert len(d.moves) == 2  # both swapped blocks moved: the text between them is longer
    chars = 0
    for move in d.moves:
        moved = "".join(split_lines(old)[move.old_start : move.old_end])
        assert moved == "".join(split_lines(new)[move.new_start : move.new_end])
        assert move.chars == len(moved) - moved.count("\n") and not move.edited
        chars += move.chars
    assert d.moved == chars == 731
    assert d.changed
    kinds = {op.kind for op in d.ops}
    assert kinds == {"equal", "move_out", "move_in"}


def test_a_moved_paragraph_with_a_small_edit_is_a_move_plus_that_edit() -> None:
    old, new = cmse_texts()
    edited = new.replace("随着空间站工程规模越来越大", "随着空间站工程的规模越来越大", 1)
    d = diff_texts(old, edited)
    assert (d.old_text(), d.new_text()) == (old, edited)
    assert (d.added, d.removed) == (1, 0)
    assert sorted(m.edited for m in d.moves) == [False, True]
    inserted = [op.text for op in d.ops if op.kind == "insert"]
    assert inserted == ["的"]


def test_a_block_equal_but_for_whitespace_is_a_move() -> None:
    lines = [f"第{i}条　本办法所称船舶工业科研项目，是指第{i}类项目。\n" for i in range(6)]
    old = "".join(lines)
    new = "".join([lines[0], lines[3], lines[1], lines[2].replace("　", "  "), *lines[4:]])
    d = diff_texts(old, new)
    assert (d.old_text(), d.new_text()) == (old, new)
    assert d.moves and d.moved >= 2 * 20
    assert d.removed <= 1 and d.added <= 2  # only the whitespace edit itself


def test_short_and_same_region_lines_are_not_moves() -> None:
    # a whitespace edit in place is an edit, and a block shorter than MIN_CHARS never moves
    assert not diff_texts("　　一、验收范围。\n", "一、验收范围。\n").moves
    assert not diff_texts("甲\n乙\n丙\n", "丙\n乙\n甲\n").moves


def test_moves_in_every_renderer() -> None:
    old, new = cmse_texts()
    d = diff_texts(old, new)
    move = d.moves[0]
    text = render.to_text(d)
    assert (move.old_start, move.old_end, move.new_start, move.new_end) == (59, 65, 69, 75)
    assert "@@ move 1: moved to lines 70–75 @@\n<    60 空间站系统研制工作有序推进\n" in text
    assert "@@ move 1: moved from lines 60–65 @@\n>    70 空间站系统研制工作有序推进\n" in text
    assert "@@ move 2: moved from lines 72–75 @@\n>    60 科技人员巡视检查" in text
    assert text.endswith("0 characters added, 0 removed, 731 moved\n")
    assert "[-" not in text and "{+" not in text
    for html in (render.to_html_inline(d), render.to_html_side_by_side(d)):
        assert "<ins>" not in html and "<del>" not in html
        assert 'id="move-1-out" href="#move-1-in">↷ moved to lines 70–75</a>' in html
        assert 'id="move-1-in" href="#move-1-out">↶ moved from lines 60–65</a>' in html
    payload = render.to_json(d)
    assert (payload["added"], payload["removed"], payload["moved"]) == (0, 0, d.moved)
    assert payload["moves"][0] == {
        "old": [move.old_start + 1, move.old_end],
        "new": [move.new_start + 1, move.new_end],
        "chars": move.chars,
        "edited": False,
    }
    moved_blocks = [b for b in payload["blocks"] if b["kind"] == "move"]
    assert sorted(b["ops"][0][0] for b in moved_blocks) == ["move_in"] * 2 + ["move_out"] * 2
    json.dumps(payload)


def test_an_alert_excerpt_of_a_move_shows_it_moved_and_spends_no_budget() -> None:
    old, new = cmse_texts()
    shown = excerpt.of_diff(diff_texts(old, new), limit=10)
    assert shown.omitted == 0
    assert shown.hunks == (
        (Op("move_in", "科技人员巡视检查空间站环控生保综合性能试验验证平台…"),),
        (Op("move_in", "空间站系统研制工作有序推进…"),),
    )


def hostile_lines(rng: random.Random) -> tuple[str, str]:
    """Thousands of identical lines and thousands of short lines, shuffled."""
    same = ["——————————————————\n"] * 3000
    short = [f"第{i:04d}项目名称\n" for i in range(3000)]
    old = "".join(same + short)
    rng.shuffle(short)
    return old, "".join(short + same)


def test_move_search_is_bounded_on_hostile_pages() -> None:
    old, new = hostile_lines(random.Random(5))
    old_lines, new_lines = split_lines(old), split_lines(new)
    # the worst split: every line its own region, so every pair is a candidate move
    n = min(len(old_lines), len(new_lines))
    regions = [(i, i + 1, i, i + 1) for i in range(n)]
    search = find_moves(old_lines, new_lines, regions)
    changed = 2 * n
    assert search.comparisons <= moves.WORK_BASE + moves.WORK_PER_LINE * changed
    assert search.comparisons <= 4 * changed  # and far below it in fact: linear
    # lines repeated more than MAX_SHARED times anchor nothing; the unique ones move
    assert search.matches
    assert all(old_lines[m.old_start].startswith("第") for m in search.matches)
    d = diff_texts(old, new, timeout=0)
    assert (d.old_text(), d.new_text()) == (old, new)


def test_the_move_search_stops_at_its_budget() -> None:
    lines = [f"第{i:05d}条　项目名称与内容说明\n" for i in range(4000)]
    old_lines, new_lines = lines, lines[2000:] + lines[:2000]
    regions = [(i, i + 1, i, i + 1) for i in range(4000)]
    full = find_moves(old_lines, new_lines, regions)
    assert not full.exhausted and full.matches
    cut = find_moves(old_lines, new_lines, regions, deadline=time.perf_counter() - 1)
    assert cut.exhausted and cut.comparisons <= 256


def test_a_long_unchanged_stretch_carries_its_first_lines_and_says_how_many_more() -> None:
    old = "\n".join(f"第{i}行" for i in range(render.FOLD_SHOWN + 500)) + "\n结尾"
    new = old.replace("结尾", "结束")
    fold = next(r for r in render.rows(diff_texts(old, new)) if r.kind == "fold")
    assert fold.folded == render.FOLD_SHOWN + 500 - 3 and len(fold.hidden) == render.FOLD_SHOWN
    html = render.to_html_inline(diff_texts(old, new))
    assert "… 497 more unchanged lines: the capture has them" in html
    assert f">第{render.FOLD_SHOWN - 1}行<" in html and f">第{render.FOLD_SHOWN}行<" not in html
    assert render.small_edits(diff_texts(old, new)) == ([render.Edit("尾", "束", 2501)], 1)
