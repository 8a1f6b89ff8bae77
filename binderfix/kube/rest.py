"""The Kubernetes REST API spoken directly: a path, a query, a JSON body, a JSON answer.

Why not the client's generated ``CoreV1Api``: importing its module costs 0.75 s on a
2-core machine, longer than a no-change deploy spends on all 20 nodes' facts, and every
command paid it at start-up. binderfix reads objects as plain JSON anyway (one odd object in
a real cluster cannot fail a listing). The client's ``ApiClient`` still does what matters:
the kubeconfig's credentials (tokens, exec plugins, client certificates, refreshed as the
client refreshes them), TLS, the connection pool, the retry policy, and ``ApiException`` on a
refusal, so every error message stays the same.

    api = Rest(api_client)
    pods = api.get_json("/api/v1/namespaces/prod/pods", {"labelSelector": "app=binder"}, (10, 10))
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

Object = dict[str, Any]
Query = Mapping[str, Any] | Sequence[tuple[str, Any]]
Timeout = float | tuple[float, float] | None


def path(*parts: str) -> str:
    """``/api/v1/namespaces/prod/pods/NAME``: each part quoted, so a name is never a path."""
    return "/".join(quote(p, safe="") if i else p for i, p in enumerate(parts))


def _query_string(query: Query | None) -> str:
    pairs = list(query.items()) if isinstance(query, Mapping) else list(query or ())
    kept = [(k, _text(v)) for k, v in pairs if v not in (None, "")]
    return urlencode(kept)


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


class Rest:
    """Requests to one API server with one kubernetes ``ApiClient``'s credentials and pool."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    @property
    def configuration(self) -> Any:
        return self.api_client.configuration

    @property
    def host(self) -> str:
        return str(self.configuration.host)

    def _serialize(
        self, method: str, resource: str, query: Query | None, body: Any, content_type: str
    ) -> tuple[str, str, dict[str, str], Any, Any]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        method, url, headers, body, post = self.api_client.param_serialize(
            method=method,
            resource_path=resource,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        qs = _query_string(query)
        return method, f"{url}?{qs}" if qs else url, headers, body, post

    def request(
        self,
        method: str,
        resource: str,
        query: Query | None = None,
        body: Any = None,
        timeout: Timeout = None,
        content_type: str = "application/json",
    ) -> Any:
        """The raw ``urllib3`` response of a 2xx answer (read it, stream it, or
        ``release_conn()`` it); any other status raises the client's ``ApiException``, with
        the API's Status body, as the generated methods do."""
        from kubernetes.client.exceptions import ApiException

        serialized = self._serialize(method, resource, query, body, content_type)
        response = self.api_client.call_api(*serialized, _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    def get_json(
        self, resource: str, query: Query | None = None, timeout: Timeout = None
    ) -> Object:
        return json.loads(self.request("GET", resource, query, timeout=timeout).data)

    def send_json(
        self,
        method: str,
        resource: str,
        body: Object,
        query: Query | None = None,
        timeout: Timeout = None,
        content_type: str = "application/json",
    ) -> Object:
        """POST, PUT, PATCH or DELETE ``body``; the object the API answers with."""
        response = self.request(method, resource, query, body, timeout, content_type)
        return json.loads(response.data or b"{}")

    def websocket(self, resource: str, query: Query, binary: bool = False) -> Any:
        """A connected ``WSClient`` for a streaming subresource (``pods/NAME/exec``), with
        this client's credentials; a refused handshake raises ``ApiException`` (status 0,
        the handshake's status in its text), as ``kubernetes.stream`` does."""
        from kubernetes.stream import ws_client

        method, url, headers, _, _ = self._serialize("GET", resource, query, None, "")
        return ws_client.websocket_call(
            self.configuration, method, url, headers=headers, _preload_content=False, binary=binary
        )

    def close(self) -> None:
        self.api_client.close()
