"""The wizard's step 3: a plain-text version of a sending's HTML body.

A small converter on the standard library's HTMLParser: it only reads text, so nothing in
the HTML (scripts, styles, event handlers) can run or leak into the result. Blocks become
paragraphs, `<br>` a line break, list items "- item", and links "text (url)" so a reader of
the text version can still follow them. `{{ name }}` placeholders are text and survive as is.
"""

import re
from html.parser import HTMLParser

BLOCKS = {
    "address", "article", "aside", "blockquote", "div", "footer", "form", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "hr", "main", "nav", "ol", "p", "pre", "section", "table",
    "tr", "ul",
}  # fmt: skip
SKIPPED = {"script", "style", "head", "title", "template", "noscript"}
LINK_SCHEMES = ("http://", "https://", "mailto:")


class _TextParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.links: list[tuple[str, int]] = []  # (href, index of the first part of its text)

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED:
            self.skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag in BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            self.links.append((href, len(self.parts)))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self.parts.append(alt)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in SKIPPED:
            self.skipping -= 1

    def handle_endtag(self, tag):
        if tag in SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            text = " ".join("".join(self.parts[start:]).split())
            if href.lower().startswith(LINK_SCHEMES) and href != text:
                shown = href.removeprefix("mailto:") if href.lower().startswith("mailto:") else href
                self.parts.append(f" ({shown})" if text else shown)

    def handle_data(self, data):
        if not self.skipping:
            # Whitespace in HTML source is not layout: runs of it are one space.
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable plain text for `html`: paragraphs separated by one blank line, links kept."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
