"""Traffic classes and device types from real user agents."""

from __future__ import annotations

import re

import pytest

from clypt_mcp.core import traffic
from clypt_mcp.core.visitors import parse_agent
from tests import agents


@pytest.mark.parametrize(("product", "agent"), sorted(agents.UNFURLERS.items()))
def test_unfurlers_are_previews(product: str, agent: str) -> None:
    assert parse_agent(agent).traffic == "preview", product
    assert parse_agent(agent).bot


@pytest.mark.parametrize(("product", "agent"), sorted(agents.ASSISTANTS.items()))
def test_assistant_fetchers_are_ai_agents(product: str, agent: str) -> None:
    assert parse_agent(agent).traffic == "ai_agent", product
    assert parse_agent(agent).bot


@pytest.mark.parametrize(("product", "agent"), sorted(agents.CRAWLERS.items()))
def test_crawlers_libraries_headless_and_non_browsers_are_crawlers(
    product: str, agent: str
) -> None:
    assert parse_agent(agent).traffic == "crawler", product
    assert parse_agent(agent).bot


@pytest.mark.parametrize(
    ("agent", "device", "os"),
    [
        (agents.IPHONE_SAFARI, "mobile", "iOS"),
        (agents.ANDROID_CHROME, "mobile", "Android"),
        (agents.IPAD_SAFARI, "tablet", "iOS"),
        (agents.ANDROID_TABLET_CHROME, "tablet", "Android"),
        (agents.KINDLE_SILK, "tablet", "Android"),
        (agents.DESKTOP_CHROME, "desktop", "Windows"),
        (agents.DESKTOP_FIREFOX, "desktop", "Linux"),
        (agents.DESKTOP_SAFARI, "desktop", "Mac OS X"),
        (agents.DESKTOP_EDGE, "desktop", "Windows"),
        (agents.PLAYSTATION, "other", None),
        (agents.SMART_TV, "other", "Tizen"),
    ],
)
def test_people_are_human_with_their_device_type(agent: str, device: str, os: str | None) -> None:
    parsed = parse_agent(agent)
    assert (parsed.traffic, parsed.device) == ("human", device)
    if os is not None:
        assert parsed.os == os


def test_an_unfurler_keeps_its_class_though_it_names_a_library_or_the_word_bot() -> None:
    linkedin = agents.UNFURLERS["LinkedIn"]
    chatgpt = agents.ASSISTANTS["ChatGPT-User"]
    assert "Apache-HttpClient" in linkedin and "openai.com/bot" in chatgpt
    assert parse_agent(linkedin).traffic == "preview"
    assert parse_agent(chatgpt).traffic == "ai_agent"


def test_the_class_lists_are_data_with_a_source_for_every_pattern() -> None:
    for entries in (traffic.PREVIEW, traffic.AI_AGENT, traffic.CRAWLER):
        for product, pattern, source in entries:
            assert product and source, pattern
            re.compile(pattern)
    named = " ".join(p for p, _, _ in traffic.PREVIEW)
    for product in ("Slack", "Discord", "Twitter", "Facebook", "LinkedIn", "WhatsApp"):
        assert product in named
