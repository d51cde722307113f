"""The text generator backends: the packaged llama.cpp model, an OpenAI-compatible HTTP endpoint,
and the factory that picks one from the settings."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from insightcap.config import Settings
from insightcap.generator.base import GeneratorError
from insightcap.generator.factory import get_generator
from insightcap.generator.llama_cpp import LlamaCppGenerator
from insightcap.generator.openai_compat import OpenAICompatibleGenerator


class _ChatServer(BaseHTTPRequestHandler):
    """Answers POST /v1/chat/completions like an OpenAI-compatible server, remembering each request."""

    requests: list[dict] = []
    status = 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if self.status != 200:
            payload = {"error": {"message": f"model '{body['model']}' not found"}}
        else:
            reply = f"How would rubber help, {body['messages'][1]['content']}?"
            payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": f"  {reply}\n"}}]}
        data = json.dumps(payload).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def chat_server() -> Iterator[tuple[str, type[_ChatServer]]]:
    handler = type("Handler", (_ChatServer,), {"requests": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    server.shutdown()
    server.server_close()


def test_openai_compatible_generator_posts_a_chat_completion(chat_server):
    url, handler = chat_server
    generator = OpenAICompatibleGenerator(url + "/", "llama3.2", api_key="secret")

    reply = generator.chat("You are brief.", "Ben", max_tokens=20, temperature=0.0)

    assert reply == "How would rubber help, Ben?"
    assert generator.label == "a text model on 127.0.0.1 (llama3.2)"  # as a memo's footer names it
    (request,) = handler.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer secret"
    assert request["body"] == {
        "model": "llama3.2",
        "messages": [{"role": "system", "content": "You are brief."}, {"role": "user", "content": "Ben"}],
        "max_tokens": 20,
        "temperature": 0.0,
    }


def test_openai_compatible_generator_reports_a_missing_model(chat_server):
    url, handler = chat_server
    handler.status = 404
    with pytest.raises(GeneratorError, match=r"HTTP 404.*is the model 'nope' available"):
        OpenAICompatibleGenerator(url, "nope").chat("s", "u")


def test_openai_compatible_generator_explains_a_server_that_is_not_running():
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(GeneratorError, match="Could not connect.*INSIGHTCAP_GENERATOR=none"):
        OpenAICompatibleGenerator(f"http://127.0.0.1:{port}/v1", "llama3.2").chat("s", "u")


def test_factory_follows_the_settings(settings: Settings):
    assert get_generator(settings.model_copy(update={"generator": "none"})) is None
    openai = get_generator(
        settings.model_copy(update={"generator": "openai", "generator_url": "http://x:1/v1"})
    )
    assert isinstance(openai, OpenAICompatibleGenerator) and openai.url == "http://x:1/v1/chat/completions"
    missing = settings.model_copy(update={"generator_model": "no-such-model"})
    # "auto" never blocks a memo: without a usable local model there is simply no generator.
    assert get_generator(missing.model_copy(update={"generator": "auto"})) is None
    with pytest.raises(GeneratorError, match="Unknown model 'no-such-model'"):
        get_generator(missing.model_copy(update={"generator": "llama-cpp"}))
    with pytest.raises(GeneratorError, match="choose one of auto, llama-cpp, openai, none"):
        get_generator(settings.model_copy(update={"generator": "gpt"}))


def test_llama_generator_explains_a_missing_model_file(tmp_path):
    pytest.importorskip("llama_cpp")
    with pytest.raises(GeneratorError, match="does not exist"):
        LlamaCppGenerator(tmp_path / "missing.gguf")


@pytest.mark.slow
def test_packaged_llama_model_answers_a_chat(llama_generator):
    reply = llama_generator.chat(
        "You answer with one word.", "What is the capital of France?", max_tokens=8, temperature=0.0
    )
    assert "paris" in reply.lower()
    assert llama_generator.name == "llama.cpp: qwen-coder-0.5b/model.gguf"
    assert llama_generator.label == "a local text model (Qwen2.5-Coder 0.5B)"
