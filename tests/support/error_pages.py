"""Reading a refusal page's reference, and the log line it points to (lti_tool/errors.py)."""

from __future__ import annotations

import re

import pytest

# "Référence : ABC-123" (a no-break space before the colon in French) or "Reference: ABC-123".
_REFERENCE = re.compile(r"R[ée]f[ée]rence[\s\u00a0]*:[\s\u00a0]*([A-Z0-9]{3}-[A-Z0-9]{3})")


def reference_of(page: str) -> str:
    found = _REFERENCE.search(page)
    assert found, f"no reference on the page: {page[:1500]}"
    return found.group(1)


def logged_for(caplog: pytest.LogCaptureFixture, page: str) -> str:
    """The log lines of the refusal whose reference the page shows (one, normally)."""
    ref = reference_of(page)
    lines = [r.getMessage() for r in caplog.records if f"ref={ref}" in r.getMessage()]
    assert lines, f"no log line with ref={ref}"
    return "\n".join(lines)
