"""Every French catalogue is complete and its committed .mo matches its .po."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1] / "lti_tool"
CATALOGUES = sorted(ROOT.glob("**/translations/fr/LC_MESSAGES/messages.po"))


def test_there_are_catalogues() -> None:
    assert CATALOGUES, "no French catalogue found"


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_catalogue_complete_and_compiled(po_path: Path) -> None:
    with po_path.open("rb") as fh:
        po = read_po(fh)
    missing = [m.id for m in po if m.id and not m.string]
    assert not missing, f"untranslated in {po_path}: {missing}"
    mo_path = po_path.with_suffix(".mo")
    assert mo_path.exists(), f"run pybabel compile for {po_path.parent.parent.parent}"
    mo = read_mo(io.BytesIO(mo_path.read_bytes()))
    compiled = {m.id: m.string for m in mo if m.id}
    source = {m.id: m.string for m in po if m.id}
    assert compiled == source, f"{mo_path} is stale: run `make translations`"


def test_french_page_is_french(client, app) -> None:  # type: ignore[no-untyped-def]
    from tests.support.minted import landing, minted_platform

    with minted_platform(app) as platform:
        location = landing(platform.launch(client))
    page = client.get(location).get_data(as_text=True)
    assert "Niveau Architecte" in page and 'lang="fr"' in page
    english = client.get(location + "&lang=en").get_data(as_text=True)
    assert 'lang="en"' in english and "Architect level" in english
