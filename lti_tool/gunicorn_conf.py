"""gunicorn settings for the tool: `gunicorn -c python:lti_tool.gunicorn_conf 'lti_tool:create_app()'`.

The access log goes to stdout with page tokens, registration tokens, invitations, id_tokens and
login states redacted (lti_tool/logs.py); the tool's own lines go to stderr, one logfmt line each.
Command-line options still win (`-w 4 -b 127.0.0.1:8000 --access-logfile /var/log/…`).

granian serves the same app for less CPU per request (bench/launch.py prints both):
`granian --interface wsgi --factory --workers 4 --host 127.0.0.1 --port 8000 lti_tool:create_app`,
or `lti-tool run --server granian --workers 4`; its access log stays off (it would not redact).
"""

logger_class = "lti_tool.logs.GunicornLogger"
accesslog = "-"
