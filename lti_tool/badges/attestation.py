"""The attestation of professional development (issue 8, item 6; ../shared/docs/BADGES.md).

*Preuve et attestation de développement professionnel*: what the learner hands to their employer,
laid out like the program's own — the title, the program and level, the level's description with
the notice about territories and agreements, who the badge was awarded to with the verification
URL, the date obtained (Quebec time), then each reflection question followed by the learner's
submitted answer. `build` gathers it from the database; the page (attestation_views.py) and the
PDF (pdf.py) render the same `Attestation`, in one language.

Before the badge is awarded the learner (and their instructor) see a *draft*, marked as such on the
page and on every PDF page: it lets the learner read their answers as the employer will, and no one
can mistake it for the real thing. A revoked badge's attestation is marked revoked.

The document's own words live in `WORDS` (both languages) rather than in the gettext catalogue:
the PDF is made outside any page language and must say exactly what the page says.

Access: the learner (page token), their instructor (page token, same course and registration),
and whoever holds the learner's share link (`share_token`: signed, unguessable, only for an
awarded badge) — never by credential id alone: the reflections are private.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.cases.model import Level
from lti_tool.cases.service import reflection_answers
from lti_tool.errors import Bilingual, ToolError
from lti_tool.models import Award, Learner

# Quebec time (the learners are Quebec school staff); zoneinfo reads the system's or tzdata's data.
DISPLAY_TZ = ZoneInfo("America/Toronto")
BABEL_LOCALES = {"fr": "fr_CA", "en": "en_CA"}
ACHIEVEMENT = "architecte"
AWARDED, REVOKED, DRAFT = "awarded", "revoked", "draft"
NBSP = "\u00a0"

WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Preuve et attestation de développement professionnel",
        "program": "Trousse de réponse Sexto 2 – Architecte",
        "awarded_to": f"Badge attribué à{NBSP}:",
        "verification": f"Vérification du badge{NBSP}:",
        "obtained": f"Date d'obtention{NBSP}:",
        "answers": "Questions de réflexion et réponses",
        "no_answer": "(aucune réponse remise)",
        "no_name": "(nom non transmis par la plateforme d'apprentissage)",
        "draft": "BROUILLON — le badge n'est pas encore attribué. Cette attestation n'a aucune valeur "
                 "tant que le badge n'est pas attribué.",
        "draft_short": "BROUILLON — badge pas encore attribué",
        "revoked": "BADGE RÉVOQUÉ — cette attestation n'est plus valide.",
        "not_yet": "pas encore attribué",
        "download": "Télécharger l'attestation (PDF)",
        "share": "Lien privé vers cette attestation, à remettre à votre employeur",
        "share_note": "Toute personne qui a ce lien peut lire vos réponses. Ne le publiez pas.",
        "page": "Page",
        "back": "Retour",
    },
    "en": {
        "title": "Proof and attestation of professional development",
        "program": "Sexto 2 response kit – Architect",
        "awarded_to": "Badge awarded to:",
        "verification": "Badge verification:",
        "obtained": "Date obtained:",
        "answers": "Reflection questions and answers",
        "no_answer": "(no answer submitted)",
        "no_name": "(name not shared by the learning platform)",
        "draft": "DRAFT — the badge has not been awarded yet. This attestation has no value until "
                 "the badge is awarded.",
        "draft_short": "DRAFT — badge not awarded yet",
        "revoked": "BADGE REVOKED — this attestation is no longer valid.",
        "not_yet": "not awarded yet",
        "download": "Download the attestation (PDF)",
        "share": "Private link to this attestation, to hand to your employer",
        "share_note": "Anyone with this link can read your answers. Do not publish it.",
        "page": "Page",
        "back": "Back",
    },
}


class AttestationNotFound(ToolError):
    """An unknown or refused share link: one answer for both, so links reveal nothing."""

    status = 404
    code = "attestation_not_found"
    title = Bilingual("Attestation introuvable", "Attestation not found")


@dataclass(frozen=True)
class QuestionAnswer:
    question_id: str
    question: str
    answer: str | None  # the submitted text; None when nothing was submitted
    submitted_at: datetime | None


@dataclass(frozen=True)
class Attestation:
    lang: str
    learner_id: int
    learner_name: str
    status: str  # awarded | revoked | draft
    award_id: int | None
    obtained_at: datetime | None  # UTC, as stored
    verification_url: str | None
    description: tuple[str, ...]  # paragraphs: the level's introduction, then the territory notice
    items: tuple[QuestionAnswer, ...]

    @property
    def words(self) -> dict[str, str]:
        return WORDS[self.lang]

    @property
    def is_draft(self) -> bool:
        return self.status == DRAFT

    @property
    def obtained_label(self) -> str:
        if self.obtained_at is None:
            return self.words["not_yet"]
        return datetime_label(self.obtained_at, self.lang)


def datetime_label(moment: datetime, lang: str) -> str:
    """"12 mars 2026 à 14 h 05" / "March 12, 2026 at 2:05 PM" in Quebec time (daylight saving
    included); a naive datetime is UTC, as the database stores it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(DISPLAY_TZ)
    locale = BABEL_LOCALES.get(lang, "fr_CA")
    day = format_date(local, "long", locale=locale)
    clock = format_time(local, "short", tzinfo=DISPLAY_TZ, locale=locale)
    zone = "heure du Québec" if lang == "fr" else "Quebec time"
    joiner = " à " if lang == "fr" else " at "
    return f"{day}{joiner}{clock} ({zone})"


