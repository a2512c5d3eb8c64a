"""Console logs: one logfmt line per record, with the secrets that travel in URLs redacted.

- `configure(level)` (called by `create_app`) gives the tool's loggers (`lti_tool.*`) and
  werkzeug's request log (`lti-tool run`, `lti-tool demo`) one stderr handler, so the tool's INFO
  lines (launch accepted, registration done, refusals) reach the console under werkzeug and
  gunicorn alike. Running it again (tests build many apps) adds nothing.
- `RedactingFilter` replaces the values of `t=` (page token), `registration_token=`, `invite=`,
  `id_token=` and `state=` with `[redacted]` (and their percent-encoded forms, in a URL carried by
  another URL, with `%5Bredacted%5D`): a page token in an access log is a session anyone reading
  the log could open, until it expires. The console lines also drop werkzeug's terminal colours.
- `GunicornLogger` (`gunicorn --logger-class lti_tool.logs.GunicornLogger`, or
  `-c python:lti_tool.gunicorn_conf`) applies the same redaction to gunicorn's access and error
  logs.

Format (https://brandur.org/logfmt): `2026-12-05T04:00:00.123Z level=INFO logger=lti_tool.launch.views
msg="launch ok" platform=1 deployment=d-1 …` — a message's trailing `key=value` words become fields.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any, TextIO

from gunicorn import glogging

SECRET_PARAMS = ("t", "registration_token", "invite", "id_token", "state")
REDACTED = "[redacted]"
# `name=value` where name is a whole word (not the end of `format=`…); the value runs to the next
# separator of a URL, a form body, a log line or a quoted string.
_SECRET = re.compile(
    r"(?<![\w-])(" + "|".join(SECRET_PARAMS) + r")=(?!\[redacted\])[^&\s\"'<>;,]*"
)
# The same inside a percent-encoded URL (a `next=` or `target_link_uri=` carrying a page URL):
# `%3Ft%3D…` or `%26t%3D…`, the value running to the next escape (`%26` ends it).
_ENCODED_SECRET = re.compile(
    r"(%3[Ff]|%26)(" + "|".join(SECRET_PARAMS) + r")%3[Dd](?!%5Bredacted%5D)[^&%\s\"'<>;,]*"
)
ENCODED_REDACTED = "%5Bredacted%5D"
# werkzeug colours its request lines for a terminal; inside a logfmt value they are noise.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FIELDS = re.compile(r"^[\w.-]+=\S*(?: [\w.-]+=\S*)*$")
_FIRST_FIELD = re.compile(r" [\w.-]+=")
_BARE = re.compile(r"^[^\s\"=\\]+$")


def redact(text: str) -> str:
    if "%" in text:
        text = _ENCODED_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}%3D{ENCODED_REDACTED}", text)
    if "=" not in text:
        return text
    return _SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Redacts a record's message in place, so every handler after it sees the clean text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it itself
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def _quote(value: str) -> str:
    if value and _BARE.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "")
    return f'"{escaped}"'


class LogfmtFormatter(logging.Formatter):
    """`<UTC time> level=… logger=… msg="…" key=value…`, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        message = _ANSI.sub("", record.getMessage()).strip()
        fields = ""
        first = _FIRST_FIELD.search(message)
        if first is not None and _FIELDS.match(message[first.start() + 1 :]):
            message, fields = message[: first.start()], message[first.start() :]
        line = (
            f"{stamp}.{int(record.msecs):03d}Z level={record.levelname} logger={record.name} "
            f"msg={_quote(message)}{fields}"
        )
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            line += f" exc={_quote(record.exc_text)}"
        return redact(line)


class ConsoleHandler(logging.StreamHandler[TextIO]):
    """Writes to the current `sys.stderr` (looked up at each record, like logging's last resort,
    so a test's captured stderr or a reopened stream is followed)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(LogfmtFormatter())
        self.addFilter(RedactingFilter())

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


_HANDLER = ConsoleHandler()
_FILTER = RedactingFilter()


def configure(level: str | int = "INFO") -> None:
    """The tool's console logging; idempotent. A logger the operator already gave handlers
    (logging config of their own) is left as it is, redaction filter apart."""
    tool = logging.getLogger("lti_tool")
    tool.setLevel(level)
    werkzeug = logging.getLogger("werkzeug")
    if werkzeug.level == logging.NOTSET:
        werkzeug.setLevel(logging.INFO)  # what werkzeug itself sets on its first request line
    for logger in (tool, werkzeug):
        # Records originate on werkzeug's own logger (a logger filter sees them) but on children of
        # lti_tool (only handlers see those: the console handler redacts them in place).
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        if not logger.handlers:
            logger.addHandler(_HANDLER)


class GunicornLogger(glogging.Logger):
    """gunicorn's logger with the tool's redaction on its access and error logs."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.access_log, self.error_log):
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
