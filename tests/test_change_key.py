"""An edit's grouping key: the same edit on many pages is one inbox item, and two
different edits that add and remove the same characters are not."""

from __future__ import annotations

from watcher.analysis.analyse import change_key
from watcher.diff.ops import diff_texts


def key(old: str, new: str) -> str | None:
    return change_key(diff_texts(old, new))


def test_the_same_footer_edit_on_two_sites_has_one_key() -> None:
    a = key("工信部通知\n正文一\n浙ICP备04000001号\n", "工信部通知\n正文一\n浙ICP备04000002号\n")
    b = key("科工局要闻\n正文二\n浙ICP备04000001号\n", "科工局要闻\n正文二\n浙ICP备04000002号\n")
    assert a is not None and a == b


def test_a_counter_and_an_icp_number_with_the_same_digit_changed_differ() -> None:
    counter = key("首页\n浏览次数：101\n正文\n", "首页\n浏览次数：102\n正文\n")
    icp = key("网站\n浙ICP备04000001号\n", "网站\n浙ICP备04000002号\n")
    assert counter and icp and counter != icp


def test_spaces_do_not_split_a_group_and_no_edit_has_no_key() -> None:
    plain = key("通知\n截止日期：5月1日\n", "通知\n截止日期：6月1日\n")
    spaced = key("公告\n截止日期： 5月1日\n", "公告\n截止日期： 6月1日\n")
    assert plain == spaced
    assert key("同一页\n", "同一页\n") is None
