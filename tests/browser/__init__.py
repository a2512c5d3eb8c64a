"""Browser tests: the tool served over HTTP, launched from the demo LMS page in headless Chromium."""
