# ruff: noqa: E501  (a data module: one product a line reads best)
"""Traffic classes: who is visiting, as data. Each entry is a product, the pattern its user agent
carries (case-insensitive regular expression, searched anywhere in the agent) and where the
agent string is documented, so the lists can be checked and extended without touching code.

Order of the checks (`core.visitors.classify`): `preview` and `ai_agent` first, because an
unfurler or an assistant fetch keeps its class even when its agent also names an HTTP library
or the word bot (LinkedInBot carries `Apache-HttpClient`, ChatGPT-User `openai.com/bot`); then
`crawler` (search and AI crawlers, HTTP libraries, headless browsers, anything that calls itself
a bot, crawler or spider, and agents that are not a browser's); everything else is `human`.
`qr` (a human who came through the link's QR code) and `suspect` (beyond `CLYPT_CLICK_RATE`)
are decided by the redirect, not by the agent.
"""

from __future__ import annotations

from typing import Literal

TrafficClass = Literal["human", "qr", "preview", "ai_agent", "crawler", "suspect"]
TRAFFIC_CLASSES: tuple[TrafficClass, ...] = (
    "human",
    "qr",
    "preview",
    "ai_agent",
    "crawler",
    "suspect",
)
CLICK_CLASSES = frozenset({"human", "qr"})  # the only classes counted as clicks

# (product, pattern, source)
PREVIEW: tuple[tuple[str, str, str], ...] = (
    ("Slack", r"Slackbot|Slack-ImgProxy", "https://api.slack.com/robots"),
    ("Discord", r"Discordbot", "https://discord.com/developers/docs (Discordbot/2.0)"),
    ("Twitter/X", r"Twitterbot", "https://developer.x.com/en/docs/x-for-websites/cards"),
    ("Facebook", r"facebookexternalhit|Facebot|facebookcatalog",
     "https://developers.facebook.com/docs/sharing/webmasters/web-crawlers"),
    ("LinkedIn", r"LinkedInBot", "https://www.linkedin.com/robots.txt (LinkedInBot/1.0)"),
    ("WhatsApp", r"^WhatsApp/", "WhatsApp link previews (WhatsApp/2.x A|i|W)"),
    ("Telegram", r"TelegramBot", "https://core.telegram.org/bots/webapps (TelegramBot (like TwitterBot))"),
    ("iMessage", r"facebookexternalhit/1\.1 Facebot Twitterbot",
     "Apple's Messages link preview (Safari agent + facebookexternalhit/1.1 Facebot Twitterbot/1.0)"),
    ("Microsoft Teams / Skype", r"SkypeUriPreview|MicrosoftPreview",
     "https://aka.ms/MicrosoftPreview"),
    ("Mastodon", r"Mastodon/\d|http\.rb/.*Mastodon", "https://docs.joinmastodon.org/spec/webfinger"),
    ("Pinterest", r"Pinterestbot|Pinterest/0\.", "https://help.pinterest.com/en/business/article/pinterest-crawler"),
    ("Reddit", r"redditbot", "https://www.reddit.com/robots.txt"),
    ("Bluesky", r"Cardyb", "https://github.com/bluesky-social/social-app (cardyb link cards)"),
    ("Viber", r"Viber/", "Viber link previews"),
    ("Snapchat", r"Snap URL Preview", "Snapchat link previews"),
    ("Google Chat", r"Google-PageRenderer|GoogleDocs", "Google Workspace link previews"),
    ("Embedly / Iframely", r"Embedly|Iframely", "https://embed.ly, https://iframely.com"),
    ("VK", r"vkShare", "https://vk.com/dev/share_details"),
    ("KakaoTalk", r"kakaotalk-scrap", "https://devtalk.kakao.com (kakaotalk-scrap)"),
    ("Line", r"facebookexternalhit.*Line/|^Line/", "LINE link previews"),
    ("Zoom", r"Zoombot", "Zoom chat link previews"),
)  # fmt: skip

