"""A generator behind any OpenAI-compatible chat endpoint: Ollama, llama.cpp server, vLLM.

This is the path for users with a bigger model on their own machine or network; the transcript
never leaves the machines the user points it at.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from insightcap.generator.base import GeneratorError

# Local servers on a laptop can take a while for the first reply (model load), but never minutes.
TIMEOUT_SECONDS = 120.0


class OpenAICompatibleGenerator:
    def __init__(self, base_url: str, model: str, api_key: str | None = None) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.name = f"{model} at {base_url}"
        self.label = f"a text model on {urlsplit(base_url).hostname or base_url} ({model})"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=TIMEOUT_SECONDS, headers=headers)

    def chat(self, system: str, user: str, max_tokens: int = 96, temperature: float = 0.2) -> str:
        payload = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        try:
            response = self._client.post(self.url, json=payload)
        except httpx.ConnectError as error:
            raise GeneratorError(
                f"Could not connect to the text generator at {self.url}. Start the server (for example "
                "`ollama serve`), fix INSIGHTCAP_GENERATOR_URL, or set INSIGHTCAP_GENERATOR=none."
            ) from error
        except httpx.TimeoutException as error:
            raise GeneratorError(
                f"The text generator at {self.url} did not answer within {TIMEOUT_SECONDS:.0f} s. Check that the "
                f"server is not busy with other requests, choose a smaller model than '{self.model}' "
                "(INSIGHTCAP_GENERATOR_API_MODEL), or set INSIGHTCAP_GENERATOR=none."
            ) from error
        except httpx.HTTPError as error:
            raise GeneratorError(
                f"The request to the text generator at {self.url} failed: {error}"
            ) from error
        if response.status_code != 200:
            raise GeneratorError(
                f"The text generator at {self.url} answered HTTP {response.status_code}: "
                f"{response.text[:200]} (is the model '{self.model}' available there?)"
            )
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise GeneratorError(
                f"The text generator at {self.url} did not return an OpenAI-style chat completion."
            ) from error
        if not isinstance(content, str) or not content.strip():
            raise GeneratorError(f"The text generator at {self.url} returned an empty reply.")
        return content.strip()
