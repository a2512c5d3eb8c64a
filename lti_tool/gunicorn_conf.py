"""gunicorn settings for the tool: `gunicorn -c python:lti_tool.gunicorn_conf 'lti_tool:create_app()'`.

The access log goes to stdout with page tokens, registration tokens, invitations, id_tokens and
login states redacted (lti_tool/logs.py); the tool's own lines go to stderr, one logfmt line each.
Command-line options still win (`-w 4 -b 127.0.0.1:8000 --access-logfile /var/log/…`).
"""

logger_class = "lti_tool.logs.GunicornLogger"
accesslog = "-"
