"""Content loader: the real content validates; broken variants of a minimal fixture are rejected
loudly, naming the file, the node and the problem (content/FORMAT.md, lti_tool/cases/loader.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from lti_tool.cases.loader import (
    SCHEMA_DIR,
    ContentError,
    ContentValidationError,
    clear_level_cache,
    default_content_dir,
    get_level,
    load_case_file,
    load_level,
    validate_command,
    validate_path,
)
from lti_tool.cases.model import Case, Decision, Ending, Level, Text
from lti_tool.cases.upgrade import (
    CURRENT_VERSION,
    UPGRADES,
    UpgradeError,
    upgrade,
    upgrade_v0_to_v1,
)

REPO = Path(__file__).resolve().parents[2]
CONTENT = REPO / "content"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MINIMAL = FIXTURES / "minimal"

Doc = dict[str, Any]
Mutation = Callable[[Doc], Any]


def write_content(root: Path, case: Mutation | None = None, level: Mutation | None = None) -> Path:
    """Write the minimal fixture to root/content after applying the mutations to its parsed YAML."""
    level_doc = yaml.safe_load((MINIMAL / "level.yaml").read_text(encoding="utf-8"))
    case_doc = yaml.safe_load((MINIMAL / "cases" / "mini.yaml").read_text(encoding="utf-8"))
    if level is not None:
        level(level_doc)
    if case is not None:
        case(case_doc)
    content = root / "content"
    (content / "cases").mkdir(parents=True)
    dump = {"allow_unicode": True, "sort_keys": False}
    (content / "level.yaml").write_text(yaml.safe_dump(level_doc, **dump), encoding="utf-8")
    (content / "cases" / "mini.yaml").write_text(yaml.safe_dump(case_doc, **dump), encoding="utf-8")
    return content


def case_file(content: Path) -> str:
    return str(content / "cases" / "mini.yaml")


def node(doc: Doc, node_id: str) -> Doc:
    return doc["nodes"][node_id]


def choice(doc: Doc, node_id: str, index: int) -> Doc:
    return doc["nodes"][node_id]["choices"][index]


def has(errors: list[ContentError], node_id: str | None, text: str) -> bool:
    return any(e.node == node_id and text in e.problem for e in errors)


# --- the real content ---------------------------------------------------------------------------


def test_real_content_validates() -> None:
    errors = validate_path(CONTENT)
    assert errors == [], "\n".join(map(str, errors))
    level = load_level(CONTENT)
    assert level.case_ids == ("case-1", "case-2", "case-3")
    assert list(level.cases) == ["case-1", "case-2", "case-3"]
    for case in level.cases.values():
        assert case.decisions, case.id
        assert all(d.best.points == 2 for d in case.decisions)


@pytest.mark.parametrize("case_id", ["case-1", "case-2", "case-3"])
def test_each_real_case_file_validates_on_its_own(case_id: str) -> None:
    errors = validate_path(CONTENT / "cases" / f"{case_id}.yaml")
    assert errors == [], "\n".join(map(str, errors))


def test_real_level_uses_the_shared_ids() -> None:
    level = load_level(CONTENT)
    assert [o.id for o in level.objectives] == [f"lo{n}" for n in range(1, 10)]
    assert [s.id for s in level.method_steps] == [
        "disclosure",
        "welcome",
        "escalate",
        "assess",
        "secure",
        "notify",
        "qualify",
        "follow-up",
        "throughout",
    ]
    assert [g.id for g in level.grid_dimensions] == ["amorce", "nature", "intentions", "etendue"]
    assert [r.id for r in level.reflections] == ["steps", "learned", "delicate"]


# --- the schemas --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["case.v1.json", "level.v1.json"])
def test_schemas_are_valid_draft_2020_12(name: str) -> None:
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"] == {"const": 1}
    assert schema["additionalProperties"] is False
    Draft202012Validator.check_schema(schema)


# --- the minimal valid fixture ------------------------------------------------------------------


def test_minimal_fixture_builds_the_frozen_model() -> None:
    level = load_level(MINIMAL)
    assert isinstance(level, Level)
    assert level.id == "mini-level"
    assert level.introduction.fr == "Premier paragraphe.\n\nSecond paragraphe."
    assert level.endings["reprendre"].title == Text(fr="À reprendre", en="To redo")
    assert [r.min_words for r in level.reflections] == [30, 30, 30]

    case = level.cases["mini"]
    assert isinstance(case, Case)
    assert case.source.endswith(os.path.join("cases", "mini.yaml"))
    assert list(case.nodes) == ["d1", "d2", "end"]
    assert isinstance(case.nodes["end"], Ending)
    d1, d2 = case.decisions
    assert isinstance(d1, Decision) and d1.id == "d1" and d1.step == "disclosure"
    assert d1.prompt.get("en") == "First decision?"
    assert d1.prompt.get("fr") == "Première décision\u202f?"  # typography rule
    assert d1.local_validation is None and d2.local_validation is not None
    assert [c.id for c in d2.choices] == ["d2-a", "d2-b", "d2-c", "d2-d"]
    assert d2.best.id == "d2-b" and d2.best.grid == ("amorce", "nature")
    critical = d1.choice("d1-c")
    assert critical is not None and critical.critical and critical.points == 0
    assert critical.note == Text(fr="Note pédagogique.", en="Instructional note.")
    plain = d1.choice("d1-b")
    assert plain is not None and plain.critical is False and plain.note is None and plain.grid == ()
    assert case.endings["conforme"].en == "Compliant outcome."

    with pytest.raises(dataclasses.FrozenInstanceError):
        case.start = "d2"  # type: ignore[misc]
    with pytest.raises(TypeError):
        case.nodes["x"] = case.nodes["end"]  # type: ignore[index]


@pytest.mark.parametrize(
    "target",
    [MINIMAL, MINIMAL / "level.yaml", MINIMAL / "cases" / "mini.yaml"],
    ids=["directory", "level-file", "case-file"],
)
def test_minimal_fixture_validates_from_any_path(target: Path) -> None:
    assert validate_path(target) == []


def test_load_case_file_checks_ids_against_the_given_level() -> None:
    level = load_level(MINIMAL)
    case = load_case_file(MINIMAL / "cases" / "mini.yaml", level)
    assert case == level.cases["mini"]
    narrower = dataclasses.replace(level, objectives=level.objectives[:1])
    with pytest.raises(ContentValidationError) as raised:
        load_case_file(MINIMAL / "cases" / "mini.yaml", narrower)
    assert has(list(raised.value.errors), "d2", "objective lo2 is not declared in level.yaml")


# --- broken case files: each rejected with the right node and problem ---------------------------


def _unreachable_d2(doc: Doc) -> None:
    for c in node(doc, "d1")["choices"]:
        c["next"] = "end"


def _numeric_node_id(doc: Doc) -> None:
    doc["nodes"] = {1 if k == "d2" else k: v for k, v in doc["nodes"].items()}
    for c in node(doc, "d1")["choices"]:
        c["next"] = 1


BROKEN_CASES = [
    pytest.param(
        lambda d: choice(d, "d1", 0).update(next="d9"),
        "d1",
        "choice d1-a: next names node d9, which does not exist",
        id="dangling-next",
    ),
    pytest.param(
        lambda d: d.update(start="d0"),
        None,
        "start names node d0, which does not exist",
        id="dangling-start",
    ),
    pytest.param(
        _unreachable_d2,
        "d2",
        "unreachable: no path from start (d1) leads to this node",
        id="unreachable-node",
    ),
    pytest.param(
        lambda d: choice(d, "d2", 0).update(next="d1"),
        "d2",
        "endless loop: choice d2-a leads back to d1 (d1 → d2 → d1)",
        id="cycle",
    ),
    pytest.param(
        lambda d: node(d, "d1")["prompt"].pop("en"),
        "d1",
        "prompt: missing English text (en)",
        id="missing-english",
    ),
    pytest.param(
        lambda d: choice(d, "d2", 1)["consequence"].update(fr="  \n "),
        "d2",
        "choice d2-b: consequence: French text (fr) is empty",
        id="blank-french",
    ),
    pytest.param(
        lambda d: choice(d, "d1", 1)["text"].update(en=None),
        "d1",
        "choice d1-b: text: English text (en) is empty",
        id="null-english",
    ),
    pytest.param(
        lambda d: choice(d, "d1", 0).update(points=1),
        "d1",
        "no choice is worth 2 points: exactly one best-practice choice is required",
        id="no-two-point-choice",
    ),
    pytest.param(
        lambda d: choice(d, "d1", 1).update(points=2),
        "d1",
        "2 choices are worth 2 points (d1-a, d1-b): exactly one is allowed",
        id="two-best-choices",
    ),
    pytest.param(
        lambda d: choice(d, "d1", 1).pop("points"),
        "d1",
        "choice d1-b: missing required key 'points'",
        id="missing-points",
    ),
    pytest.param(
        lambda d: choice(d, "d2", 0).update(points=3),
        "d2",
        "choice d2-a: points must be one of 0, 1, 2, found 3",
        id="points-out-of-range",
    ),
    pytest.param(
        lambda d: choice(d, "d1", 2).pop("note"),
        "d1",
        "choice d1-c is critical but has no instructional note",
        id="critical-without-note",
    ),
    pytest.param(
        lambda d: choice(d, "d1", 2).update(points=1),
        "d1",
        "choice d1-c is critical but worth 1 point: a critical error is worth 0",
        id="critical-with-points",
    ),
    pytest.param(
        lambda d: choice(d, "d1", 2).update(critical=False),
        "d1",
        "choice d1-c has an instructional note but is not critical",
        id="note-without-critical",
    ),
    pytest.param(
        _numeric_node_id,
        "1",
        "key 1 is read by YAML as a number, not a string (line ",
        id="non-string-node-id",
    ),
    pytest.param(
        lambda d: choice(d, "d1", 0).update(next=True),
        "d1",
        "choice d1-a: next: YAML read True as a boolean, not a string",
        id="boolean-next",
    ),
    pytest.param(
        lambda d: node(d, "d2").update(objectives=["lo1", "lo7"]),
        "d2",
        "objective lo7 is not declared in level.yaml (declared: lo1, lo2)",
        id="unknown-objective",
    ),
    pytest.param(
        lambda d: node(d, "d1").update(step="notify"),
        "d1",
        "step notify is not a method step declared in level.yaml",
        id="unknown-step",
    ),
    pytest.param(
        lambda d: choice(d, "d2", 1).update(grid=["etendue"]),
        "d2",
        "choice d2-b: grid dimension etendue is not declared in level.yaml",
        id="unknown-grid-dimension",
    ),
    pytest.param(
        lambda d: choice(d, "d2", 2).update(id="d1-b"),
        "d2",
        "choice id d1-b is already used in node d1",
        id="duplicate-choice-id",
    ),
    pytest.param(
        lambda d: node(d, "d2")["choices"].pop(),
        None,
        "",
        id="three-choices-is-fine",
    ),
    pytest.param(
        lambda d: node(d, "d1")["choices"].pop(),
        "d1",
        "choices: has 2 choices; a decision needs 3 or 4",
        id="two-choices",
    ),
    pytest.param(
        lambda d: node(d, "d2")["choices"].append(dict(choice(d, "d2", 0), id="d2-e")),
        "d2",
        "choices: has 5 choices; a decision needs 3 or 4",
        id="five-choices",
    ),
    pytest.param(
        lambda d: choice(d, "d1", 0).update(nxt="d2"),
        "d1",
        "choice d1-a: unknown key 'nxt' (allowed: id, text, points, critical, grid,",
        id="unknown-key",
    ),
    pytest.param(
        lambda d: node(d, "d1").update(type="question"),
        "d1",
        "type must be one of 'decision', 'ending', found 'question'",
        id="unknown-node-type",
    ),
    pytest.param(
        lambda d: d["nodes"].update(fin={"type": "ending"}),
        None,
        "nodes: 2 nodes of type ending (end, fin): exactly one is allowed",
        id="two-endings",
    ),
    pytest.param(
        lambda d: d["nodes"].pop("end") and [c.update(next="d2") for c in node(d, "d2")["choices"]],
        None,
        "nodes: there is no node of type ending",
        id="no-ending",
    ),
    pytest.param(
        lambda d: d["endings"].pop("consolider"),
        None,
        "endings: missing required key 'consolider'",
        id="missing-ending-text",
    ),
    pytest.param(
        lambda d: d["nodes"].update(D3=d["nodes"].pop("d2")),
        "D3",
        "not a valid node id: use lowercase letters, digits and hyphens",
        id="bad-node-id",
    ),
    pytest.param(
        lambda d: node(d, "d1").update(ref="D1"),
        "d1",
        "ref: 'D1' is not a valid reference: write it as in the brief, e.g. C1-D1",
        id="bad-ref",
    ),
    pytest.param(
        lambda d: node(d, "d2").update(ref="C9-D1"),
        "d2",
        "ref C9-D1 is already used by node d1",
        id="duplicate-ref",
    ),
    pytest.param(
        lambda d: d["actors"][0]["role"].pop("fr"),
        None,
        "actors[alex].role: missing French text (fr)",
        id="actor-missing-french",
    ),
    pytest.param(
        lambda d: d.update(id="case-9"),
        None,
        "id case-9 does not match the file name mini.yaml",
        id="id-differs-from-file-name",
    ),
]


@pytest.mark.parametrize(("mutation", "node_id", "problem"), BROKEN_CASES)
def test_broken_case_is_rejected_with_node_and_problem(
    tmp_path: Path, mutation: Mutation, node_id: str | None, problem: str
) -> None:
    content = write_content(tmp_path, case=mutation)
    errors = validate_path(content)
    if not problem:  # the control: a legal variation stays valid
        assert errors == []
        return
    assert has(errors, node_id, problem), "\n".join(map(str, errors))
    assert all(e.file == case_file(content) for e in errors)
    with pytest.raises(ContentValidationError):
        load_level(content)


def test_one_problem_gives_exactly_one_message(tmp_path: Path) -> None:
    content = write_content(tmp_path, case=lambda d: choice(d, "d1", 2).pop("note"))
    assert [str(e) for e in validate_path(content)] == [
        f"{case_file(content)}: node d1: choice d1-c is critical but has no instructional note"
    ]


def test_files_are_named_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = write_content(tmp_path, case=lambda d: choice(d, "d1", 2).pop("note"))
    monkeypatch.chdir(tmp_path)
    assert [str(e) for e in validate_path(content)] == [
        "content/cases/mini.yaml: node d1: choice d1-c is critical but has no instructional note"
    ]


def test_yaml_booleans_and_numbers_as_ids_are_rejected(tmp_path: Path) -> None:
    """`yes:` and bare numbers are not strings in YAML: the id must be quoted, never coerced."""
    content = write_content(tmp_path)
    path = content / "cases" / "mini.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  d2:\n", "  yes:\n").replace("next: d2", "next: yes"), "utf-8")
    errors = validate_path(content)
    assert has(errors, "yes", "key yes is read by YAML as a boolean, not a string")
    assert has(errors, "yes", "write it in quotes ('yes')")
    for cid in ("d1-a", "d1-b", "d1-c"):
        assert has(errors, "d1", f"choice {cid}: next: YAML read True as a boolean, not a string")
    path.write_text(
        text.replace("  d2:\n", "  'yes':\n").replace("next: d2", "next: 'yes'"), "utf-8"
    )
    assert validate_path(content) == []


def test_duplicate_yaml_key_is_rejected(tmp_path: Path) -> None:
    content = write_content(tmp_path)
    path = content / "cases" / "mini.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines, "start: d1", ""]), encoding="utf-8")
    errors = validate_path(content)
    assert [str(e) for e in errors] == [
        f"{case_file(content)}: line {len(lines) + 1}: duplicate key start "
        "(YAML would silently keep only the last one)"
    ]


def test_invalid_yaml_and_non_mapping_files_are_rejected(tmp_path: Path) -> None:
    content = write_content(tmp_path)
    path = content / "cases" / "mini.yaml"
    path.write_text("schema_version: 1\nid: [mini\n", encoding="utf-8")
    (error,) = validate_path(content)
    assert error.file == case_file(content) and error.problem.startswith("not valid YAML: line ")
    path.write_text("- just\n- a list\n", encoding="utf-8")
    (error,) = validate_path(content)
    assert error.problem == "expected a mapping at the top, found a list"


def test_all_problems_are_collected_across_files(tmp_path: Path) -> None:
    def case(d: Doc) -> None:
        choice(d, "d1", 0)["next"] = "nowhere"
        node(d, "d2")["prompt"].pop("en")
        choice(d, "d1", 2).pop("note")
        node(d, "d2")["objectives"] = ["lo9"]

    def level(d: Doc) -> None:
        d["reflections"].reverse()
        d["objectives"][0]["label"]["en"] = ""

    content = write_content(tmp_path, case=case, level=level)
    with pytest.raises(ContentValidationError) as raised:
        load_level(content)
    errors = list(raised.value.errors)
    level_file = str(content / "level.yaml")
    expected = [
        ContentError(level_file, None, "objectives[lo1].label: English text (en) is empty"),
        ContentError(
            level_file,
            None,
            "reflections: exactly three are required, with ids steps, learned, delicate in this "
            "order; found: delicate, learned, steps",
        ),
        ContentError(case_file(content), "d2", "prompt: missing English text (en)"),
        ContentError(
            case_file(content), "d1", "choice d1-a: next names node nowhere, which does not exist"
        ),
        ContentError(
            case_file(content), "d1", "choice d1-c is critical but has no instructional note"
        ),
        ContentError(
            case_file(content),
            "d2",
            "objective lo9 is not declared in level.yaml (declared: lo1, lo2)",
        ),
    ]
    assert sorted(errors, key=str) == sorted(expected, key=str)
    message = str(raised.value)
    assert message.startswith("6 content problems:\n")
    assert all(str(e) in message for e in expected)


# --- broken level files -------------------------------------------------------------------------

BROKEN_LEVELS = [
    pytest.param(
        lambda d: d["reflections"].pop(),
        "reflections: exactly three are required",
        id="two-reflections",
    ),
    pytest.param(
        lambda d: d["reflections"][2].update(id="hardest"),
        "with ids steps, learned, delicate in this order; found: steps, learned, hardest",
        id="wrong-reflection-id",
    ),
    pytest.param(
        lambda d: d["objectives"][1]["label"].pop("en"),
        "objectives[lo2].label: missing English text (en)",
        id="objective-missing-english",
    ),
    pytest.param(
        lambda d: d["method_steps"].append(d["method_steps"][0]),
        "method_steps: id disclosure is declared more than once",
        id="duplicate-step",
    ),
    pytest.param(
        lambda d: d["endings"].pop("conforme"),
        "endings: missing required key 'conforme'",
        id="missing-ending-label",
    ),
    pytest.param(
        lambda d: d["reflections"][0].update(min_words=0),
        "reflections[steps].min_words: must be at least 1, found 0",
        id="min-words",
    ),
    pytest.param(
        lambda d: d["cases"].append("ghost"),
        "cases lists ghost, but ",
        id="missing-case-file",
    ),
]


@pytest.mark.parametrize(("mutation", "problem"), BROKEN_LEVELS)
def test_broken_level_is_rejected(tmp_path: Path, mutation: Mutation, problem: str) -> None:
    content = write_content(tmp_path, level=mutation)
    errors = validate_path(content)
    assert any(e.file == str(content / "level.yaml") and problem in e.problem for e in errors), (
        "\n".join(map(str, errors))
    )


def test_case_file_alone_is_checked_against_the_level_beside_it(tmp_path: Path) -> None:
    content = write_content(tmp_path, case=lambda d: node(d, "d1").update(objectives=["lo3"]))
    errors = validate_path(content / "cases" / "mini.yaml")
    assert [str(e) for e in errors] == [
        f"{case_file(content)}: node d1: objective lo3 is not declared in level.yaml "
        "(declared: lo1, lo2)"
    ]
    lonely = tmp_path / "lonely.yaml"
    lonely.write_text((MINIMAL / "cases" / "mini.yaml").read_text(encoding="utf-8"), "utf-8")
    (error,) = validate_path(lonely)
    assert "no level.yaml beside or above this case file" in error.problem


# --- error objects ------------------------------------------------------------------------------


def test_content_error_text() -> None:
    error = ContentError(
        "content/cases/case-1.yaml", "d3", "choice d3-b is critical but has no instructional note"
    )
    assert str(error) == (
        "content/cases/case-1.yaml: node d3: choice d3-b is critical but has no instructional note"
    )
    assert str(ContentError("content/level.yaml", None, "x")) == "content/level.yaml: x"
    exc = ContentValidationError([error])
    assert exc.errors == (error,)
    assert str(exc) == f"1 content problem:\n  {error}"


# --- command line -------------------------------------------------------------------------------


def test_cli_reports_file_node_and_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = write_content(tmp_path, case=lambda d: choice(d, "d1", 2).pop("note"))
    assert validate_command(str(content)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{case_file(content)}: node d1: choice d1-c is critical but has no instructional note",
        f"1 problem in {content}",
    ]


def test_cli_accepts_valid_content(capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_command(str(MINIMAL)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.strip().endswith(": valid, 1 case, 2 decisions")
    assert validate_command(str(MINIMAL / "cases" / "mini.yaml")) == 0
    assert capsys.readouterr().out.strip().endswith("mini.yaml: valid, 1 case, 2 decisions")


def test_cli_rejects_a_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_command(str(tmp_path / "nothing")) == 1
    assert "nothing: no such file or directory" in capsys.readouterr().err


def test_cli_default_path_is_overridable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LTI_TOOL_CONTENT_DIR", raising=False)
    assert default_content_dir() == CONTENT
    broken = write_content(tmp_path, case=lambda d: d.update(start="d7"))
    monkeypatch.setenv("LTI_TOOL_CONTENT_DIR", str(broken))
    assert default_content_dir() == broken
    assert validate_command(None) == 1
    assert "start names node d7, which does not exist" in capsys.readouterr().err
    monkeypatch.setenv("LTI_TOOL_CONTENT_DIR", str(MINIMAL))
    assert validate_command(None) == 0


def test_python_dash_m_runs_the_validator(tmp_path: Path) -> None:
    broken = write_content(tmp_path, case=lambda d: choice(d, "d1", 0).update(next="d9"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "lti_tool.cases.loader"]
    failed = subprocess.run(
        [*command, str(broken)], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert failed.returncode == 1
    assert "node d1: choice d1-a: next names node d9, which does not exist" in failed.stderr
    passed = subprocess.run(
        [*command, str(MINIMAL)], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.strip() == "tests/cases/fixtures/minimal: valid, 1 case, 2 decisions"


# --- load once per process ----------------------------------------------------------------------


def test_get_level_loads_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = write_content(tmp_path)
    clear_level_cache()
    try:
        first = get_level(content)
        (content / "cases" / "mini.yaml").write_text("not: [valid", encoding="utf-8")
        assert get_level(content) is first  # the YAML is not read again
        monkeypatch.setenv("LTI_TOOL_CONTENT_DIR", str(content))
        assert get_level() is first
        clear_level_cache()
        with pytest.raises(ContentValidationError):
            get_level(content)
    finally:
        clear_level_cache()


# --- upgrades -----------------------------------------------------------------------------------


def test_v0_case_is_upgraded_and_loads() -> None:
    level = load_level(MINIMAL)
    case = load_case_file(FIXTURES / "v0" / "mini.yaml", level)
    d1 = case.decision("d1")
    assert d1.prompt == Text(fr="Première décision\u202f?", en="First decision?")
    assert [c.text.en for c in d1.choices] == ["Best practice", "Acceptable", "Critical error"]
    assert d1.choices[2].consequence == Text(fr="Conséquence C.", en="Consequence C.")
    assert d1.choices[2].note == Text(fr="Note pédagogique.", en="Instructional note.")


def test_upgrade_v0_folds_only_the_declared_fields_and_keeps_the_input() -> None:
    doc = {
        "schema_version": 0,
        "debrief_fr": "x",
        "nodes": {
            "d1": {
                "prompt_fr": "Q ?",
                "prompt_en": "Q?",
                "ref_fr": "y",
                "choices": [{"text_fr": "A", "text_en": "A", "consequence_en": "C"}],
            }
        },
    }
    original = json.loads(json.dumps(doc))
    upgraded = upgrade(doc)
    assert doc == original
    assert upgraded["schema_version"] == CURRENT_VERSION == 1
    assert upgraded["debrief_fr"] == "x"  # not a v0 field: left for the schema to reject
    d1 = upgraded["nodes"]["d1"]
    assert d1["prompt"] == {"fr": "Q ?", "en": "Q?"} and d1["ref_fr"] == "y"
    assert d1["choices"][0] == {"text": {"fr": "A", "en": "A"}, "consequence": {"en": "C"}}
    assert upgrade_v0_to_v1({"nodes": "junk"}) == {"nodes": "junk"}


def test_upgrade_registry_covers_every_old_version() -> None:
    assert set(range(min(UPGRADES), CURRENT_VERSION)) <= set(UPGRADES)
    current = {"schema_version": CURRENT_VERSION, "id": "x"}
    assert upgrade(current) == current


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (2, "schema_version 2 is newer than this tool understands (it reads up to 1)"),
        (-1, "unknown schema_version -1 (known versions: 0, 1)"),
        ("1", "schema_version must be a whole number such as 1, got '1'"),
        (True, "schema_version must be a whole number such as 1, got True"),
        (None, "schema_version must be a whole number such as 1, got None"),
    ],
)
def test_unknown_versions_are_rejected(version: object, message: str) -> None:
    with pytest.raises(UpgradeError) as raised:
        upgrade({"schema_version": version})
    assert str(raised.value).startswith(message)


def test_missing_or_future_version_in_a_file_is_rejected(tmp_path: Path) -> None:
    content = write_content(tmp_path, case=lambda d: d.update(schema_version=7))
    assert [e.problem for e in validate_path(content)] == [
        "schema_version 7 is newer than this tool understands (it reads up to 1): update lti-tool, "
        "or write the file in version 1"
    ]
    content = write_content(tmp_path / "other", level=lambda d: d.pop("schema_version"))
    (error,) = validate_path(content)
    assert error.file == str(content / "level.yaml")
    assert error.problem == "missing schema_version: add `schema_version: 1` at the top of the file"
