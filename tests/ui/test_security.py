"""The web UI against a hostile client, through the real HTTP server (`timbrel ui`, the `server`
fixture): path traversal on every route that takes a path, file inputs naming files the client did
not upload, oversize uploads, concurrent conversions, and the address the server listens on.

A secret file lies outside the workspace, and symlinks inside the workspace point at it. No
request may get its bytes back, and each must get a 4xx answer (or, through the event API, an
error event). Traversal requests go out through http.client, which sends the path as written:
httpx and browsers collapse ``..`` segments before sending.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import socket
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

from tests import parity
from tests.conftest import require_module
from tests.models.rvc.test_pipeline import e2e_float_tolerance
from tests.ui.conftest import MAX_UPLOAD_MB
from timbrel import api
from timbrel.cli import app as cli

require_module("gradio", "the web UI needs the [ui] extra (pip install gradio)")

SECRET = b"timbrel web UI test: these bytes lie outside the workspace and must never be served\n"
REQUEST_TIMEOUT_S = 30
EVENT_TIMEOUT_S = 120

# The GET routes of this gradio version whose parameter is a path or a URL, and the prefix a tried
# path goes after. test_every_route_that_takes_a_path_is_tried keeps this list complete.
FILE_ROUTES = {
    "/gradio_api/file={path_or_url}": "/gradio_api/file=",
    "/gradio_api/file/{path}": "/gradio_api/file/",
    "/gradio_api/proxy={url_path}": "/gradio_api/proxy=",
    "/static/{path}": "/static/",
    "/assets/{path}": "/assets/",
    "/svelte/{path}": "/svelte/",
    "/gradio_api/custom_component/{id}/{environment}/{type}/{file_name}": (
        "/gradio_api/custom_component/timbrel/client/"
    ),
    "/gradio_api/run-history/records/{endpoint}/{record_id}/assets/{asset_id}": (
        "/gradio_api/run-history/records/convert/1/assets/"
    ),
}
# Older gradio versions served files at the root; the route is gone, and must stay gone.
OLD_FILE_PREFIXES = ("/file=", "/file/")
# GET routes with parameters that name no file: each looks its parameters up among what the
# server holds in memory (sessions, events, streams it made, icon sizes, the monitoring key).
NO_FILE_ROUTES = {
    "/pwa_icon/{size}",
    "/monitoring/{key}",
    "/gradio_api/heartbeat/{session_hash}",
    "/gradio_api/call/{api_name}/{event_id}",
    "/gradio_api/call/v2/{api_name}/{event_id}",
    "/gradio_api/stream/{session_hash}/{run}/{component_id}/playlist.m3u8",
    "/gradio_api/stream/{session_hash}/{run}/{component_id}/{segment_id}.{ext}",
    "/gradio_api/stream/{session_hash}/{run}/{component_id}/playlist-file",
}
# "../" as a client may spell it to slip past a filter: percent-encoded (either case, in part,
# twice), overlong UTF-8, a backslash, a pattern that a filter removing "../" once turns into
# "../", and one with a path parameter (..;/).
PARENT_STEPS = (
    "../", "%2e%2e%2f", "%2E%2E%2F", "..%2f", "%2e%2e/", ".%2e/", "%252e%252e%252f", "..%252f",
    "%c0%ae%c0%ae%c0%af", "..%5c", "....//", "..;/",
)  # fmt: skip
DEEP = 40  # parent steps enough to reach / from any folder a route starts from
# Links inside the workspace that lead out of it (made by the `links` fixture).
LINKS = (
    "uploads/leak.txt",
    "uploads/leak-relative.txt",
    "uploads/leak-chain.txt",
    "uploads/outside/secret.txt",
)


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """A folder beside the workspace holding the secret."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "secret.txt").write_bytes(SECRET)
    return folder


@pytest.fixture(scope="module")
def upload_folder(tmp_path_factory) -> Path:
    """Where the server keeps uploads (gradio's GRADIO_TEMP_DIR)."""
    return tmp_path_factory.mktemp("gradio-uploads")


@pytest.fixture(scope="module")
def server_environment(outside, upload_folder) -> dict[str, str]:
    """Variables gradio reads: none of them may expose the app or widen what it serves, since
    only `timbrel ui`'s flags may. The server keeps its uploads in a folder of this test's."""
    return {
        "GRADIO_SERVER_NAME": "0.0.0.0",
        "GRADIO_SHARE": "True",
        "GRADIO_ALLOWED_PATHS": str(outside),
        "GRADIO_TEMP_DIR": str(upload_folder),
    }


@pytest.fixture(scope="module")
def links(server, outside) -> None:
    _, workspace = server
    uploads = workspace / "uploads"
    (uploads / "leak.txt").symlink_to(outside / "secret.txt")
    (uploads / "leak-relative.txt").symlink_to(os.path.relpath(outside / "secret.txt", uploads))
    (uploads / "leak-chain.txt").symlink_to(uploads / "leak.txt")
    (uploads / "outside").symlink_to(outside, target_is_directory=True)


