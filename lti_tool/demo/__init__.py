"""DEMO LMS — an LTI 1.3 platform for showing and testing the tool without a real LMS.

Built on the independent `lti1p3platform` package (its Flask front is views.py). It is a demo:
nothing in the production app imports this package; only `lti-tool demo` and the tests create it
(DESIGN.md §6). Its keys, users and grades are fake.
"""

from __future__ import annotations

from .app import create_demo_lms
from .registration import register_demo_lms
from .settings import DemoSettings

__all__ = ["DemoSettings", "create_demo_lms", "register_demo_lms"]
