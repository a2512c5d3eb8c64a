"""Landing pages after a launch: the learner's level home and the instructor's page."""
