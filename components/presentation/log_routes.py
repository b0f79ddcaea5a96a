"""What Superset ships to the logs layer: its events into the audit trail, its responses as a series.

Every container log of Superset's namespace is claimed. Gunicorn's access-log lines of the web pods (the default
format, which Superset's run-server.sh writes to stdout) are re-tagged `superset.access`, counted into RESPONSES
by the status code's first digit (kubelet probes of `/health` are not counted) and never shipped to an index.
Of the rest, only the lines Superset's event logger prints (components/presentation/spec.py: one JSON object per
line starting with EVENT_KEY, already in the audit trail's field names) are shipped.
"""

from __future__ import annotations

from components.logs import shipping
from infra.model.naming import namespace_name

EVENT_TAG = "superset.event"
EVENT_KEY = "superset_event"
ACCESS_TAG = "superset.access"
ROUTE = shipping.audit_route(EVENT_TAG)
# Gunicorn's default access-log format (`%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`): the path
# without its query string, and the status code's class.
GUNICORN_ACCESS = shipping.Parser("gunicorn_access", {
    "Format": "regex",
    "Regex": r'^\S+ \S+ .*?\[[^\]]+\] "(?<method>[A-Z]+) (?<path>[^ "?]*)[^"]*" (?<status_class>[1-5])\d\d\b',
})
# What routes a line to ACCESS_TAG: host, ident, user, [time], "METHOD (no spaces: rewrite_tag splits its rule on
# them).
GUNICORN_ACCESS_LINE = r'^\S+\s\S+\s\S+\s\[[^\]]+\]\s"[A-Z]+\s'
RESPONSES = shipping.LogMetric(
    name="superset_http_responses_total", mode="counter", match=ACCESS_TAG,
    description="Responses of Superset's web server by status class (first digit), from gunicorn's access log.",
    labels=("status_class",),
    # Exclude before Regex: a matching Regex rule counts the record at once.
    rules=(("Exclude", "path", r"^/health$"), ("Regex", "status_class", r"^[1-5]$")),
    discard_logs=True,
)

LOG_SOURCE = shipping.LogSource(
    name="presentation",
    claims=(shipping.claim(*shipping.container_of(namespace=namespace_name("presentation")), EVENT_TAG),),
    parsers=(GUNICORN_ACCESS, shipping.JSON_LINE),
    routes=(ROUTE,),
    metrics=(RESPONSES,),
    filters=(
        shipping.retag(EVENT_TAG, f"$log {GUNICORN_ACCESS_LINE} {ACCESS_TAG} false", "superset_access_emitter"),
        shipping.parse(ACCESS_TAG, "log", GUNICORN_ACCESS),
        RESPONSES.section(),
        shipping.section("FILTER", [("Name", "grep"), ("Match", EVENT_TAG), ("Regex", f'log ^\\{{"{EVENT_KEY}"')]),
        shipping.parse(EVENT_TAG, "log", shipping.JSON_LINE),
        shipping.modify(EVENT_TAG, {EVENT_KEY: "action"}, {"source": "superset", "class": "event"}),
        shipping.allow(ROUTE),
    ),
)
