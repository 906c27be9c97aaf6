"""Main text of an HTML page: a forgiving element tree, boilerplate removed, link lists dropped.

:func:`parse_html` gives ``(title, main text, hrefs)``. The tree builder tolerates broken HTML
(implied ``</p>``/``</li>``/``</td>``..., unknown end tags ignored, nesting deeper than
``MAX_TREE_DEPTH`` flattened); every ``<a href>`` is collected in document order, boilerplate
included (navigation links are still followed). The main text is extracted with boilerplate
removed: elements by tag (nav, header, footer, aside, script, style, form, ...), by ``role``, by
``hidden``/``display:none``, and by class or id words (nav, menu, footer, sidebar, cookie, banner,
comment(s), advert/ads, share, related, breadcrumb, subscribe, ...; not when a content word such as
article or content is there too), then every run of inline text between block boundaries whose
characters are mostly link text (``LINK_DENSITY_MAX``) is dropped (link lists, "related" rows), and
so is a block that is mostly links with little text of its own (``LINK_BLOCK_OWN_TEXT``).

Pure functions: read and write nothing.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from schemas.columns import SOURCE

LINK_DENSITY_MAX = 0.6  # a run of text whose non-space characters are more than this share link text is dropped
LINK_BLOCK_OWN_TEXT = 200  # ... and so is a whole block (its heading too) with fewer non-link characters than this

BOILERPLATE = {"script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template", "svg", "button"}
BOILERPLATE_WORDS = {
    "nav",
    "navbar",
    "navigation",
    "menu",
    "menubar",
    "footer",
    "sidebar",
    "cookie",
    "cookies",
    "consent",
    "banner",
    "comment",
    "comments",
    "advert",
    "adverts",
    "advertisement",
    "ad",
    "ads",
    "sponsored",
    "share",
    "sharing",
    "social",
    "related",
    "breadcrumb",
    "breadcrumbs",
    "subscribe",
    "newsletter",
    "popup",
    "modal",
}
# a class or id with one of these words is content even when it also has a boilerplate word ("article-comments")
CONTENT_WORDS = {"article", "content", "main", "story", "entry", "post", "body", "text"}
BOILERPLATE_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "dialog"}
CONTAINERS = {"#root", "html", "body", "main", "article"}  # never dropped by class, id or link density
BLOCK = {
    "address",
    "article",
    "blockquote",
    "body",
    "br",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "hr",
    "html",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", SOURCE, "track", "wbr"}
# a start tag of one of these closes an open <p> (HTML's implied end tags, simplified)
CLOSES_P = BLOCK - {"br", "body", "html", "head", "td", "th", "tr", "tbody", "thead", "tfoot", "dd", "dt", "li"}
SIBLINGS = {"p": {"p"}, "li": {"li"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}, "tr": {"tr"}, "td": {"td", "th"}}
SIBLINGS["th"] = SIBLINGS["td"]
MAX_TREE_DEPTH = 128  # deeper nesting (broken HTML) is flattened, which keeps the walks within Python's recursion limit
_WORDS = re.compile(r"[^a-z0-9]+")
_SPACE = re.compile(r"\s+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")


class _Node:
    """An element of the page: tag, attributes, children (elements and text); sizes filled by ``_measure``."""

    __slots__ = ("attrs", "boilerplate", "chars", "children", "has_block", "link_chars", "tag")

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag, self.attrs = tag, attrs
        self.children: list[_Node | str] = []
        self.chars = self.link_chars = 0
        self.has_block = self.boilerplate = False


class _TreeBuilder(HTMLParser):
    """A forgiving element tree (implied ``</p>``/``</li>``/``</td>``..., unknown end tags ignored), the title
    and every ``<a href>`` in document order (boilerplate included: navigation links are still followed)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", {})
        self.stack = [self.root]
        self.title: list[str] = []
        self.links: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self._in_title = False  # a title holds text only: a tag ends one left unclosed
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "title":
            self._in_title = not self.title  # the first title only (an <svg> may have its own)
            return
        top = self.stack[-1].tag
        if len(self.stack) > 1 and ((top == "p" and tag in CLOSES_P) or top in SIBLINGS.get(tag, ())):
            self.stack.pop()
        node = _Node(tag, a)
        self.stack[-1].children.append(node)
        if tag not in VOID and len(self.stack) < MAX_TREE_DEPTH:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        (self.title if self._in_title else self.stack[-1].children).append(data)


