"""Fill Vietnamese translations into the catalog from a Python file holding a dict `T` (msgid ->
translation), clearing their fuzzy flags; prints what is still untranslated.

    .venv/bin/python tools/translate.py TRANSLATIONS.py
"""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "coordinator" / "translations" / "vi" / "LC_MESSAGES" / "messages.po"


def main(source: str) -> None:
    table = runpy.run_path(source)["T"]
    with PO.open("rb") as fh:
        catalog = read_po(fh)
    for message in catalog:
        if message.id and message.id in table:
            message.string = table[message.id]
            message.flags.discard("fuzzy")
    with PO.open("wb") as fh:
        write_po(fh, catalog, width=0, sort_output=True, include_previous=False)
    missing = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    print(f"{len(missing)} untranslated")
    for msgid in missing:
        print(f"  {msgid!r}")


if __name__ == "__main__":
    main(sys.argv[1])