def learner_display_name(learner: Learner) -> str | None:
    name = (learner.name or "").strip() or " ".join(
        p for p in ((learner.given_name or "").strip(), (learner.family_name or "").strip()) if p)
    return name or (learner.email or "").strip() or None


def current_award(session: Session, learner_id: int) -> Award | None:
    return session.scalars(select(Award).where(
        Award.learner_id == learner_id, Award.achievement == ACHIEVEMENT)).first()


def verification_url(award: Award, base_url: str) -> str | None:
    """The public page an employer checks the badge on: the embedded issuer's
    `/badges/verify/<credential-id>` (DESIGN.md §5), or the provider's assertion URL."""
    if award.status not in (AWARDED, REVOKED):
        return None
    if award.issuer == "embedded":
        from lti_tool.badges.embedded import verification_url as embedded_url

        return embedded_url(award, base_url)
    ref = award.issuer_ref or ""
    return ref if ref.startswith("https://") else None


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]


def build(session: Session, level: Level, learner: Learner, *, lang: str, base_url: str,
          award: Award | None = None) -> Attestation:
    """The learner's attestation in `lang`: their award (or a draft), the level's texts and their
    submitted answers, in the order of content/level.yaml."""
    lang = lang if lang in WORDS else "fr"
    if award is None:
        award = current_award(session, learner.id)
    status = DRAFT
    if award is not None and award.status in (AWARDED, REVOKED) and award.awarded_at is not None:
        status = award.status
    answers = reflection_answers(session, learner.id)
    items = []
    for question in level.reflections:
        answer = answers.get(question.id)
        items.append(QuestionAnswer(
            question.id, question.question.get(lang),
            answer.submitted_text if answer is not None and answer.submitted_text else None,
            answer.submitted_at if answer is not None else None))
    description = (*_paragraphs(level.introduction.get(lang)),
                   *_paragraphs(level.territory_notice.get(lang)))
    return Attestation(
        lang=lang, learner_id=learner.id,
        learner_name=learner_display_name(learner) or WORDS[lang]["no_name"],
        status=status, award_id=award.id if award is not None else None,
        obtained_at=award.awarded_at if status != DRAFT and award is not None else None,
        verification_url=verification_url(award, base_url) if status != DRAFT and award else None,
        description=description, items=tuple(items))


# --- the share link -----------------------------------------------------------------------------


def _share_serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt="badges-attestation-share")


def share_token(secret_key: str, award: Award) -> str:
    """The learner's private link to their attestation, for an employer: signed with the tool's
    secret over the award and its learner (unguessable; an id alone opens nothing). It does not
    expire — the employer may look later — but it stops working when the award is revoked or
    deleted (`lti-tool learner delete`)."""
    return _share_serializer(secret_key).dumps([award.id, award.learner_id, ACHIEVEMENT])


def award_for_share_token(session: Session, secret_key: str, token: str) -> Award:
    """The awarded badge the token names; 404 for anything else (bad signature, another shape,
    an award gone, revoked or not yet awarded)."""
    refused = AttestationNotFound(
        Bilingual("Ce lien d'attestation n'est pas valide ou n'est plus valide.",
                  "This attestation link is not valid or no longer valid."),
        detail="attestation share token refused")
    try:
        data: Any = _share_serializer(secret_key).loads(token)
    except BadSignature as exc:
        raise refused from exc
    if (not isinstance(data, list) or len(data) != 3 or not all(isinstance(v, int) for v in data[:2])
            or data[2] != ACHIEVEMENT):
        raise refused
    award = session.get(Award, data[0])
    if award is None or award.learner_id != data[1] or award.status != AWARDED \
            or award.awarded_at is None:
        raise refused
    return award


def plain_text(attestation: Attestation) -> str:
    """Every line of the attestation as text (the PDF's reading order; tests and logs compare)."""
    words = attestation.words
    lines: list[str] = [words["title"], words["program"], *attestation.description,
                        words["awarded_to"], attestation.learner_name]
    if attestation.verification_url:
        lines += [words["verification"], attestation.verification_url]
    lines += [words["obtained"], attestation.obtained_label, words["answers"]]
    for item in attestation.items:
        lines += [item.question, item.answer or words["no_answer"]]
    return "\n".join(lines)
