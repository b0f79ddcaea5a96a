"""What the smoke test (infra/e2e/smoke.py) talks to, beyond the fakes tests/support already has.

- `FakeAirbyteJobs`: tests/support's FakeAirbyte with Airbyte's jobs API (`POST /jobs` starts a sync of a
  connection that exists, `GET /jobs/{id}` answers `pending`, then `running`, then the outcome set for it).
- `FakeSuperset`: Superset's login (`POST /api/v1/security/login`, a JWT for the `db` provider), the dashboard
  list with a rison `dashboard_title` filter, and a dashboard's charts; every other path is a 404.
- `KUBECTL`: a kubectl stand-in (a Python script) that creates a Job from the dbt runner's CronJob in a state file
  and reports it complete, or failed, after two polls; `logs` prints the runner's last lines.
- `FLIGHT_SERVER`: an Arrow Flight server (pyarrow.flight) with TLS and basic authentication, as Dremio serves
  Flight: it answers one gold mart query with the rows it was given.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.airbyte_server import FakeAirbyte, Reject
from tests.support.fake_https import serve_https
from tests.support.tls import TestPki


class FakeAirbyteJobs(FakeAirbyte):
    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[int, dict[str, Any]] = {}
        self.outcome = "succeeded"

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        parts = path.removeprefix("/api/public/v1").strip("/").split("/")
        if parts[0] != "jobs":
            return super().handle(method, path, query, body)
        if len(parts) == 1 and method == "POST":
            if not isinstance(body, dict) or body.get("jobType") not in ("sync", "reset"):
                raise Reject(400, "jobType must be sync or reset")
            if body.get("connectionId") not in self.state.connections:
                raise Reject(404, f"connection {body.get('connectionId')} not found")
            job_id = len(self.jobs) + 1
            self.jobs[job_id] = {"jobId": job_id, "status": "pending", "jobType": body["jobType"],
                                 "startTime": "2026-01-01T00:00:00Z", "connectionId": body["connectionId"],
                                 "polls": 0}
            return 200, _job(self.jobs[job_id])
        if len(parts) == 2 and method == "GET" and parts[1].isdigit() and int(parts[1]) in self.jobs:
            job = self.jobs[int(parts[1])]
            job["polls"] += 1
            job["status"] = "running" if job["polls"] == 1 else self.outcome
            if job["status"] == "succeeded":
                job.update(rowsSynced=6, bytesSynced=1024)
            return 200, _job(job)
        raise Reject(404, f"no route {method} {path}")


def _job(job: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in job.items() if key != "polls"}


class FakeSuperset:
    USER = ("platform-admin", "admin-password-for-tests")

    def __init__(self, dashboards: dict[str, int]) -> None:
        self.dashboards = dashboards
        """title -> number of charts."""
        self.tokens: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self.url = ""

    @classmethod
    @contextmanager
    def start(cls, pki: TestPki, dashboards: dict[str, int]) -> Iterator[FakeSuperset]:
        fake = cls(dashboards)
        with serve_https(_superset_handler(fake), pki) as fake.url:
            yield fake

    def answer(self, method: str, path: str, query: str, body: Any, token: str) -> tuple[int, Any]:
        if (method, path) == ("POST", "/api/v1/security/login"):
            if (body.get("username"), body.get("password")) != self.USER or body.get("provider") != "db":
                return 401, {"message": "Not authorized"}
            issued = uuid.uuid4().hex
            self.tokens.add(issued)
            return 200, {"access_token": issued}
        if token not in self.tokens:
            return 401, {"msg": "Missing Authorization Header"}
        listed = [{"id": number, "dashboard_title": title} for number, title in enumerate(self.dashboards, 1)]
        if (method, path) == ("GET", "/api/v1/dashboard/"):
            rison = unquote(parse_qs(query).get("q", [""])[0])
            wanted = re.search(r"col:dashboard_title,opr:eq,value:'((?:[^'!]|!.)*)'", rison)
            if wanted:
                title = re.sub(r"!(.)", r"\1", wanted.group(1))
                listed = [item for item in listed if item["dashboard_title"] == title]
            return 200, {"count": len(listed), "result": listed}
        found = re.fullmatch(r"/api/v1/dashboard/(\d+)/charts", path)
        if method == "GET" and found and 0 < int(found.group(1)) <= len(listed):
            charts = list(self.dashboards.values())[int(found.group(1)) - 1]
            return 200, {"result": [{"id": number, "slice_name": f"chart {number}"} for number in range(charts)]}
        return 404, {"message": "Not found"}


def _superset_handler(fake: FakeSuperset) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else {}
            fake.requests.append((self.command, self.path))
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            status, answer = fake.answer(self.command, split.path, split.query, body, token)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve  # noqa: N815 (http.server's names)

    return Handler


KUBECTL = r'''
import json, os, sys
from pathlib import Path

state_file = Path(os.environ["FAKE_KUBECTL_STATE"])
state = json.loads(state_file.read_text()) if state_file.exists() else {"calls": [], "jobs": {}}
args = sys.argv[1:]
state["calls"].append(args)
namespace = args[args.index("--namespace") + 1] if "--namespace" in args else "default"
rest = [arg for index, arg in enumerate(args)
        if arg != "--namespace" and (index == 0 or args[index - 1] != "--namespace")]
outcome = os.environ.get("FAKE_KUBECTL_OUTCOME", "Complete")
code = 0
if rest[:2] == ["create", "job"]:
    name, source = rest[2], rest[3]
    if namespace != "dp-lakehouse" or source != "--from=cronjob/batch":
        print(f'Error from server (NotFound): cronjobs.batch "{source}" not found', file=sys.stderr)
        code = 1
    else:
        state["jobs"][name] = 0
        print(f"job.batch/{name} created")
elif rest[:2] == ["get", "job"] and rest[2] in state["jobs"]:
    state["jobs"][rest[2]] += 1
    polls = state["jobs"][rest[2]]
    status = {"active": 1} if polls < 2 else (
        {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]} if outcome == "Complete"
        else {"failed": 2, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]})
    print(json.dumps({"kind": "Job", "metadata": {"name": rest[2], "namespace": namespace}, "status": status}))
elif rest[:1] == ["logs"] and "--all-containers" in rest:
    print("dbt: Completed with 1 error and 0 warnings")
else:
    print(f"fake kubectl: unexpected {args}", file=sys.stderr)
    code = 1
state_file.write_text(json.dumps(state))
sys.exit(code)
'''


FLIGHT_SERVER = r'''
import base64, sys
import pyarrow as pa
from pyarrow import flight

cert, key, user, password, mart = sys.argv[1:6]


class Auth(flight.ServerMiddlewareFactory):
    def start_call(self, info, headers):
        value = (headers.get("authorization") or [""])[0]
        if value.startswith("Basic "):
            given = base64.b64decode(value[6:]).decode()
            if given != f"{user}:{password}":
                raise flight.FlightUnauthenticatedError("invalid credentials")
            return Bearer("token-for-tests")
        if value == "Bearer token-for-tests":
            return None
        raise flight.FlightUnauthenticatedError("no credentials")


class Bearer(flight.ServerMiddleware):
    def __init__(self, token):
        self.token = token

    def sending_headers(self):
        return {"authorization": f"Bearer {self.token}"}


class NoHandshakeCheck(flight.ServerAuthHandler):
    """Dremio's handshake: the client's basic credentials are checked by the middleware above."""

    def authenticate(self, outgoing, incoming):
        pass

    def is_valid(self, token):
        return ""


class Server(flight.FlightServerBase):
    table = pa.table({"order_date": ["2026-12-01", "2026-12-02"], "revenue": [30.0, 12.5]})

    def get_flight_info(self, context, descriptor):
        sql = descriptor.command.decode()
        if sql != f"SELECT * FROM {mart}":
            raise flight.FlightServerError(f"unexpected query {sql}")
        return flight.FlightInfo(self.table.schema, descriptor, [flight.FlightEndpoint(b"mart", [])],
                                 self.table.num_rows, -1)

    def do_get(self, context, ticket):
        return flight.RecordBatchStream(self.table)


with open(cert, "rb") as c, open(key, "rb") as k:
    server = Server("grpc+tls://127.0.0.1:0", tls_certificates=[(c.read(), k.read())],
                    auth_handler=NoHandshakeCheck(), middleware={"auth": Auth()})
print(server.port, flush=True)
server.serve()
'''
