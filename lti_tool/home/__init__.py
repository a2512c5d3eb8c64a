"""The instructor's landing page (learners land on the case player's level home, lti_tool/cases)."""
