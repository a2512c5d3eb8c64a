"""Helpers shared by the test suites: loopback servers and a browserless LTI launch driver."""
