"""The attestation as a PDF (issue 8, item 6), with fpdf2 (pure Python, maintained).

The font is DejaVu Sans, shipped in lti_tool/static/fonts with its licence (Bitstream Vera
licence, DejaVu changes public domain): embedded as a Unicode TrueType subset, so French accents,
« guillemets », the narrow no-break space and any learner's text render the same on every machine,
with no system font needed. Long answers flow over as many pages as they need (automatic page
breaks); every page carries the learner, a page number and — for a draft or a revoked badge — the
mark that says so, so a page taken alone cannot pass for a valid attestation.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from lti_tool.badges.attestation import DRAFT, REVOKED, Attestation

FONT_DIR = Path(__file__).resolve().parents[1] / "static" / "fonts"
FONT = "DejaVuSans"
INK = (33, 37, 41)
ACCENT = (0, 82, 147)
WARNING = (160, 0, 0)


class _Document(FPDF):
    def __init__(self, attestation: Attestation) -> None:
        super().__init__(orientation="portrait", unit="mm", format="Letter")
        self.attestation = attestation
        self.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_margins(20, 22, 20)
        self.set_auto_page_break(auto=True, margin=22)
        self.set_title(attestation.words["title"])
        self.set_lang("fr-CA" if attestation.lang == "fr" else "en-CA")
        self.set_creator("Sexto Architect")

    def header(self) -> None:
        mark = self._mark()
        if mark:
            self.set_font(FONT, "B", 9)
            self.set_text_color(*WARNING)
            self.set_xy(self.l_margin, 8)
            self.cell(0, 6, mark, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_y(self.t_margin)

    def footer(self) -> None:
        words = self.attestation.words
        self.set_y(-15)
        self.set_font(FONT, "", 8)
        self.set_text_color(*INK)
        self.cell(0, 5, f"{words['title']} — {self.attestation.learner_name} — "
                        f"{words['page']} {self.page_no()}/{{nb}}", align="C")

    def _mark(self) -> str:
        words = self.attestation.words
        if self.attestation.status == DRAFT:
            return words["draft_short"]
        if self.attestation.status == REVOKED:
            return words["revoked"]
        return ""

    # -- blocks --------------------------------------------------------------------------------
    def heading(self, text: str, size: float) -> None:
        self.set_font(FONT, "B", size)
        self.set_text_color(*ACCENT)
        self.multi_cell(0, size * 0.55, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(*INK)

    def paragraph(self, text: str, size: float = 10.5, *, bold: bool = False,
                  gap: float = 2.5) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        self.multi_cell(0, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(gap)

    def field(self, label: str, value: str) -> None:
        self.set_font(FONT, "B", 11)
        self.multi_cell(0, 6, label, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 11)
        self.multi_cell(0, 6, value, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)


def render(attestation: Attestation) -> bytes:
    """The attestation's PDF (Letter, the paper Quebec schools print on)."""
    words = attestation.words
    doc = _Document(attestation)
    doc.alias_nb_pages()
    doc.add_page()
    doc.heading(words["title"], 18)
    doc.ln(2)
    doc.heading(words["program"], 14)
    doc.ln(3)
    if attestation.status != "awarded":
        doc.set_text_color(*WARNING)
        doc.paragraph(words["draft"] if attestation.status == DRAFT else words["revoked"],
                      bold=True)
        doc.set_text_color(*INK)
    for text in attestation.description:
        doc.paragraph(text, 9.5, gap=2)
    doc.ln(3)
    doc.field(words["awarded_to"], attestation.learner_name)
    if attestation.verification_url:
        doc.field(words["verification"], attestation.verification_url)
    doc.field(words["obtained"], attestation.obtained_label)
    doc.ln(3)
    doc.heading(words["answers"], 13)
    doc.ln(2)
    for number, item in enumerate(attestation.items, start=1):
        doc.paragraph(f"{number}. {item.question}", 11, bold=True, gap=1.5)
        for part in (item.answer or words["no_answer"]).split("\n"):
            doc.paragraph(part, 10.5, gap=1.2)
        doc.ln(3)
    return bytes(doc.output())
