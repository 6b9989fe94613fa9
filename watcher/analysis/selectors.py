"""Where on a page a change sits: ``exclude`` selectors for the smallest elements
whose text differs between two versions.

A footer's copyright year or a sidebar's visit counter is noise best cut out of
the page by a selector (``exclude: ["#footer"]``), so a rule offered for a change
names that element: by its id, else by a class no other element of the page has,
present in both versions (a selector that matches something else tomorrow is no
rule).
"""

from __future__ import annotations

import re

from lxml import etree

from watcher.analysis.extract import check_selector

__all__ = ["changed_selectors"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")  # plain CSS identifiers only
_NOT_TEXT = ("script", "style", "noscript", "template", "head", "title")
_MAX_SELECTORS = 5


def changed_selectors(old_html: str, new_html: str) -> list[str]:
    """``#id`` or ``.class`` selectors of the smallest elements, addressable the same
    way in both versions, whose text differs; the smallest first."""
    old_root, new_root = _parse(old_html), _parse(new_html)
    if old_root is None or new_root is None:
        return []
    old_named, new_named = _addressable(old_root), _addressable(new_root)
    differing = {
        selector: element
        for selector, element in new_named.items()
        if selector in old_named and _text(old_named[selector]) != _text(element)
    }
    elements = set(differing.values())
    smallest: list[tuple[int, str]] = []
    chosen: set[etree._Element] = set()
    for selector, element in differing.items():
        inner = any(e is not element and element in e.iterancestors() for e in elements)
        if inner or element in chosen:  # an ancestor of a differing one, or named already
            continue
        chosen.add(element)
        smallest.append((len(_text(element)), selector))
    smallest.sort()
    return [selector for _, selector in smallest[:_MAX_SELECTORS]]


def _parse(html: str) -> etree._Element | None:
    if not html.strip():
        return None
    parser = etree.HTMLParser(remove_comments=True, no_network=True, huge_tree=True)
    try:
        root = etree.fromstring(html.encode("utf-8", "replace"), parser)
    except etree.XMLSyntaxError:
        return None
    if root is not None:
        etree.strip_elements(root, *_NOT_TEXT, with_tail=False)
    return root


def _addressable(root: etree._Element) -> dict[str, etree._Element]:
    """Selector → element, for ids and classes that name one element of the page;
    an element's id comes before its classes (dict order: the preferred first)."""
    ids: dict[str, list[etree._Element]] = {}
    classes: dict[str, list[etree._Element]] = {}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = element.get("id")
        if name and _NAME.fullmatch(name):
            ids.setdefault(name, []).append(element)
        for token in (element.get("class") or "").split():
            if _NAME.fullmatch(token):
                classes.setdefault(token, []).append(element)
    found: dict[str, etree._Element] = {}
    named: set[etree._Element] = set()
    for name, elements in ids.items():
        if len(elements) == 1:
            found[f"#{name}"] = elements[0]
            named.add(elements[0])
    for token, elements in classes.items():
        if len(elements) == 1 and elements[0] not in named:
            found[f".{token}"] = elements[0]
    for selector in list(found):
        try:
            check_selector(selector)
        except ValueError:
            del found[selector]
    return found


def _text(element: etree._Element) -> str:
    """The element's text without any whitespace: layout is never the change."""
    return "".join("".join(element.itertext()).split())
