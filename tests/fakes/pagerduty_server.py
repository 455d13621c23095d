"""A local PagerDuty REST API v2 server with state, over TLS (the client refuses http).

Contract: `Authorization: Token token=KEY`, `Accept: application/vnd.pagerduty+json;version=2`,
classic pagination (`limit`, `offset`, `more`, `total`), array parameters written
`statuses[]=…`. Incidents can be triggered from a test and acknowledged or resolved
through `PUT /incidents/{id}`; `GET /oncalls` answers from a roster per escalation policy.

The Events API v2 change events (`POST /v2/change/enqueue`, events.pagerduty.com) are
served on the same port: authenticated by the body's `routing_key`, answered 202
`{"status": "success", "message": "Change event processed"}`, kept in `change_events`;
`fail_change_events` answers that many next ones 503 (the API's "retry later").
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from typing import Any

from tests.fakes.webhook_server import FakeHttpServer, RecordedRequest, Response, json_response

ACCEPT = "application/vnd.pagerduty+json;version=2"


def tls_context(ca: Any, host: str = "127.0.0.1") -> ssl.SSLContext:
    """A server TLS context with a certificate for `host` issued by a trustme CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host).configure_cert(context)
    return context


class PagerDutyServer(FakeHttpServer):
    """Incidents, on-calls and abilities of PagerDuty's REST API v2."""

    def __init__(self, ca: Any, token: str, *, routing_key: str = "R0UTINGKEY") -> None:
        super().__init__(tls=tls_context(ca))
        self.token = token
        self.routing_key = routing_key
        self.incidents: dict[str, dict[str, Any]] = {}
        self.oncalls: dict[str, list[dict[str, Any]]] = {}
        self.change_events: list[dict[str, Any]] = []
        """Accepted change events as sent (routing key included), oldest first."""
        self.fail_change_events = 0

    # -- state set-up -----------------------------------------------------------------
    def trigger(self, title: str, service_id: str, *, urgency: str = "high") -> dict[str, Any]:
        """Open an incident on a service (as an alert would)."""
        with self.lock:
            number = len(self.incidents) + 1
            iid = f"Q{number:05d}"
            incident = {
                "id": iid,
                "type": "incident",
                "incident_number": number,
                "title": title,
                "summary": f"[#{number}] {title}",
                "status": "triggered",
                "urgency": urgency,
                "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "service": {
                    "id": service_id,
                    "type": "service_reference",
                    "summary": f"service {service_id}",
                },
                "self": f"{self.url}/incidents/{iid}",
                "html_url": f"{self.url}/incidents/{iid}",
            }
            self.incidents[iid] = incident
        return incident

    def put_on_call(self, policy_id: str, name: str, email: str, level: int = 1) -> None:
        """Somebody on call for an escalation policy."""
        with self.lock:
            self.oncalls.setdefault(policy_id, []).append(
                {
                    "escalation_policy": {
                        "id": policy_id,
                        "type": "escalation_policy_reference",
                        "summary": f"policy {policy_id}",
                    },
                    "escalation_level": level,
                    "user": {
                        "id": f"U{len(self.oncalls[policy_id])}",
                        "type": "user",
                        "summary": name,
                        "email": email,
                    },
                    "start": "2026-01-01T00:00:00Z",
                    "end": None,
                }
            )

    # -- requests ---------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Response:
        if request.path.rstrip("/") == "/v2/change/enqueue" and request.method == "POST":
            with self.lock:
                return self._enqueue_change(request)
        if request.headers.get("authorization") != f"Token token={self.token}":
            return json_response(401, {"error": {"message": "Unauthorized", "code": 2006}})
        if request.headers.get("accept") != ACCEPT:
            return json_response(406, {"error": {"message": "Not Acceptable", "code": 2001}})
        path = request.path.rstrip("/")
        with self.lock:
            if path == "/incidents" and request.method == "GET":
                return self._list_incidents(request.query)
            if path.startswith("/incidents/") and request.method == "PUT":
                return self._update_incident(path.rsplit("/", 1)[1], request.json())
            if path == "/oncalls" and request.method == "GET":
                return self._list_oncalls(request.query)
            if path == "/abilities" and request.method == "GET":
                return json_response(200, {"abilities": ["teams", "read_only_users"]})
        return json_response(404, {"error": {"message": "Not Found", "code": 2100}})

    def _enqueue_change(self, request: RecordedRequest) -> Response:
        try:
            event = request.json()
        except ValueError:
            event = None
        if not isinstance(event, dict):
            return json_response(400, {"status": "invalid event", "message": "Bad JSON"})
        if event.get("routing_key") != self.routing_key:
            # The API accepts any well-formed key and drops events for unknown ones; a
            # test wants to see the mistake, so this server refuses it.
            return json_response(400, {"status": "invalid event", "errors": ["routing_key"]})
        payload = event.get("payload")
        summary = payload.get("summary") if isinstance(payload, dict) else None
        if not isinstance(summary, str) or not summary or len(summary) > 1024:
            invalid = {"status": "invalid event", "errors": ["payload.summary is required"]}
            return json_response(400, invalid)
        if self.fail_change_events > 0:
            self.fail_change_events -= 1
            return json_response(503, {"status": "unavailable"})
        self.change_events.append(event)
        return json_response(202, {"status": "success", "message": "Change event processed"})

    @staticmethod
    def _page(wrapper: str, items: list[dict[str, Any]], query: dict[str, list[str]]) -> Response:
        limit = int((query.get("limit") or ["25"])[0])
        offset = int((query.get("offset") or ["0"])[0])
        page = items[offset : offset + limit]
        document: dict[str, Any] = {
            wrapper: page,
            "limit": limit,
            "offset": offset,
            "more": offset + len(page) < len(items),
        }
        if (query.get("total") or ["false"])[0] == "true":
            document["total"] = len(items)
        return json_response(200, document)

    def _list_incidents(self, query: dict[str, list[str]]) -> Response:
        statuses = set(query.get("statuses[]") or [])
        services = set(query.get("service_ids[]") or [])
        found = [
            incident
            for incident in self.incidents.values()
            if (not statuses or incident["status"] in statuses)
            and (not services or incident["service"]["id"] in services)
        ]
        return self._page("incidents", found, query)

    def _update_incident(self, iid: str, body: dict[str, Any]) -> Response:
        incident = self.incidents.get(iid)
        update = (body or {}).get("incident") or {}
        if incident is None:
            return json_response(404, {"error": {"message": "Not Found", "code": 2100}})
        status = update.get("status")
        if status not in (None, "acknowledged", "resolved"):
            invalid = {"error": {"message": "Invalid Input Provided", "code": 2001}}
            return json_response(400, invalid)
        if status:
            incident["status"] = status
        return json_response(200, {"incident": incident})

    def _list_oncalls(self, query: dict[str, list[str]]) -> Response:
        policies = query.get("escalation_policy_ids[]") or list(self.oncalls)
        found = [entry for policy in policies for entry in self.oncalls.get(policy, [])]
        return self._page("oncalls", found, query)
