"""The official Python MCP SDK (`mcp` on PyPI, pinned in requirements.txt) against
hubspot-mcp-server on the mock HubSpot: Streamable HTTP on `/mcp` and the stdio transport,
on the modern revision (the SDK's default `mode="auto"` probes `server/discover` first) and
on the legacy one (`mode="legacy"`: the `initialize` handshake); and the same flows on a
scoped server minted through the admin API (contacts tools only), by its `/mcp/<token>` URL and
by its token in `Authorization` on the plain `/mcp` (the recommended form). The plain `/mcp`
flows send the server's API key in `Authorization`.

Run with `make interop` (or `.venv/bin/pytest tests/interop`); `HUBSPOT_MCP_BIN` names the
binary (default: the cargo debug build).
"""

from __future__ import annotations

import json
import uuid

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from conftest import AUTH, FIXTURES, binary

MODERN = "2026-07-28"
LEGACY_NEWEST = "2025-11-25"
SEED_TOOLS = {"get_contacts", "get_companies", "get_deals", "create_contact", "search_contacts"}

# (transport, mode, the protocol version the client must end up on)
CASES = [
    pytest.param(("http", "auto", MODERN), id="http-modern"),
    pytest.param(("http", "legacy", LEGACY_NEWEST), id="http-legacy"),
    pytest.param(("stdio", "auto", MODERN), id="stdio-modern"),
    pytest.param(("stdio", "legacy", LEGACY_NEWEST), id="stdio-legacy"),
    pytest.param(("scoped", "auto", MODERN), id="scoped-modern"),
    pytest.param(("scoped", "legacy", LEGACY_NEWEST), id="scoped-legacy"),
    pytest.param(("scoped-header", "auto", MODERN), id="scoped-header-modern"),
    pytest.param(("scoped-header", "legacy", LEGACY_NEWEST), id="scoped-header-legacy"),
]
SCOPED = ("scoped", "scoped-header")


# Every test runs once per transport and era.
# Async tests run on anyio's pytest plugin (anyio is an SDK dependency).
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("client", CASES, indirect=True)]


def with_headers(url: str, headers: dict[str, str]):
    """Streamable HTTP to `url` sending `headers` on every request."""
    return streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))


def connect(transport: str, mode: str, url: str, headers: dict[str, str]) -> Client:
    if transport == "scoped":
        return Client(url, mode=mode)
    if transport in ("http", "scoped-header"):
        return Client(with_headers(url, headers), mode=mode)
    params = StdioServerParameters(
        command=binary(),
        args=["stdio", "--mock", FIXTURES],
        env={"LOG_LEVEL": "warn"},
    )
    return Client(params, mode=mode)


def text_of(result) -> str:
    return "".join(block.text for block in result.content if block.type == "text")


@pytest.fixture
async def client(request, server_url):
    transport, mode, expected = request.param
    url, headers = server_url, AUTH
    if transport == "scoped":
        url = request.getfixturevalue("scoped_url")
    elif transport == "scoped-header":
        token = request.getfixturevalue("scoped_url").rsplit("/", 1)[1]
        headers = {"Authorization": f"Bearer {token}"}
    async with connect(transport, mode, url, headers) as client:
        client.expected_version = expected
        client.transport = transport
        yield client


async def test_negotiates_the_right_revision(client):
    assert client.protocol_version == client.expected_version
    session = client.session
    if client.expected_version == MODERN:
        # server/discover was answered and adopted, no initialize handshake happened
        assert session.discover_result is not None
        assert session.initialize_result is None
        assert MODERN in session.discover_result.supported_versions
        assert session.discover_result.cache_scope in ("public", "private")
    else:
        assert session.initialize_result is not None
        assert session.discover_result is None
    assert client.server_info is not None
    assert client.server_info.name == "hubspot-mcp-server"
    caps = client.server_capabilities
    assert caps.tools is not None and caps.resources is not None and caps.prompts is not None
    assert "HubSpot" in (client.instructions or "")


async def test_lists_tools(client):
    result = await client.list_tools()
    names = {tool.name for tool in result.tools}
    if client.transport in SCOPED:
        assert {"get_contacts", "create_contact", "search_contacts"} <= names, names
        assert not names & {"get_deals", "get_companies", "create_deal"}, names
        assert all("contacts" in t.meta["tags"] for t in result.tools), names
    else:
        assert SEED_TOOLS <= names, names
    contacts = next(t for t in result.tools if t.name == "get_contacts")
    assert contacts.input_schema["type"] == "object"
    assert contacts.description