AI_AGENT: tuple[tuple[str, str, str], ...] = (
    ("ChatGPT", r"ChatGPT-User", "https://platform.openai.com/docs/bots"),
    ("Claude", r"Claude-User|Claude-Web", "https://support.anthropic.com (Claude-User)"),
    ("Perplexity", r"Perplexity-User", "https://docs.perplexity.ai/guides/bots"),
    ("Mistral Le Chat", r"MistralAI-User", "https://docs.mistral.ai/robots"),
    ("DuckDuckGo DuckAssist", r"DuckAssistBot", "https://duckduckgo.com/duckduckgo-help-pages/results/duckassistbot"),
    ("Google (user-triggered fetchers)", r"Google-NotebookLM|Gemini-Deep-Research|Google-Read-Aloud",
     "https://developers.google.com/search/docs/crawling-indexing/google-user-triggered-fetchers"),
    ("Meta AI", r"meta-externalfetcher", "https://developers.facebook.com/docs/sharing/webmasters/web-crawlers"),
    ("Amazon Nova / Alexa", r"NovaAct", "Amazon Nova Act browser agent"),
)  # fmt: skip

CRAWLER: tuple[tuple[str, str, str], ...] = (
    ("Google", r"Googlebot|Google-InspectionTool|GoogleOther|Storebot-Google|AdsBot-Google",
     "https://developers.google.com/search/docs/crawling-indexing/overview-google-crawlers"),
    ("Bing", r"bingbot|BingPreview|msnbot", "https://www.bing.com/webmasters/help/which-crawlers-does-bing-use-8c184ec0"),
    ("OpenAI", r"GPTBot|OAI-SearchBot", "https://platform.openai.com/docs/bots"),
    ("Anthropic", r"ClaudeBot|anthropic-ai|Claude-SearchBot", "https://support.anthropic.com (ClaudeBot)"),
    ("Perplexity", r"PerplexityBot", "https://docs.perplexity.ai/guides/bots"),
    ("Common Crawl", r"CCBot", "https://commoncrawl.org/ccbot"),
    ("ByteDance", r"Bytespider", "https://bytedance.com"),
    ("Apple", r"Applebot", "https://support.apple.com/en-us/119829"),
    ("Meta", r"meta-externalagent", "https://developers.facebook.com/docs/sharing/webmasters/web-crawlers"),
    ("Amazon", r"Amazonbot", "https://developer.amazon.com/amazonbot"),
    ("Yandex", r"YandexBot|YandexImages", "https://yandex.com/support/webmaster/robot-workings/check-yandex-robots.html"),
    ("Baidu", r"Baiduspider", "https://www.baidu.com/search/spider.html"),
    ("DuckDuckGo", r"DuckDuckBot", "https://duckduckgo.com/duckduckgo-help-pages/results/duckduckbot"),
    ("SEO tools", r"AhrefsBot|SemrushBot|MJ12bot|DotBot|PetalBot|SeznamBot|Sogou",
     "each vendor's crawler page"),
    ("HTTP libraries", r"^(curl|Wget|python-requests|python-urllib|python-httpx|httpx|aiohttp|"
     r"Go-http-client|okhttp|axios|node-fetch|undici|got |Java/|Apache-HttpClient|libwww-perl|"
     r"lwp::|Guzzle|Ruby|PHP/|reqwest|rust|Scrapy|PostmanRuntime|insomnia|wrk)",
     "the libraries' default agents"),
    ("Headless browsers", r"HeadlessChrome|PhantomJS|Puppeteer|Playwright|Selenium|Lighthouse",
     "https://developer.chrome.com/docs/chromium/headless"),
    ("Generic robots", r"(?<!cu)bot\b|crawler|spider|\bcrawl|slurp|archiver|scanner|monitor",
     "an agent that says it is a robot"),
)  # fmt: skip