@pytest.fixture(scope="module")
def openapi(server) -> dict:
    url, _ = server
    return httpx.get(f"{url}openapi.json", timeout=REQUEST_TIMEOUT_S).raise_for_status().json()


def raw_request(url: str, method: str, target: str) -> tuple[int, bytes]:
    """``method target`` sent exactly as written; the status and body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_S)
    try:
        connection.request(method, target)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def paths_to(secret: Path, workspace: Path, port: int) -> list[str]:
    """Ways a path or URL parameter can try to name ``secret``, which lies outside ``workspace``."""
    from_uploads = os.path.relpath(secret, workspace / "uploads")
    steps, rest = from_uploads.count("../"), from_uploads.replace("../", "")
    from_root = str(secret).lstrip("/")
    paths = [
        str(secret),
        f"/{secret}",
        f"{secret}%00",
        f"file://{secret}",
        f"http://127.0.0.1:{port}/gradio_api/file={secret}",
        f"{workspace}/uploads/leak.txt%00.wav",
        *(f"{workspace}/{link}" for link in LINKS),
    ]
    for step in PARENT_STEPS:
        paths.append(f"{workspace}/uploads/{step * steps}{rest}")
        paths.append(step * DEEP + from_root)
    return paths


def traversal_attempts(openapi: dict, secret: Path, workspace: Path, port: int) -> Iterator[tuple[str, str]]:
    """(method, target) for every route that takes a path, each method it answers, each path."""
    routes = openapi["paths"]
    paths = paths_to(secret, workspace, port)
    for template, prefix in FILE_ROUTES.items():
        for method in sorted(routes[template]):
            yield from ((method.upper(), prefix + path) for path in paths)
    for prefix in OLD_FILE_PREFIXES:
        yield from (("GET", prefix + path) for path in paths)


def test_every_route_that_takes_a_path_is_tried(openapi):
    with_parameters = {path for path, methods in openapi["paths"].items() if "{" in path and "get" in methods}
    unknown = with_parameters - FILE_ROUTES.keys() - NO_FILE_ROUTES
    assert not unknown, (
        f"unknown routes take parameters: add each to FILE_ROUTES or NO_FILE_ROUTES: {unknown}"
    )
    assert FILE_ROUTES.keys() <= with_parameters, "a tried route is gone: update FILE_ROUTES"


def test_no_route_serves_a_file_outside_the_workspace(server, outside, links, openapi, e2e, record_property):
    url, workspace = server
    _, settings = e2e
    port = urlsplit(url).port
    inside = workspace / "models" / "e2etiny" / settings["model_file"]
    # the same routes do serve the workspace: a refusal below is not a malformed request
    for prefix in ("/gradio_api/file=", "/gradio_api/file/"):
        status, body = raw_request(url, "GET", f"{prefix}{inside}")
        assert (status, body == inside.read_bytes()) == (200, True), f"{prefix} did not serve {inside}"
    tried, served, unclear = 0, [], []
    for method, target in traversal_attempts(openapi, outside / "secret.txt", workspace, port):
        status, body = raw_request(url, method, target)
        tried += 1
        if SECRET in body:
            served.append(f"{status} {method} {target}")
        elif not 400 <= status < 500:
            unclear.append(f"{status} {method} {target}")
    record_property("traversal_attempts", tried)
    record_property("traversal_served", len(served))
    print(f"path traversal: {len(served)} of {tried} attempts served the secret")
    assert not served, f"{len(served)} of {tried} attempts served the secret: {served[:10]}"
    assert not unclear, f"{len(unclear)} of {tried} attempts got no 4xx answer: {unclear[:10]}"


class ConvertEvent:
    """The convert tab's event through gradio's HTTP event API, as a client without a browser
    calls it: every input of the form, each by its element id, defaulting to the page's value."""

    def __init__(self, url: str):
        self.url = url
        config = httpx.get(f"{url}config", timeout=REQUEST_TIMEOUT_S).raise_for_status().json()
        components = {component["id"]: component["props"] for component in config["components"]}
        [event] = [d for d in config["dependencies"] if d.get("api_name") == "convert"]
        self.inputs = [components[component_id] for component_id in event["inputs"]]

    def __call__(self, values: dict[str, object]) -> tuple[str, object]:
        """("complete", the outputs) or ("error", the message)."""
        data = [values.get(props.get("elem_id"), props.get("value")) for props in self.inputs]
        with httpx.Client(base_url=self.url, timeout=EVENT_TIMEOUT_S) as http:
            joined = http.post("gradio_api/call/convert", json={"data": data}).raise_for_status()
            stream = http.get(f"gradio_api/call/convert/{joined.json()['event_id']}").raise_for_status()
        for block in reversed(stream.text.strip().split("\n\n")):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if fields.get("event") in ("complete", "error"):
                outcome = json.loads(fields["data"])
                return fields["event"], outcome["error"] if fields["event"] == "error" else outcome
        raise AssertionError(f"the event stream ended without an outcome: {stream.text[-500:]}")


