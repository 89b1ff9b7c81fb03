"""``/docs`` and ``/redoc`` work with no internet: every script, style and image they load is served by
the gateway itself (``fastapi-offline``'s assets), and descriptions holding placeholders such as
``<engine>`` reach the Markdown renderers as code, not as HTML tags that vanish."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from backend.gateway.app import make_gateway_app
from backend.service.docs import code_placeholders
from tests.support.access import instance_settings

pytestmark = pytest.mark.timeout(120)


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


@pytest.fixture(scope="module")
def client():
    # no lifespan: the documentation needs no database, Redis or engine
    app = make_gateway_app(instance_settings(native_enabled=False))
    return TestClient(app)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_when_served_then_every_asset_is_local_and_answers(client, page):
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    parser = _Assets()
    parser.feed(r.text)
    scripts = re.findall(r"<script[^>]*src=\"([^\"]+)\"", r.text)
    assert scripts, "the page loads its renderer from a script"
    assert "/openapi.json" in r.text
    for url in parser.urls:
        assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url} from elsewhere"
        asset = client.get(url)
        assert asset.status_code == 200, url
    for url in scripts:  # the real renderer, not an empty file: Swagger UI and ReDoc bundles are > 500 KB
        assert len(client.get(url).content) > 500_000, url
    assert not re.search(r"https?://(?!127\.0\.0\.1|localhost)[^\s\"']*\.(js|css|woff2?)", r.text)


def test_openapi_when_descriptions_hold_placeholders_then_they_are_code_spans(client):
    spec = client.get("/openapi.json").json()
    assert "`/api/v1/<engine>/<operation>`" in spec["info"]["description"]
    bare = []

    def walk(node, path):  # noqa: ANN001
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "description" and isinstance(value, str):
                    if re.search(r"<[A-Za-z_][^<>\s]*>", re.sub(r"`[^`]*`", "", value)):
                        bare.append(f"{path}: {value[:80]}")
                else:
                    walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}/{i}")

    walk(spec, "")
    assert bare == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("live under /api/v1/<engine>/<operation>; every", "live under `/api/v1/<engine>/<operation>`; every"),
        ("'<symbol>' or 'option <i> (<underlying>)'.", "'`<symbol>`' or 'option `<i>` (`<underlying>`)'."),
        ("ids are rb-<tag>-<symbol>; again", "ids are `rb-<tag>-<symbol>`; again"),
        ("ends with <x>.", "ends with `<x>`."),
        ("already `a/<b>` here", "already `a/<b>` here"),
        ("a < b and c > d", "a < b and c > d"),
    ],
)
def test_code_placeholders_when_text_has_placeholders_then_wrapped_once(text, expected):
    assert code_placeholders(text) == expected
    assert code_placeholders(expected) == expected
