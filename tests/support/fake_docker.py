"""A small fake of the Docker Engine HTTP API, served on a unix socket, for testing the executor's
Docker backend on machines without a Docker engine.

It speaks real HTTP, so the backend is tested through the Docker SDK it uses in production:
`docker.DockerClient(base_url=fake.base_url)`. Only what the backend calls is implemented: ping and
version; image inspect and pull; container create, start, inspect, stop, delete and list (label
filters); network inspect and create; and the event stream (JSON lines, filtered by type, event
and label). Any `/v1.NN/` prefix is accepted. State lives in memory.

Tests arrange and observe through plain attributes and hooks: `images` (present locally),
`registry` (pullable), `containers`, `networks`, `requests` (method and path of every call),
`reserved_ports` (host ports some other process holds), `kill()` (the container's process exits:
`oom`/`die` events, then auto-removal with a `destroy` event) and `vanish()` (the container
disappears without any event).
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import shutil
import socketserver
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

API_VERSION = "1.45"
FIRST_HOST_PORT = 32768
_END = object()  # ends an event stream


class _Subscriber:
    def __init__(self, filters: dict[str, list[str]]) -> None:
        self.filters = filters
        self.events: queue.Queue[Any] = queue.Queue()

    def wants(self, event: dict[str, Any]) -> bool:
        attributes = event["Actor"]["Attributes"]
        for key, wanted in self.filters.items():
            if key == "type" and event["Type"] not in wanted:
                return False
            if key == "event" and event["Action"] not in wanted:
                return False
            if key == "label":
                for label in wanted:
                    name, has_value, value = label.partition("=")
                    if name not in attributes or (has_value and attributes[name] != value):
                        return False
        return True


def _rfc3339_nano(nanoseconds: int) -> str:
    """A time as the engine writes "Created": RFC 3339 in UTC, the fraction's trailing zeros cut."""
    seconds, fraction = divmod(nanoseconds, 10**9)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