def is_boilerplate(tag: str, attrs: dict[str, str]) -> bool:
    """Dropped whole: a boilerplate tag, a hidden element, a boilerplate role, or a class/id word such as
    sidebar, cookie, comments (unless a content word such as article or content is there too)."""
    if tag in BOILERPLATE:
        return True
    if tag in CONTAINERS:
        return False
    if "hidden" in attrs or _HIDDEN_STYLE.search(attrs.get("style", "").lower()):
        return True
    if attrs.get("role", "").strip().lower() in BOILERPLATE_ROLES:
        return True
    words = set(_WORDS.split(f"{attrs.get('class', '')} {attrs.get('id', '')}".lower()))
    return bool(words & BOILERPLATE_WORDS) and not words & CONTENT_WORDS


def _chars(text: str) -> int:
    return len(text) - sum(text.count(c) for c in " \t\n\r\f\v\xa0")


def _measure(node: _Node, in_link: bool = False) -> None:
    """Fill non-space characters, those inside links and whether a block is inside, boilerplate skipped."""
    node.boilerplate = is_boilerplate(node.tag, node.attrs)
    if node.boilerplate:
        return
    in_link = in_link or node.tag == "a"
    for child in node.children:
        if isinstance(child, str):
            n = _chars(child)
            node.chars += n
            node.link_chars += n if in_link else 0
            continue
        _measure(child, in_link)
        if child.boilerplate:
            continue
        node.chars += child.chars
        node.link_chars += child.link_chars
        node.has_block = node.has_block or child.has_block or child.tag in BLOCK


def _render(node: _Node, out: list[str], in_link: bool = False) -> None:
    """Blocks as lines; link-heavy blocks dropped, and each run of inline content between block boundaries
    kept unless link-heavy."""
    in_link = in_link or node.tag == "a"
    run: list[_Node | str] = []

    def flush() -> None:
        chars = links = 0
        for x in run:
            n = _chars(x) if isinstance(x, str) else x.chars
            chars += n
            if in_link:
                links += n
            elif not isinstance(x, str):
                links += x.link_chars
        if run and not (chars and links > LINK_DENSITY_MAX * chars):
            for x in run:
                _inline(x, out)
        run.clear()

    for child in node.children:
        if isinstance(child, str) or not (child.boilerplate or child.tag in BLOCK or child.has_block):
            run.append(child)
        elif not (child.boilerplate or _link_block(child)):
            flush()
            out.append("\n")
            _render(child, out, in_link)
            out.append("\n")
    flush()


def _link_block(node: _Node) -> bool:
    """A block that is mostly links with little text of its own ("More stories" and a list of links)."""
    own = node.chars - node.link_chars
    return node.tag not in CONTAINERS and node.link_chars > LINK_DENSITY_MAX * node.chars and own < LINK_BLOCK_OWN_TEXT


def _inline(item: _Node | str, out: list[str]) -> None:
    if isinstance(item, str):
        out.append(item)
        return
    for child in item.children:
        if isinstance(child, str) or not child.boilerplate:
            _inline(child, out)


def parse_html(html_text: str) -> tuple[str, str, list[str]]:
    """(title, main text, hrefs). Tolerates broken HTML: whatever parses is kept."""
    p = _TreeBuilder()
    try:
        p.feed(html_text)
        p.close()
    except Exception:  # noqa: BLE001 - html.parser rarely raises; a broken page keeps what was read
        pass
    _measure(p.root)
    chunks: list[str] = []
    _render(p.root, chunks)
    lines = (_SPACE.sub(" ", line).strip() for line in "".join(chunks).split("\n"))
    text = "\n".join(line for line in lines if line)
    return _SPACE.sub(" ", "".join(p.title)).strip(), text, p.links
