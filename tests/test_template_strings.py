"""Every user-visible string in templates/ is marked for translation.

The scan reads each template with Django's own Lexer, so template syntax is never guessed at:
text inside {% translate %} / {% blocktranslate %} and comments is dropped, variables become a
placeholder without letters, other tags become a space. What is left is plain HTML, read with
the standard library's HTMLParser: every text node, and every attribute a person reads or hears
(aria-label, title, placeholder, alt, a submit button's value), must then hold no word.
"""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

VARIABLE = "\x01"  # what a {{ variable }} leaves: no letters, so "{{ name }}" alone passes
TRANSLATED = "\x02"  # what a translated string leaves

READ_ATTRIBUTES = {"aria-label", "title", "placeholder", "alt"}
# Blocks whose content goes into an attribute that is not read (the <body> class).
ATTRIBUTE_BLOCKS = {"body_class"}

# Text that is the same in every language. Kept short: each entry says why it may stay.
ALLOWED = {
    "CSV",  # a file format's name, on the per-batch export button
}

# A literal a filter prints, e.g. {{ name|default:"Unknown" }}: text too, where it lands.
PRINTED_LITERAL = re.compile(r"""\|default(?:_if_none)?:(["'])(.*?)\1""")
WORD = re.compile(r"[^\W\d_]{2,}|[^\W\d_]")


def _flatten(source: str) -> str:
    """The template as HTML, its translated parts and tags taken out; a variable leaves only
    the literals it may print."""
    out: list[str] = []
    skip_until: str | None = None  # the closing tag of a block whose content is not shown as is
    for token in Lexer(source).tokenize():
        if skip_until:
            if token.token_type == TokenType.BLOCK and token.contents.split()[0] == skip_until:
                out.append(TRANSLATED if skip_until == "endblocktranslate" else " ")
                skip_until = None
            continue
        if token.token_type == TokenType.TEXT:
            out.append(token.contents)
        elif token.token_type == TokenType.VAR:
            literals = [m.group(2) for m in PRINTED_LITERAL.finditer(token.contents)]
            out.append(VARIABLE + " ".join(literals) + VARIABLE)
        elif token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0]
            if name in {"blocktranslate", "blocktrans"}:
                skip_until = "endblocktranslate" if name == "blocktranslate" else "endblocktrans"
            elif name in {"comment", "verbatim"}:
                skip_until = "end" + name
            elif name == "block" and token.contents.split()[1] in ATTRIBUTE_BLOCKS:
                skip_until = "endblock"
            elif name in {"translate", "trans"}:
                out.append(" " if " as " in token.contents else TRANSLATED)
            else:
                out.append(" ")
    return "".join(out)


class _Readable(HTMLParser):
    """Collects text nodes and the attributes read aloud, with the line they start on."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._raw = 0  # inside <script> or <style>: code, not text

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style"}:
            self._raw += 1
        attrs = dict(attrs)
        for name, value in attrs.items():
            if value and (
                name in READ_ATTRIBUTES
                or (
                    tag == "input" and name == "value" and attrs.get("type") in {"submit", "button"}
                )
            ):
                self.found.append((self.getpos()[0], value))

    def handle_endtag(self, tag):
        if tag in {"script", "style"}:
            self._raw = max(0, self._raw - 1)

    def handle_data(self, data):
        if not self._raw:
            self.found.append((self.getpos()[0], data))


def untranslated(source: str) -> list[tuple[int, str]]:
    """(line, text) of every piece of readable text in `source` left outside translation."""
    parser = _Readable()
    parser.feed(_flatten(source))
    parser.close()
    flagged = []
    for line, text in parser.found:
        text = " ".join(text.replace(VARIABLE, " ").replace(TRANSLATED, " ").split())
        if WORD.search(text) and text not in ALLOWED:
            flagged.append((line, text))
    return flagged


def test_every_template_string_is_marked_for_translation():
    problems = [
        f"{path.relative_to(TEMPLATES)}:{line}: {text!r}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for line, text in untranslated(path.read_text())
    ]
    assert not problems, "Text outside {% translate %} / {% blocktranslate %}:\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize(
    "source, expected",
    [
        ("<p>Sendings</p>", ["Sendings"]),
        ('<button aria-label="Actions for {{ name }}">…</button>', ["Actions for"]),
        ('<input placeholder="Email">', ["Email"]),
        ('<img alt="Logo" src="x.svg">', ["Logo"]),
        ('<span title="Sort">↓</span>', ["Sort"]),
        ('<input type="submit" value="Decline">', ["Decline"]),
        ('<button name="nav" value="next">{% translate "Next" %}</button>', []),
        ("<p>{{ count }} batches · {{ total }}</p>", ["batches ·"]),
        ("<p>{% if a %}Yes{% endif %}</p>", ["Yes"]),
        ('<td>{{ who|default:"system" }}</td>', ["system"]),
        ("<title>{% block title %}Home{% endblock %}</title>", ["Home"]),
    ],
)
def test_the_scan_finds_untranslated_text(source, expected):
    assert [text for _, text in untranslated(source)] == expected


@pytest.mark.parametrize(
    "source",
    [
        "{% load i18n %}<p>{% translate 'Sendings' %}</p>",
        '<button aria-label="{% blocktranslate %}Actions for {{ name }}{% endblocktranslate %}">'
        "…</button>",
        "<p>{% blocktranslate count counter=n %}{{ n }} batch{% plural %}{{ n }} batches"
        "{% endblocktranslate %}</p>",
        "<p>{{ sent }} / {{ total }} · 42% — ←</p>",
        "{# a comment #}{% comment %}Notes{% endcomment %}<p>{{ name }}</p>",
        '<td>{{ subject|default:"—" }}</td>',
        '<html lang="{{ LANGUAGE_CODE|default:"en" }}">',  # an attribute nobody reads
        '<a class="button" href="x" download>CSV</a>',
        '<script nonce="n">var label = "code";</script><style>a { color: red }</style>',
        '{% translate "system" as system %}<td>{{ who|default:system }}</td>',
    ],
)
def test_the_scan_passes_translated_text(source):
    assert untranslated(source) == []
