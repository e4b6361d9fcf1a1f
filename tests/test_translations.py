"""The catalogs: every Spanish message translated, none fuzzy, placeholders intact, and the
compiled .mo files Django reads are those of the .po files (no database needed)."""

import shutil
import subprocess
from pathlib import Path

import pytest
from django.utils import translation

from tests.catalogs import LOCALE_DIR, po_files

MSGFMT = shutil.which("msgfmt")
MSGATTRIB = shutil.which("msgattrib")
pytestmark = pytest.mark.skipif(
    MSGFMT is None or MSGATTRIB is None, reason="gettext is not installed"
)
COMPLETE = ["es"]  # en is the source language: its catalog may stay empty
DOMAINS = ["django", "djangojs"]


def _entries(po: Path, *flags: str) -> list[str]:
    """The msgids msgattrib selects with `flags` (e.g. --untranslated), header left out."""
    out = subprocess.run(
        [MSGATTRIB, *flags, "--no-wrap", "--no-location", str(po)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [
        line.removeprefix("msgid ")
        for line in out.splitlines()
        if line.startswith("msgid ") and line != 'msgid ""'
    ]


def test_every_catalog_is_there():
    found = {(po.parts[-3], po.stem) for po in po_files()}
    assert {(lang, domain) for lang in ["en", *COMPLETE] for domain in DOMAINS} <= found


@pytest.mark.parametrize("language", COMPLETE)
@pytest.mark.parametrize("domain", DOMAINS)
def test_no_message_is_missing_or_fuzzy(language, domain):
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"
    assert _entries(po, "--untranslated") == [], f"untranslated in {po}"
    assert _entries(po, "--only-fuzzy") == [], f"fuzzy in {po}"


@pytest.mark.parametrize("po", po_files(), ids=lambda po: "/".join(po.parts[-3:]))
def test_placeholders_match_and_the_compiled_catalog_is_current(po, tmp_path):
    """msgfmt --check-format refuses a translation whose %(name)s differ from the msgid's;
    the .mo next to the .po must be exactly what compiling it gives now."""
    fresh = tmp_path / "fresh.mo"
    result = subprocess.run(
        [MSGFMT, "--check-format", "-o", str(fresh), str(po)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    compiled = po.with_suffix(".mo")
    assert compiled.exists(), f"{compiled} missing: run `make messages`"
    assert compiled.read_bytes() == fresh.read_bytes(), f"{compiled} is stale: run `make messages`"


def test_django_reads_the_spanish_catalog():
    with translation.override("es"):
        assert translation.pgettext("status", "Scheduled") == "Programado"
        assert translation.gettext("Language") == "Idioma"
    with translation.override("en"):
        assert translation.pgettext("status", "Scheduled") == "Scheduled"
