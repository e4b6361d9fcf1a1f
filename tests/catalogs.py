"""The translation catalogs as the tests see them: locale/<lang>/LC_MESSAGES/<domain>.po,
compiled to the .mo Django reads (the .mo files are not committed)."""

import shutil
import subprocess
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"


def po_files() -> list[Path]:
    return sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


def compile_stale_catalogs() -> None:
    """Compile every .po whose .mo is missing or older, as `make test` does before pytest,
    so that running pytest by itself reads the same catalogs."""
    msgfmt = shutil.which("msgfmt")
    for po in po_files():
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        if msgfmt is None:
            raise RuntimeError(f"{mo} is missing or stale and msgfmt is not installed (gettext)")
        subprocess.run([msgfmt, "--check-format", "-o", str(mo), str(po)], check=True)
