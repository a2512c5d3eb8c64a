"""The AGS request the tool builds: the scores URL beside a query string, the score body, the
Canvas submission extension (per-LMS details in launch/platforms.py)."""

from __future__ import annotations

from lti_tool.grading.ags import ScorePost, score_body, scores_url, truncate
from lti_tool.launch.platforms import CANVAS_SUBMISSION_EXTENSION

POST = ScorePost(user_id="u-1", activity_progress="InProgress", grading_progress="FullyGraded",
                 timestamp="2026-01-02T03:04:05.006000+00:00", score_given=66.67,
                 score_maximum=100.0, comment="Niveau Architecte\u00a0: 2 cas réussis sur 3")


def test_scores_url_keeps_the_line_items_query_string() -> None:
    assert scores_url("https://lms.example/mod/lti/services.php/2/lineitems/7/lineitem?type_id=3") \
        == "https://lms.example/mod/lti/services.php/2/lineitems/7/lineitem/scores?type_id=3"
    assert scores_url("https://lms.example/api/lineitems/7/") == "https://lms.example/api/lineitems/7/scores"


def test_score_body_generic_and_moodle_have_no_extension() -> None:
    for family in ("generic", "moodle", None):
        body = score_body(POST, family)
        assert body == {
            "userId": "u-1", "activityProgress": "InProgress", "gradingProgress": "FullyGraded",
            "timestamp": POST.timestamp, "scoreGiven": 66.67, "scoreMaximum": 100.0,
            "comment": POST.comment,
        }


def test_a_score_without_grade_sends_no_score_members() -> None:
    started = ScorePost(user_id="u-1", activity_progress="Started", grading_progress="NotReady",
                        timestamp=POST.timestamp)
    assert set(score_body(started, "moodle")) == {"userId", "activityProgress", "gradingProgress",
                                                  "timestamp"}


def test_canvas_gets_its_submission_extension() -> None:
    in_progress = score_body(POST, "canvas")[CANVAS_SUBMISSION_EXTENSION]
    assert in_progress == {"new_submission": False}  # no submission to grade for each case
    done = ScorePost(**{**POST.__dict__, "activity_progress": "Completed"})
    assert score_body(done, "canvas")[CANVAS_SUBMISSION_EXTENSION] == {
        "new_submission": True, "submission_type": "basic_lti_launch",
        "submitted_at": POST.timestamp}


def test_the_lms_answer_is_truncated_on_one_line() -> None:
    assert truncate("a\nb   c") == "a b c"
    assert len(truncate("x" * 5000)) == 500
