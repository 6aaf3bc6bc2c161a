"""Raw requests to kube-apiserver through the kubernetes client's ApiClient: its
kubeconfig handling and authentication, without its typed models (which rename fields
to snake_case; policies read the JSON form the API server sends to webhooks)."""

from __future__ import annotations

import json
from typing import Any

import urllib3

# A request's query parameters, (name, value) in order.
Query = list[tuple[str, str]]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def api_base(group: str, version: str) -> str:
    """Where kube-apiserver serves a group/version (the core group has no name)."""
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def open_request(
    api: Any,
    method: str,
    path: str,
    body: Any = None,
    query: Query | None = None,
    content_type: str = "application/json",
    timeout: float | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """The raw urllib3 response, body unread (watches stream it). An API server that
    does not answer is an ApiError with status 0, so callers have one error to handle."""
    request = api.param_serialize(
        method=method,
        resource_path=path,
        query_params=query or [],
        body=body,
        header_params={
            "Content-Type": content_type,
            "Accept": "application/json",
            **(headers or {}),
        },
        auth_settings=["BearerToken"],
    )
    try:
        return api.call_api(*request, _request_timeout=timeout).response
    except urllib3.exceptions.HTTPError as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ApiError(
            0, f"{request[1]} does not answer: {' '.join(str(reason).split())}"
        ) from None


def request(
    api: Any,
    method: str,
    path: str,
    body: Any = None,
    query: Query | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> bytes:
    """The response body; an error status raises ApiError with the Status message."""
    response = open_request(api, method, path, body, query, content_type, headers=headers)
    data: bytes = response.read()
    if response.status >= 400:
        raise ApiError(response.status, status_message(data))
    return data


def status_message(data: bytes | None) -> str:
    """The message of a Kubernetes Status body."""
    try:
        return json.loads(data or b"{}").get("message", "") or (data or b"").decode()[:200]
    except (ValueError, UnicodeDecodeError):
        return repr((data or b"")[:200])
