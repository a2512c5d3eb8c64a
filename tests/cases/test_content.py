"""The real content (content/) against the method's rules that a review would otherwise have to
catch (issue 9): the fault rule, the debrief's step mapping, the answer-length cue and the French
typography rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lti_tool.cases.loader import load_level, validate_path
from lti_tool.cases.loading.typography import NBSP, NNBSP, english, french
from lti_tool.cases.model import FAULT_KINDS, Case, Level, Text
from tests.cases.test_loader import choice, has, write_content

CONTENT = Path(__file__).resolve().parents[2] / "content"


@pytest.fixture(scope="module")
def level() -> Level:
    return load_level(CONTENT)


# --- the fault rule -----------------------------------------------------------------------------

# Choices the subject-matter review named (issue 9, item 1): each must carry these faults.
REVIEWED_FAULTS = {
    ("case-1", "d1-d"): {"view"},
    ("case-1", "d2-d"): {"delete", "view"},
    ("case-1", "d3-d"): {"view"},
    ("case-1", "d4-b"): {"qualify"},
    ("case-1", "d5-a"): {"qualify"},
    ("case-1", "d5-c"): {"qualify"},
    ("case-2", "d1-a"): {"view"},
    ("case-2", "d1-b"): {"delete"},
    ("case-2", "d2-c"): {"view"},
    ("case-2", "d3-b"): {"copy"},
    ("case-2", "d5-a"): {"view"},
    ("case-2", "d5-d"): {"delete"},
    ("case-2", "d7-b"): {"qualify"},
    ("case-2", "d7-c"): {"qualify"},
    ("case-3", "d1-c"): {"delete"},
    ("case-3", "d3-c"): {"view", "delete"},
    ("case-3", "d3-d"): {"view"},
    ("case-3", "d4-b"): {"view"},
    ("case-3", "d4-c"): {"view"},
}


def test_every_faulted_choice_is_a_critical_error_with_a_note(level: Level) -> None:
    tagged = 0
    for case in level.cases.values():
        for decision in case.decisions:
            for c in decision.choices:
                if c.faults:
                    tagged += 1
                    assert set(c.faults) <= set(FAULT_KINDS), c.id
                    assert c.critical and c.points == 0, (case.id, c.id)
                    assert c.note is not None and c.note.fr and c.note.en, (case.id, c.id)
    assert tagged == len(REVIEWED_FAULTS)


@pytest.mark.parametrize(("key", "faults"), sorted(REVIEWED_FAULTS.items()))
def test_reviewed_choices_carry_their_faults(
    level: Level, key: tuple[str, str], faults: set[str]
) -> None:
    case_id, choice_id = key
    case = level.cases[case_id]
    found = next(c for d in case.decisions for c in d.choices if c.id == choice_id)
    assert set(found.faults) == faults


def test_every_fault_kind_is_taught(level: Level) -> None:
    used = {f for case in level.cases.values() for d in case.decisions for c in d.choices
            for f in c.faults}
    assert used == set(FAULT_KINDS)


def test_the_validator_rejects_a_fault_that_is_not_critical(tmp_path: Path) -> None:
    """The rule lives in the validator: a tagged choice worth points, without a note, is refused."""
    content = write_content(tmp_path, case=lambda d: choice(d, "d1", 1).update(faults=["delete"]))
    errors = validate_path(content)
    assert has(errors, "d1", "choice d1-b is tagged faults: [delete] but is not critical")
    assert len(errors) == 1


def test_the_validator_rejects_an_unknown_fault_kind(tmp_path: Path) -> None:
    content = write_content(tmp_path, case=lambda d: choice(d, "d1", 2).update(faults=["erase"]))
    errors = validate_path(content)
    assert has(errors, "d1", "choice d1-c: faults: must list only 'delete', 'view', 'copy', "
               "'qualify', found 'erase'")


def test_a_tagged_critical_choice_is_accepted(tmp_path: Path) -> None:
    content = write_content(tmp_path, case=lambda d: choice(d, "d1", 2).update(faults=["view"]))
    assert validate_path(content) == []
    assert load_level(content).cases["mini"].decision("d1").choice("d1-c").faults == ("view",)


# --- scores an expert would give (issue 9, item 2) ----------------------------------------------

@pytest.mark.parametrize("key", [("case-1", "d3", "d3-b"), ("case-2", "d2", "d2-a"),
                                 ("case-3", "d2", "d2-a"), ("case-3", "d2", "d2-b"),
                                 ("case-3", "d6", "d6-b"), ("case-3", "d7", "d7-b")])
def test_reviewed_answers_score_zero(level: Level, key: tuple[str, str, str]) -> None:
    case_id, node, choice_id = key
    found = level.cases[case_id].decision(node).choice(choice_id)
    assert found is not None and found.points == 0


# --- the debrief's step mapping (issue 9, item 4) -----------------------------------------------

def test_each_case_opens_with_a_disclosure_decision_tagged_lo1(level: Level) -> None:
    for case in level.cases.values():
        first = case.decision(case.start)
        assert first.step == "disclosure" and "lo1" in first.objectives, case.id


def test_a_discipline_first_answer_is_tested_at_a_disclosure_decision(level: Level) -> None:
    wrong = [c for case in level.cases.values() for d in case.decisions if d.step == "disclosure"
             for c in d.choices if c.points == 0 and "code de vie" in c.text.fr]
    assert wrong


def test_every_declared_step_is_used_by_some_case(level: Level) -> None:
    used = {d.step for case in level.cases.values() for d in case.decisions}
    assert used == {s.id for s in level.method_steps}


# --- the answer-length cue (issue 9, item 7) ----------------------------------------------------

@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_best_answer_is_the_longest_in_at_most_a_third_of_the_decisions(
    level: Level, lang: str
) -> None:
    decisions = [d for case in level.cases.values() for d in case.decisions]
    longest = [d.ref for d in decisions
               if len(d.best.text.get(lang)) >= max(len(c.text.get(lang)) for c in d.choices)]
    assert 3 * len(longest) <= len(decisions), longest


# --- French typography, one rule, applied by the loader ----------------------------------------

def _texts(level: Level) -> Iterator[tuple[str, Text]]:
    yield "title", level.title
    for name in ("introduction", "territory_notice", "pass_rule"):
        yield name, getattr(level, name)
    for item in (*level.objectives, *level.method_steps, *level.grid_dimensions):
        yield item.id, item.label
        if item.summary:
            yield item.id, item.summary
    for r in level.reflections:
        yield r.id, r.question
        yield r.id, r.guidance
    for case in level.cases.values():
        yield from _case_texts(case)


def _case_texts(case: Case) -> Iterator[tuple[str, Text]]:
    for name in ("title", "subtitle", "situation", "debrief"):
        yield f"{case.id}.{name}", getattr(case, name)
    for outcome, text in case.endings.items():
        yield f"{case.id}.{outcome}", text
    for a in case.actors:
        yield f"{case.id}.{a.id}", a.role
    for d in case.decisions:
        yield f"{case.id}.{d.id}", d.prompt
        if d.local_validation:
            yield f"{case.id}.{d.id}", d.local_validation
        for c in d.choices:
            for t in (c.text, c.consequence, c.note):
                if t:
                    yield f"{case.id}.{c.id}", t


def test_every_loaded_text_follows_the_typography_rule(level: Level) -> None:
    for where, text in _texts(level):
        fr, en = text.fr, text.en
        for sign in "?!;":
            assert f" {sign}" not in fr and f"{NBSP}{sign}" not in fr, (where, sign, fr)
        assert " :" not in fr and f"{NNBSP}:" not in fr, (where, fr)
        assert "« " not in fr and " »" not in fr, (where, fr)
        assert french(fr) == fr and english(en) == en, where
        for sign in "?!;:":
            assert f" {sign}" not in en and f"{NBSP}{sign}" not in en, (where, sign, en)


@pytest.mark.parametrize(("raw", "expected"), [
    ("Que faites-vous ?", f"Que faites-vous{NNBSP}?"),
    ("Que faites-vous?", f"Que faites-vous{NNBSP}?"),
    ("Attention !", f"Attention{NNBSP}!"),
    ("une chose ; une autre", f"une chose{NNBSP}; une autre"),
    ("Amorce : un échange", f"Amorce{NBSP}: un échange"),
    ("Amorce: un échange", f"Amorce{NBSP}: un échange"),
    ("« se vanter »", f"«{NBSP}se vanter{NBSP}»"),
    ("«se vanter»?", f"«{NBSP}se vanter{NBSP}»{NNBSP}?"),
    ("Lundi, 10 h 15, https://cyberaide.ca", "Lundi, 10 h 15, https://cyberaide.ca"),
    ("Vraiment ?!", f"Vraiment{NNBSP}?!"),
])
def test_french_typography(raw: str, expected: str) -> None:
    assert french(raw) == expected
    assert french(expected) == expected


def test_english_typography() -> None:
    assert english("What do you do ?") == "What do you do?"
    assert english("Note: at 10:15 a.m.") == "Note: at 10:15 a.m."


def test_the_loader_applies_the_rule_to_what_authors_type(tmp_path: Path) -> None:
    content = write_content(tmp_path, case=lambda d: d["nodes"]["d1"]["prompt"].update(
        fr="Maya dit : «je peux aller le chercher» ; que faites-vous ?", en="What now ?"))
    prompt = load_level(content).cases["mini"].decision("d1").prompt
    assert prompt.fr == (f"Maya dit{NBSP}: «{NBSP}je peux aller le chercher{NBSP}»{NNBSP}; "
                         f"que faites-vous{NNBSP}?")
    assert prompt.en == "What now?"