class FakeDocker:
    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="fake-docker-")  # short: unix socket paths are limited
        self.socket_path = os.path.join(self._dir, "docker.sock")
        self.base_url = f"unix://{self.socket_path}"
        self.lock = threading.RLock()
        self.images: set[str] = set()
        self.registry: set[str] = set()
        self.containers: dict[str, dict[str, Any]] = {}
        self.networks: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.reserved_ports: set[str] = set()
        self._next_port = FIRST_HOST_PORT
        self._subscribers: list[_Subscriber] = []
        self._add_network("bridge")
        self._server = _Server(self.socket_path, _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeDocker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self.lock:
            for subscriber in self._subscribers:
                subscriber.events.put(_END)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        shutil.rmtree(self._dir, ignore_errors=True)

    # --- hooks and queries for tests -------------------------------------------------------

    def kill(self, ident: str, *, exit_code: int = 137, oom: bool = False) -> None:
        """The container's main process exits (as if killed); auto-remove then deletes it."""
        with self.lock:
            container = self.find(ident)
            assert container is not None and container["State"]["Running"], f"{ident} is not running"
            if oom:
                container["State"]["OOMKilled"] = True
                self._emit(container, "oom")
            self._exit(container, exit_code)

    def vanish(self, ident: str) -> None:
        """The container is gone and no event says so (the events were missed)."""
        with self.lock:
            container = self.find(ident)
            assert container is not None, ident
            del self.containers[container["Id"]]

    def find(self, ident: str) -> dict[str, Any] | None:
        """A container by id, name or id prefix, like the engine resolves them."""
        with self.lock:
            if ident in self.containers:
                return self.containers[ident]
            for container in self.containers.values():
                if container["Name"] == "/" + ident.lstrip("/"):
                    return container
            matches = [c for c in self.containers.values() if c["Id"].startswith(ident)]
            return matches[0] if len(matches) == 1 else None

    def with_label(self, key: str, value: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.containers.values() if c["Config"]["Labels"].get(key) == value]

    def count(self, method: str, path_pattern: str) -> int:
        """How many requests had this method and a path (without the version) matching the regex."""
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and re.fullmatch(path_pattern, p))

    # --- engine behaviour -----------------------------------------------------------------

    def _add_network(self, name: str, driver: str = "bridge") -> dict[str, Any]:
        network = {"Name": name, "Id": secrets.token_hex(32), "Driver": driver, "Scope": "local"}
        self.networks[network["Id"]] = network
        return network

    def _network(self, ident: str) -> dict[str, Any] | None:
        for network in self.networks.values():
            if ident in (network["Name"], network["Id"]):
                return network
        return None

    def _emit(self, container: dict[str, Any], action: str, **attributes: str) -> None:
        event = {
            "Type": "container",
            "Action": action,
            "status": action,
            "id": container["Id"],
            "from": container["Config"]["Image"],
            "Actor": {
                "ID": container["Id"],
                "Attributes": {
                    **container["Config"]["Labels"],
                    "image": container["Config"]["Image"],
                    "name": container["Name"].lstrip("/"),
                    **attributes,
                },
            },
            "scope": "local",
            "time": int(time.time()),
            "timeNano": time.time_ns(),
        }
        for subscriber in self._subscribers:
            if subscriber.wants(event):
                subscriber.events.put(event)

    def _exit(self, container: dict[str, Any], exit_code: int) -> None:
        state = container["State"]
        state.update(Status="exited", Running=False, ExitCode=exit_code, Pid=0)
        container["NetworkSettings"]["Ports"] = {}
        self._emit(container, "die", exitCode=str(exit_code))
        if container["HostConfig"].get("AutoRemove"):
            del self.containers[container["Id"]]
            self._emit(container, "destroy")

    def _allocated_ports(self) -> set[str]:
        ports = set(self.reserved_ports)
        for container in self.containers.values():
            for bindings in container["NetworkSettings"]["Ports"].values():
                ports.update(b["HostPort"] for b in bindings or [])
        return ports

    def _free_port(self, taken: set[str]) -> str:
        while str(self._next_port) in taken:
            self._next_port += 1
        port = str(self._next_port)
        self._next_port += 1
        return port

    # --- API handlers: (status, JSON body or None) ---------------------------------------------

    def api_version(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        return 200, {
            "ApiVersion": API_VERSION,
            "MinAPIVersion": "1.24",
            "Version": "26.1.0-fake",
            "Os": "linux",
            "Arch": "amd64",
        }

    def api_inspect_image(self, query: dict[str, str], body: Any, name: str) -> tuple[int, Any]:
        if name not in self.images:
            return 404, {"message": f"No such image: {name}"}
        return 200, {"Id": "sha256:" + secrets.token_hex(32), "RepoTags": [name], "RepoDigests": []}

    def api_pull_image(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        tag = query.get("tag") or "latest"
        reference = query["fromImage"] + ("@" if tag.startswith("sha256:") else ":") + tag
        if reference not in self.registry:
            return 404, {"message": f"pull access denied for {query['fromImage']}, repository does not exist"}
        self.images.add(reference)
        return 200, {"status": f"Downloaded newer image for {reference}"}

    def api_create_container(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        name = query.get("name") or f"fake_{secrets.token_hex(4)}"
        if self.find(name) is not None:
            return 409, {"message": f'Conflict. The container name "/{name}" is already in use'}
        if body["Image"] not in self.images:
            return 404, {"message": f"No such image: {body['Image']}"}
        host_config = body.get("HostConfig") or {}
        network_mode = host_config.get("NetworkMode") or "default"
        network_name = "bridge" if network_mode == "default" else network_mode
        if self._network(network_name) is None:
            return 404, {"message": f"network {network_name} not found"}
        container_id = secrets.token_hex(32)
        self.containers[container_id] = {
            "Id": container_id,
            "Name": "/" + name,
            "Created": _rfc3339_nano(time.time_ns()),
            "Config": {
                "Hostname": body.get("Hostname") or container_id[:12],
                "Image": body["Image"],
                "Env": list(body.get("Env") or []),
                "Labels": dict(body.get("Labels") or {}),
                "ExposedPorts": dict(body.get("ExposedPorts") or {}),
            },
            "HostConfig": host_config,
            "State": {"Status": "created", "Running": False, "ExitCode": 0, "OOMKilled": False, "Pid": 0},
            "NetworkSettings": {"Ports": {}, "Networks": {}, "_network": network_name},
        }
        return 201, {"Id": container_id, "Warnings": []}

    def api_start_container(self, query: dict[str, str], body: Any, ident: str) -> tuple[int, Any]:
        container = self.find(ident)
        if container is None:
            return 404, {"message": f"No such container: {ident}"}
        if container["State"]["Running"]:
            return 304, None
        taken = self._allocated_ports()
        ports: dict[str, list[dict[str, str]]] = {}
        for port, bindings in (container["HostConfig"].get("PortBindings") or {}).items():
            ports[port] = []
            for binding in bindings or [{}]:
                host_port = binding.get("HostPort") or self._free_port(taken)
                if binding.get("HostPort") and host_port in taken:
                    return 500, {"message": f"Bind for 0.0.0.0:{host_port} failed: port is already allocated"}
                taken.add(host_port)
                ports[port].append({"HostIp": "0.0.0.0", "HostPort": host_port})
        settings = container["NetworkSettings"]
        settings["Ports"] = ports
        settings["Networks"] = {
            settings["_network"]: {
                "NetworkID": self._network(settings["_network"])["Id"],  # type: ignore[index]
                "Aliases": [container["Name"].lstrip("/")],
                "IPAddress": f"172.18.0.{len(self.containers) + 1}",
            }
        }
        container["State"].update(Status="running", Running=True, Pid=4242, ExitCode=0)
        self._emit(container, "start")
        return 204, None

    def api_inspect_container(self, query: dict[str, str], body: Any, ident: str) -> tuple[int, Any]:
        container = self.find(ident)
        if container is None:
            return 404, {"message": f"No such container: {ident}"}
        return 200, container

    def api_stop_container(self, query: dict[str, str], body: Any, ident: str) -> tuple[int, Any]:
        container = self.find(ident)
        if container is None:
            return 404, {"message": f"No such container: {ident}"}
        if not container["State"]["Running"]:
            return 304, None
        self._exit(container, 143)
        return 204, None

    def api_delete_container(self, query: dict[str, str], body: Any, ident: str) -> tuple[int, Any]:
        container = self.find(ident)
        if container is None:
            return 404, {"message": f"No such container: {ident}"}
        if container["State"]["Running"]:
            if query.get("force") not in ("1", "true", "True"):
                return 409, {"message": "cannot remove a running container: stop it first or force remove"}
            self._exit(container, 137)
        if container["Id"] in self.containers:
            del self.containers[container["Id"]]
            self._emit(container, "destroy")
        return 204, None

    def api_list_containers(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        filters = json.loads(query.get("filters") or "{}")
        wanted_labels = _filter_values(filters.get("label"))
        show_all = query.get("all") in ("1", "true", "True")
        result = []
        # Newest first, as the engine lists them (the containers are kept in the order they were made).
        for container in reversed(list(self.containers.values())):
            labels = container["Config"]["Labels"]
            if not show_all and not container["State"]["Running"]:
                continue
            if not all(_label_matches(labels, wanted) for wanted in wanted_labels):
                continue
            result.append(
                {
                    "Id": container["Id"],
                    "Names": [container["Name"]],
                    "Image": container["Config"]["Image"],
                    "Labels": labels,
                    "State": container["State"]["Status"],
                }
            )
        return 200, result

    def api_inspect_network(self, query: dict[str, str], body: Any, ident: str) -> tuple[int, Any]:
        network = self._network(ident)
        if network is None:
            return 404, {"message": f"network {ident} not found"}
        return 200, network

    def api_create_network(self, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if self._network(body["Name"]) is not None:
            return 409, {"message": f"network with name {body['Name']} already exists"}
        network = self._add_network(body["Name"], body.get("Driver") or "bridge")
        return 201, {"Id": network["Id"], "Warning": ""}

    def subscribe(self, query: dict[str, str]) -> _Subscriber:
        filters = {k: _filter_values(v) for k, v in json.loads(query.get("filters") or "{}").items()}
        subscriber = _Subscriber(filters)
        with self.lock:
            self._subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: _Subscriber) -> None:
        with self.lock:
            self._subscribers.remove(subscriber)


def _filter_values(value: Any) -> list[str]:
    """Docker filters are {"key": ["v", ...]} (or the older {"key": {"v": true}})."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [k for k, on in value.items() if on]
    return list(value) if isinstance(value, list) else [value]


def _label_matches(labels: dict[str, str], wanted: str) -> bool:
    name, has_value, value = wanted.partition("=")
    return name in labels and (not has_value or labels[name] == value)


ROUTES: list[tuple[str, str, str]] = [
    ("GET", r"/version", "api_version"),
    ("GET", r"/images/(?P<name>.+)/json", "api_inspect_image"),
    ("POST", r"/images/create", "api_pull_image"),
    ("POST", r"/containers/create", "api_create_container"),
    ("GET", r"/containers/json", "api_list_containers"),
    ("POST", r"/containers/(?P<ident>[^/]+)/start", "api_start_container"),
    ("POST", r"/containers/(?P<ident>[^/]+)/stop", "api_stop_container"),
    ("GET", r"/containers/(?P<ident>[^/]+)/json", "api_inspect_container"),
    ("DELETE", r"/containers/(?P<ident>[^/]+)", "api_delete_container"),
    ("POST", r"/networks/create", "api_create_network"),
    ("GET", r"/networks/(?P<ident>[^/]+)", "api_inspect_network"),
]


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    fake: FakeDocker


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet (and unix peers have no address)
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        path = re.sub(r"^/v1\.\d+(?=/)", "", url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with fake.lock:
            fake.requests.append((method, path))
        if path == "/_ping" and method in ("GET", "HEAD"):
            self._send(200, b"OK", "text/plain", head=method == "HEAD")
            return
        if method == "GET" and path == "/events":
            self._stream_events(fake, query)
            return
        for route_method, pattern, handler in ROUTES:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                groups = {k: unquote(v) for k, v in match.groupdict().items()}
                with fake.lock:
                    status, payload = getattr(fake, handler)(query, body, **groups)
                if payload is None:
                    self._send(status, b"", None)
                else:
                    self._send(status, json.dumps(payload).encode(), "application/json")
                return
        self._send(
            404, json.dumps({"message": f"page not found: {method} {path}"}).encode(), "application/json"
        )

    def _send(self, status: int, data: bytes, content_type: str | None, head: bool = False) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(data)))
        self.send_header("Api-Version", API_VERSION)
        self.end_headers()
        if data and not head:
            self.wfile.write(data)

    def _stream_events(self, fake: FakeDocker, query: dict[str, str]) -> None:
        subscriber = fake.subscribe(query)
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            while True:
                event = subscriber.events.get()
                if event is _END:
                    self.wfile.write(b"0\r\n\r\n")
                    return
                data = json.dumps(event).encode() + b"\n"
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
        except OSError:  # the client went away
            return
        finally:
            fake.unsubscribe(subscriber)