@pytest.fixture(scope="module")
def convert_event(server) -> ConvertEvent:
    url, _ = server
    return ConvertEvent(url)


def file_data(path: str | Path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def upload(url: str, path: Path) -> str:
    """Upload ``path`` as the page does; the server's path of the upload."""
    with path.open("rb") as file:
        response = httpx.post(
            f"{url}gradio_api/upload",
            files={"files": (path.name, file, "audio/wav")},
            timeout=REQUEST_TIMEOUT_S,
        )
    [uploaded] = response.raise_for_status().json()
    return uploaded


def reference_settings(settings: dict) -> dict[str, object]:
    """The fixture's conversion settings in the convert tab's fields."""
    given = settings["settings"]
    return {
        "convert-model": f"models/e2etiny/{settings['model_file']}",
        "convert-index": f"models/e2etiny/{settings['index_file']}",
        "convert-rvc-f0-method": given["f0_method"],
        "convert-rvc-key-shift-semitones": given["f0_up_key"],
        "convert-rvc-index-rate": given["index_rate"],
        "convert-rvc-protect": given["protect"],
        "convert-rvc-rms-mix-rate": given["rms_mix_rate"],
        "convert-rvc-speaker": given["sid"],
    }


def test_file_inputs_cannot_name_files_outside_the_workspace(server, outside, links, convert_event, e2e):
    """Uploads are named by the server's path of the upload, and models, indexes and folders by
    workspace paths: a client that writes another path gets an error and nothing is read."""
    url, workspace = server
    root, settings = e2e
    secret = outside / "secret.txt"
    uploaded = Path(upload(url, root / settings["cases"]["short"]["input_file"]))
    beside_upload = uploaded.parent / os.path.relpath(secret, uploaded.parent)
    clips = [str(secret), f"{workspace}/uploads/leak.txt", str(beside_upload), f"file://{secret}"]
    clips.append(f"http://127.0.0.1:{urlsplit(url).port}/gradio_api/file={secret}")
    attempts = [{"convert-input": file_data(clip)} for clip in clips]
    several = {"convert-source": "several files", "convert-files": [file_data(uploaded), file_data(secret)]}
    attempts.append(several)
    attempts += [
        {"convert-input": file_data(uploaded), "convert-model": str(secret)},
        {"convert-input": file_data(uploaded), "convert-index": "uploads/leak.txt"},
        {"convert-source": "a workspace folder", "convert-folder": "uploads/outside"},
        {"convert-source": "a workspace folder", "convert-folder": os.path.relpath(outside, workspace)},
    ]
    accepted = []
    for attempt in attempts:
        outcome, answer = convert_event({**reference_settings(settings), **attempt})
        if outcome != "error" or SECRET.decode() in str(answer) or "Traceback" in str(answer):
            accepted.append((attempt, outcome, str(answer)[:300]))
    assert not accepted, (
        f"{len(accepted)} of {len(attempts)} file inputs naming outside files were not refused: {accepted}"
    )
    copies = [
        p for p in workspace.rglob("*") if p.is_file() and not p.is_symlink() and p.read_bytes() == SECRET
    ]
    assert not copies, f"the secret was copied into the workspace: {copies}"


def test_an_upload_over_the_limit_is_refused_however_it_is_sent(server, upload_folder, tmp_path):
    url, _ = server
    limit = MAX_UPLOAD_MB * 2**20
    big, small = tmp_path / "big.wav", tmp_path / "small.wav"
    big.write_bytes(bytes(limit + 1))
    small.write_bytes(bytes(limit - 1024))
    with big.open("rb") as file:
        refused = httpx.post(
            f"{url}gradio_api/upload", files={"files": (big.name, file)}, timeout=REQUEST_TIMEOUT_S
        )
    assert refused.status_code == 413
    assert f"maximum allowed size of {limit} bytes" in refused.text
    # sent in chunks, with no length announced up front
    boundary = "timbrel-test-boundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{big.name}"\r\n\r\n'

    def body() -> Iterator[bytes]:
        yield head.encode()
        data = big.read_bytes()
        yield from (data[start : start + 65536] for start in range(0, len(data), 65536))
        yield f"\r\n--{boundary}--\r\n".encode()

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_S)
    try:
        content_type = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        connection.request(
            "POST", "/gradio_api/upload", body=body(), headers=content_type, encode_chunked=True
        )
        chunked = connection.getresponse()
        assert (chunked.status, b"maximum allowed size" in chunked.read()) == (413, True)
    finally:
        connection.close()
    assert Path(upload(url, small)).stat().st_size == small.stat().st_size
    kept = [p for p in upload_folder.rglob("*") if p.is_file() and p.stat().st_size > limit]
    assert not kept, f"refused uploads were kept: {kept}"


