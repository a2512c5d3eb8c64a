"""A learner driving the case player through the Flask test client, as a browser would: launch with
the minted platform, then follow the links and submit the forms of each page (they carry the page
token), reading pages with a small HTML tree (stdlib html.parser: no extra dependency)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text

from tests.support.minted import MintedPlatform

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
TABLES = ("attempt", "attempt_event", "reflection_answer", "reflection_submission")


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        return [e for e in self.iter() if (tag is None or e.tag == tag)
                and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def find(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag} {attrs}>"
        return found[0]

    @property
    def text(self) -> str:
        parts: list[str] = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else child.text)
        return " ".join(" ".join(parts).split())

    @property
    def raw_text(self) -> str:
        return "".join(c if isinstance(c, str) else c.raw_text for c in self.children)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


class Page:
    def __init__(self, response: Any) -> None:
        self.response = response
        self.status = response.status_code
        self.html = response.get_data(as_text=True)
        self.tree = parse(self.html)

    @property
    def h1(self) -> str:
        return self.tree.find("h1").text

    @property
    def path(self) -> str:
        return self.response.request.path

    def link(self, text_part: str) -> str:
        for a in self.tree.find_all("a"):
            if text_part in a.text:
                return a.attrs["href"]
        raise AssertionError(f"no link containing {text_part!r}")

    def form(self, action_part: str) -> Element:
        for form in self.tree.find_all("form"):
            if action_part in form.attrs.get("action", ""):
                return form
        raise AssertionError(f"no form posting to {action_part!r}")

    def fields(self, form: Element) -> dict[str, str]:
        return {i.attrs["name"]: i.attrs.get("value", "") for i in form.find_all("input")
                if i.attrs.get("type") == "hidden"}

    def choices(self) -> list[str]:
        return [i.attrs["value"] for i in self.tree.find_all("input", type="radio")]

    @property
    def token(self) -> str:
        return self.tree.find("input", name="t").attrs["value"]


class Player:
    """A learner in the test client, moving from page to page like a browser."""

    def __init__(self, client: Any, landing: str) -> None:
        self.client = client
        self.page = self.get(landing)

    @classmethod
    def launch(cls, client: Any, platform: MintedPlatform, **claims: Any) -> Player:
        response = platform.launch(client, **claims)
        # A learner's first page comes in the launch response (200, its URL in Content-Location);
        # other landings answer 303.
        assert response.status_code in (200, 303), response.get_data(as_text=True)[:500]
        return cls(client, response.headers.get("Content-Location") or response.headers["Location"])

    @property
    def token(self) -> str:
        query = parse_qs(urlsplit(self.page.response.request.url).query)
        return query["t"][0]

    def get(self, url: str) -> Page:
        self.page = Page(self.client.get(url))
        return self.page

    def submit(self, action_part: str, **values: str) -> Page:
        """Submit a form of the current page (hidden fields included); follow the 303."""
        form = self.page.form(action_part)
        data = {**self.page.fields(form), **values}
        response = self.client.post(form.attrs["action"], data=data)
        if response.status_code == 303:
            return self.get(response.headers["Location"])
        self.page = Page(response)
        return self.page

    def follow(self, link_text: str) -> Page:
        return self.get(self.page.link(link_text))

    # -- the case player ---------------------------------------------------------------------------
    def start(self, case_id: str) -> Page:
        return self.submit(f"/cases/{case_id}/attempts")

    def choose(self, choice_id: str) -> Page:
        assert choice_id in self.page.choices(), (choice_id, self.page.choices())
        return self.submit("/choice", choice=choice_id)

    def proceed(self) -> Page:
        return self.submit("/continue")

    def play(self, choice_ids: list[str]) -> Page:
        """Choose and dismiss each consequence screen."""
        for choice_id in choice_ids:
            self.choose(choice_id)
            assert self.page.status == 200, self.page.html[:800]
            self.proceed()
        return self.page


def snapshot(app: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the player's tables: compared before and after a refused request."""
    engine = app.extensions["db_engine"]
    with engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))]
                for t in TABLES}


def best_choices(app: Any, case_id: str) -> list[str]:
    from lti_tool.cases.loader import get_level

    level = get_level(app.extensions["settings"].content_dir)
    return [d.best.id for d in level.cases[case_id].decisions]


def pass_all_cases(app: Any, sub: str | None = "user-1") -> int:
    """Play the best choices of every case of the level through the services (the HTTP path of a
    case is covered in test_player.py), for the learner with `sub` (None: the only learner);
    returns the learner id."""
    from sqlalchemy import select

    from lti_tool.cases import service
    from lti_tool.cases.loader import get_level
    from lti_tool.models import Learner

    level = get_level(app.extensions["settings"].content_dir)
    session = app.extensions["db_sessionmaker"]()
    try:
        query = select(Learner.id) if sub is None else select(Learner.id).where(Learner.sub == sub)
        learner_id: int = session.scalars(query).one()
        for case in level.cases.values():
            attempt = service.start_attempt(session, learner_id, case)
            for decision in case.decisions:
                service.choose(session, case, attempt, decision.best.id, attempt.version)
                service.acknowledge(session, attempt, attempt.version)
        session.commit()
        return learner_id
    finally:
        session.close()
