"""Server-side web search for the online teacher: the Responses API with the `web_search` tool.

xAI retired Live Search (`search_parameters` on chat completions; HTTP 410 since January 2026). Web search
now runs as a server-side tool on the Responses endpoint, which xAI and OpenAI both offer:

    POST {base_url}/responses
    {"model": ..., "input": [{"role": "system", ...}, {"role": "user", ...}], "tools": [{"type": "web_search"}]}

The answer is the `output_text` parts of the `message` items in `output` (after any `web_search_call`
items); sources come as a top-level `citations` list (xAI) and as `url_citation` annotations. Usage is
`input_tokens` / `output_tokens`. A server without this endpoint answers 404: the run stops asking and each
row says to use a local passage index (`search_corpus`, BM25; teacher/search.py) instead.

`WebSearchTeacher` is the rubric teacher (`OnlineTeacher`: cache, retries, reminders) over this client;
the evaluator's `use_internet=true` selects it for an online teacher.
"""

from __future__ import annotations

from rlwhf.teacher.cache import cache_key
from rlwhf.teacher.client import ChatClient, OnlineTeacher, _int

WEB_SEARCH_TOOL = {"type": "web_search"}


def responses_url(base_url: str) -> str:
    """`.../v1` -> `.../v1/responses` (a full endpoint URL is kept; a chat-completions URL is turned round).

    >>> responses_url("https://api.x.ai/v1"), responses_url("http://127.0.0.1:8/v1/chat/completions")
    ('https://api.x.ai/v1/responses', 'http://127.0.0.1:8/v1/responses')
    """
    base = base_url.rstrip("/")
    if base.endswith("/responses"):
        return base
    if base.endswith("/chat/completions"):
        base = base[: -len("/chat/completions")]
    return base + "/responses"


def output_text(parsed: dict) -> str:
    """The assistant's text in a Responses-API body (KeyError/TypeError when there is none).

    >>> output_text({"output": [{"type": "web_search_call"}, {"type": "message", "role": "assistant",
    ...     "content": [{"type": "output_text", "text": "Paris."}]}]})
    'Paris.'
    """
    texts = [part["text"] for item in parsed["output"] if item.get("type") == "message"
             for part in item["content"] if part.get("type") == "output_text"]
    if not texts:
        raise KeyError("no output_text in output")
    return "".join(texts)


def citations(parsed: dict) -> list[str]:
    """Source URLs of a Responses-API body: xAI's top-level `citations`, then `url_citation` annotations."""
    urls = [u for u in parsed.get("citations") or [] if isinstance(u, str)]
    for item in parsed.get("output") or []:
        for part in item.get("content") or [] if isinstance(item, dict) else []:
            for ann in part.get("annotations") or [] if isinstance(part, dict) else []:
                if isinstance(ann, dict) and ann.get("type") == "url_citation" and ann.get("url") not in urls:
                    urls.append(ann.get("url"))
    return urls


class ResponsesClient(ChatClient):
    """ChatClient over `POST /v1/responses` with the server-side web_search tool; same retries and errors."""

    shape = "Responses-API response"

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, **kw):
        super().__init__(base_url, model, api_key_env, **kw)
        self.url = responses_url(base_url)

    def _body(self, messages: list[dict], params: dict) -> dict:
        params = dict(params)
        tools = list(params.pop("tools", None) or [])
        if not any(isinstance(t, dict) and t.get("type") == "web_search" for t in tools):
            tools.append(dict(WEB_SEARCH_TOOL))
        return {"model": self.model, "input": messages, "tools": tools, **params}

    def _content_of(self, parsed: dict) -> str:
        return output_text(parsed)

    def _usage_of(self, parsed: dict) -> tuple[int, int]:
        usage = parsed.get("usage") if isinstance(parsed.get("usage"), dict) else {}
        return _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))


class WebSearchTeacher(OnlineTeacher):
    """The rubric teacher with server-side web search: each grade may consult the web (cached apart from
    grades made without search)."""

    name = "openai+web_search"

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, **kw):
        super().__init__(base_url, model, api_key_env, **kw)
        c = self.client
        self.client = ResponsesClient(base_url, model, api_key_env, concurrency=c.concurrency, timeout=c.timeout,
                                      max_retries=c.max_retries, backoff_base=c.backoff_base,
                                      backoff_max=c.backoff_max)
        self.url = self.client.url

    def key_for(self, req) -> str:
        return cache_key(f"{self.model}+web_search", self.rubric_version, req.prompt, req.answer, req.reference,
                         [str(p.get("id")) for p in req.context])
