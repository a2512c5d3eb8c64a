"""Grades back to the LMS (issue 7): scores (LTI AGS), the outbox that delivers them, the worker,
and the instructor's view. See /docs DESIGN.md §4.3 and the module docstrings."""