def served_audio(outputs: list) -> np.ndarray:
    """The converted clip as the page's player fetches it."""
    response = httpx.get(outputs[2]["url"], timeout=REQUEST_TIMEOUT_S).raise_for_status()
    audio, _ = soundfile.read(io.BytesIO(response.content), dtype="int16")
    return audio


def test_concurrent_conversions_each_get_their_own_result(server, convert_event, e2e, tmp_path):
    """Six conversions of three different clips, sent at once: each answer holds its own clip's
    conversion, in a run folder of its own; the reference clip converts as the reference did."""
    url, workspace = server
    root, settings = e2e
    case = settings["cases"]["short"]
    source, rate = soundfile.read(str(root / case["input_file"]), dtype="int16")
    clips = {"whole": root / case["input_file"]}
    for name, part in {"head": source[: 2 * rate], "tail": source[-3 * rate // 2 :]}.items():
        clips[name] = tmp_path / f"{name}.wav"
        soundfile.write(str(clips[name]), part, rate)
    uploads = {name: upload(url, path) for name, path in clips.items()}

    def convert(name: str) -> list:
        values = {**reference_settings(settings), "convert-input": file_data(uploads[name])}
        outcome, outputs = convert_event(values)
        assert outcome == "complete", f"{name}: {outputs}"
        return outputs

    alone = {name: served_audio(convert(name)) for name in ("head", "tail")}
    order = [*clips, *clips]
    with ThreadPoolExecutor(len(order)) as pool:
        answers = list(pool.map(convert, order))
    runs = [re.search(r"converted into `([^`]+)`", outputs[0]).group(1) for outputs in answers]
    assert len(set(runs)) == len(order), f"conversions shared a run folder: {runs}"
    expected, _ = soundfile.read(str(root / case["output_file"]), dtype="int16")
    voice = api.load(root / settings["model_file"], hubert=root / "hubert")
    for name, run, outputs in zip(order, runs, answers, strict=True):
        written = workspace / run / f"{clips[name].stem}.wav"
        assert Path(outputs[2]["path"]).name == written.name
        audio = served_audio(outputs)
        assert np.array_equal(audio, soundfile.read(str(written), dtype="int16")[0])
        if name == "whole":
            assert len(audio) == case["output_samples"]
            parity.pcm_close(audio, expected, float_tolerance=e2e_float_tolerance(voice), what=run)
        else:
            assert np.array_equal(audio, alone[name]), (
                f"{name} converted at once with others differs from alone"
            )


def test_the_server_listens_on_this_machine_only(server):
    """The fixture starts `timbrel ui` without --host or --share, with GRADIO_SERVER_NAME=0.0.0.0
    and GRADIO_SHARE=True in its environment: it answers on 127.0.0.1 alone and shares nothing."""
    url, workspace = server
    port = urlsplit(url).port
    socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT_S).close()
    others = [("::1", port)] if socket.has_ipv6 else []
    if sys.platform == "linux":  # the whole of 127.0.0.0/8 reaches this machine there
        others.append(("127.0.0.2", port))
    try:
        own_addresses = socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        own_addresses = []
    others += [(address, port) for address in own_addresses if not address.startswith("127.")]
    for address in others:
        with pytest.raises(OSError):
            socket.create_connection(address, timeout=2).close()
    log = (workspace.parent / "server.log").read_text()
    assert f"Running on local URL:  http://127.0.0.1:{port}" in log
    assert "gradio.live" not in log and "public URL" not in log
    assert "other machines" not in log


@pytest.mark.parametrize(
    ("flags", "host", "share", "warning"),
    [
        ((), "127.0.0.1", False, None),
        (("--host", "localhost"), "localhost", False, None),
        (("--host", "0.0.0.0"), "0.0.0.0", False, "other machines on the network can reach it"),
        (("--share",), "127.0.0.1", True, "public gradio.live link"),
    ],
)
def test_only_explicit_flags_expose_the_app(monkeypatch, tmp_path, flags, host, share, warning):
    served = []
    monkeypatch.setattr("timbrel.ui.app.serve", lambda workspace, **settings: served.append(settings))
    result = CliRunner().invoke(cli, ["ui", "--workspace", str(tmp_path), "--device", "cpu", *flags])
    assert result.exit_code == 0, result.output
    [settings] = served
    assert (settings["host"], settings["share"]) == (host, share)
    if warning is None:
        assert "warning" not in result.output
    else:
        assert warning in " ".join(result.output.split())
