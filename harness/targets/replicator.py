"""kube-mgmt's replication role, for the local control plane: list and watch the kinds
policies consult in kube-apiserver and mirror them into OPA's data.kubernetes in the
layout kube-mgmt uses (<resource>/<namespace>/<name>, or <resource>/<name> for
cluster-scoped kinds).

kube-mgmt itself is what the kind and cluster targets deploy; the Go module proxy that
builds our other tools does not serve it, so on the local target this module plays its
part. What policies see is the same: real API objects, replicated asynchronously, so the
target waits (bounded) until an object it created has arrived in OPA.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from harness.infra.kubeapi import Query, api_base
from harness.model.manifests import KindInfo
from harness.targets.kube import replicated_path
from harness.targets.opa import OpaDataClient

WATCH_TIMEOUT_S = 5  # the server ends each watch after this; the loop checks for stop

# Server-side bookkeeping that no policy reads and that only bloats OPA's store.
_DROPPED_METADATA = ("managedFields",)


def collection_path(info: KindInfo) -> str:
    return f"{api_base(info.group, info.version)}/{info.resource}"


def _trim(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _DROPPED_METADATA}
    return {**obj, "metadata": meta}


def _layout(info: KindInfo, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A list response as the document kube-mgmt keeps under data.kubernetes.<resource>."""
    doc: dict[str, Any] = {}
    for item in items:
        meta = item["metadata"]
        if info.namespaced:
            doc.setdefault(meta["namespace"], {})[meta["name"]] = _trim(item)
        else:
            doc[meta["name"]] = _trim(item)
    return doc


# (method, path, query) -> raw urllib3 response; the local target supplies it.
Request = Callable[[str, str, Query], Any]


class Replicator:
    def __init__(
        self, request: Request, opa: Callable[[], OpaDataClient], kinds: dict[str, KindInfo]
    ) -> None:
        self._request = request
        self._opa = opa
        self.kinds = kinds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []

    def start(self) -> None:
        for info in self.kinds.values():
            thread = threading.Thread(
                target=self._run, args=(info,), name=f"replicate-{info.resource}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=WATCH_TIMEOUT_S + 5)
        self._threads = []

    def _run(self, info: KindInfo) -> None:
        opa = self._opa()
        try:
            while not self._stop.is_set():
                version = self._list(info, opa)
                self._watch(info, opa, version)
        except Exception as exc:  # the target reports it where it waits for replication
            self.errors.append(f"replicating {info.resource}: {exc}")
        finally:
            opa.close()

    def _list(self, info: KindInfo, opa: OpaDataClient) -> str:
        response = self._request("GET", collection_path(info), [])
        body = json.loads(response.read())
        opa.put(f"kubernetes/{info.resource}", _layout(info, body.get("items") or []))
        version: str = body["metadata"]["resourceVersion"]
        return version

    def _watch(self, info: KindInfo, opa: OpaDataClient, version: str) -> None:
        """Apply watch events until the server ends the watch cleanly (then keep going from
        the last version) or says the version is gone (then return, to list again)."""
        while not self._stop.is_set():
            query = [
                ("watch", "1"),
                ("resourceVersion", version),
                ("allowWatchBookmarks", "true"),
                ("timeoutSeconds", str(WATCH_TIMEOUT_S)),
            ]
            response = self._request("GET", collection_path(info), query)
            for event in _events(response):
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    return  # usually 410 Gone: list again
                version = obj.get("metadata", {}).get("resourceVersion", version)
                if event.get("type") in ("ADDED", "MODIFIED"):
                    opa.put(replicated_path(info, obj), _trim(obj))
                elif event.get("type") == "DELETED":
                    opa.delete(replicated_path(info, obj))


def _events(response: Any) -> Iterator[dict[str, Any]]:
    """Watch events, one JSON object per line of a chunked response."""
    buffer = b""
    for chunk in response.stream(4096):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)