async def test_calls_get_contacts(client):
    result = await client.call_tool(
        "get_contacts", {"limit": 3, "properties": ["firstname", "lastname", "email"]}
    )
    assert not result.is_error, text_of(result)
    page = json.loads(text_of(result))
    assert len(page["results"]) == 3
    assert all("email" in r["properties"] for r in page["results"])


async def test_creates_then_finds_a_contact(client):
    email = f"sdk-{uuid.uuid4().hex[:12]}@example.com"
    created = await client.call_tool(
        "create_contact",
        {"firstname": "Py", "lastname": "Client", "email": email, "company": "Interop Ltd"},
    )
    assert not created.is_error, text_of(created)
    record = json.loads(text_of(created))
    assert record["properties"]["email"] == email
    found = await client.call_tool("search_contacts", {"query": email})
    assert not found.is_error, text_of(found)
    hits = json.loads(text_of(found))
    assert [r["id"] for r in hits["results"]] == [record["id"]]


async def test_a_duplicate_email_is_a_tool_error_not_a_protocol_error(client):
    email = f"dup-{uuid.uuid4().hex[:12]}@example.com"
    args = {"firstname": "Dup", "lastname": "Licate", "email": email}
    first = await client.call_tool("create_contact", args)
    assert not first.is_error, text_of(first)
    second = await client.call_tool("create_contact", args)
    assert second.is_error
    message = text_of(second)
    assert "409" in message, message
    assert json.loads(text_of(first))["id"] in message, "names the existing record"


async def test_an_unknown_tool_is_a_json_rpc_error(client):
    with pytest.raises(MCPError) as raised:
        await client.call_tool("no_such_tool", {})
    assert raised.value.code == -32602
    assert "no_such_tool" in str(raised.value)


async def test_a_tool_outside_a_scoped_server_is_refused(client):
    if client.transport not in SCOPED:
        pytest.skip("only scoped servers hide tools")
    with pytest.raises(MCPError) as raised:
        await client.call_tool("get_deals", {"limit": 1})
    assert raised.value.code == -32602
    assert "not available on this server" in str(raised.value)


async def test_lists_and_reads_resources(client):
    listed = await client.list_resources()
    uris = {str(r.uri) for r in listed.resources}
    assert "hubspot://contacts" in uris, uris
    read = await client.read_resource("hubspot://contacts")
    assert len(read.contents) == 1
    content = read.contents[0]
    assert str(content.uri) == "hubspot://contacts"
    assert content.mime_type == "application/json"
    assert json.loads(content.text)["results"]
    templates = await client.list_resource_templates()
    uri_templates = {t.uri_template for t in templates.resource_templates}
    assert "hubspot://contacts/{id}" in uri_templates, uri_templates
    record = await client.read_resource("hubspot://contacts/101")
    assert json.loads(record.contents[0].text)["id"] == "101"


async def test_an_unknown_resource_is_a_json_rpc_error(client):
    with pytest.raises(MCPError) as raised:
        await client.read_resource("hubspot://nothing")
    # 2026-07-28 answers -32602 (resources.mdx, Error Handling); earlier revisions -32002
    expected = -32602 if client.expected_version == MODERN else -32002
    assert raised.value.code == expected


async def test_lists_and_gets_prompts(client):
    listed = await client.list_prompts()
    names = {p.name for p in listed.prompts}
    if client.transport in SCOPED:
        # A prompt is offered only with every tool it names: company_research also needs
        # get_companies, which a contacts-only server does not have.
        assert names == {"analyze_contacts"}, names
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("company_research", {"industry": "fintech"})
        assert raised.value.code == -32602
        prompt = await client.get_prompt("analyze_contacts", {"criteria": "fintech"})
    else:
        assert {"analyze_contacts", "company_research"} <= names
        prompt = await client.get_prompt("company_research", {"industry": "fintech"})
    assert prompt.messages[0].role == "user"
    assert "fintech" in prompt.messages[0].content.text


async def test_plain_mcp_without_a_credential_is_refused(client, server_url):
    if client.transport != "http":
        pytest.skip("one refusal check per era is enough")
    mode = "auto" if client.expected_version == MODERN else "legacy"
    with pytest.raises(Exception) as refused:
        async with Client(server_url, mode=mode) as bare:
            await bare.list_tools()
    assert "-32001" in repr(refused.value), repr(refused.value)
