"""Editorial control of a source: which entries are kept (filters) and what is rewritten in
what is kept (rewrites, dropped paragraphs).

The config's models (``[filters]``, and the ``include``, ``exclude``, ``languages``,
``rewrite`` and ``drop_paragraphs`` keys of a source) and :class:`Editing`, a source's rules
ready to judge an entry: pure functions of what the entry or the page says. Light to import
(no lxml): the crawler process judges entries before their pages are fetched; the rewriting
itself is done in the extraction workers (``crawler.rewriting``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Literal, Protocol

from pydantic import AfterValidator, Field, model_validator

from crawler.config_types import Strict


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
    return value


Regex = Annotated[str, AfterValidator(_check_regex)]
# A language as pages declare it: "fa", "en-US", "pt_BR". Compared on its first subtag.
LanguageTag = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")]


class FilterRule(Strict):
    """``{field = "title", pattern = "(?i)^video:"}``: ``pattern`` found in ``field``."""

    field: Literal["title", "text", "url"]
    pattern: Regex

    def matches(self, value: str) -> bool:
        return compiled(self.pattern).search(value) is not None

    def describe(self) -> str:
        return f"{self.field} {self.pattern!r}"


class Filters(Strict):
    """``[filters]``, for every source (a source's own keys apply as well)."""

    include: list[FilterRule] = Field(default_factory=list)
    exclude: list[FilterRule] = Field(default_factory=list)
    languages: list[LanguageTag] = Field(default_factory=list)  # to keep; [] keeps all


class Rewrite(Strict):
    """``[[sources.rewrite]]``: ``re.sub(pattern, replace, ...)`` on the title or the text."""

    field: Literal["title", "text"]
    pattern: Regex
    replace: str

    @model_validator(mode="after")
    def _replacement_parses(self) -> Rewrite:
        try:  # Python parses the template even when nothing matches
            compiled(self.pattern).sub(self.replace, "")
        except (re.error, IndexError) as exc:
            raise ValueError(f"replace {self.replace!r} does not fit the pattern: {exc}") from None
        return self


@lru_cache(maxsize=512)
def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class EditedSource(Protocol):
    """What :func:`editing_for` reads of a source (``crawler.config.SourceConfig``)."""

    @property
    def name(self) -> str: ...
    @property
    def include(self) -> Sequence[FilterRule]: ...
    @property
    def exclude(self) -> Sequence[FilterRule]: ...
    @property
    def languages(self) -> Sequence[str]: ...
    @property
    def rewrite(self) -> Sequence[Rewrite]: ...
    @property
    def drop_paragraphs(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class RuleSet:
    """The include and exclude rules of one level (``filters``, or a source's own), named
    as the log names the rule that dropped an entry."""

    where: str
    include: tuple[FilterRule, ...] = ()
    exclude: tuple[FilterRule, ...] = ()

    def verdict(self, values: Mapping[str, str]) -> str | None:
        """The rule that drops an entry whose known fields are ``values``; None if it is kept
        or cannot be judged yet (an include rule over a field not known yet may match)."""
        for index, rule in enumerate(self.exclude):
            value = values.get(rule.field)
            if value is not None and rule.matches(value):
                return f"{self.where}.exclude[{index}] {rule.describe()}"
        judged = [rule for rule in self.include if rule.field in values]
        if any(rule.matches(values[rule.field]) for rule in judged):
            return None
        if self.include and len(judged) == len(self.include):
            return f"{self.where}.include: no rule matched"
        return None


@dataclass(frozen=True)
class Editing:
    """A source's editorial rules, sent with each page to the extraction workers."""

    rule_sets: tuple[RuleSet, ...] = ()
    languages: tuple[str, ...] = ()
    languages_key: str = "filters.languages"
    rewrites: tuple[Rewrite, ...] = ()
    drop_paragraphs: tuple[str, ...] = ()

    def key(self) -> str:
        """A short key of these rules: an entry filtered under other rules is judged again."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]

    def before_fetch(self, url: str, title: str | None) -> str | None:
        """The rule that drops a feed entry on its canonical ``url`` and its ``title``
        (if it has one), before its page is fetched; None if the page is to be fetched."""
        return self._verdict({"url": url, "title": title} if title else {"url": url})

    def after_extraction(
        self, url: str, title: str | None, text: str, language: str | None
    ) -> str | None:
        """The rule that drops an extracted article (its final title and text); None if it
        is kept. An article whose language is unknown is kept."""
        rule = self._verdict({"url": url, "title": title or "", "text": text})
        if rule is None and self.languages and language:
            wanted = {primary_language(tag) for tag in self.languages}
            if primary_language(language) not in wanted:
                rule = f"{self.languages_key}: {language!r} is not {', '.join(self.languages)}"
        return rule

    def _verdict(self, values: Mapping[str, str]) -> str | None:
        for rules in self.rule_sets:
            if (rule := rules.verdict(values)) is not None:
                return rule
        return None


def primary_language(tag: str) -> str:
    """``"en-US"`` -> ``"en"``: the language of a tag, without region or script."""
    return re.split(r"[-_]", tag.strip(), maxsplit=1)[0].lower()


def editing_for(filters: Filters, source: EditedSource | None) -> Editing | None:
    """The rules that apply to ``source``: ``[filters]`` and the source's own (both must
    keep an entry; the source's ``languages``, when set, replace ``filters.languages``), its
    rewrites and dropped paragraphs. None when there are none, so nothing is sent."""
    levels = [RuleSet("filters", tuple(filters.include), tuple(filters.exclude))]
    languages, key = tuple(filters.languages), "filters.languages"
    rewrites: tuple[Rewrite, ...] = ()
    drops: tuple[str, ...] = ()
    if source is not None:
        where = f"sources[{source.name}]"
        levels.append(RuleSet(where, tuple(source.include), tuple(source.exclude)))
        if source.languages:
            languages, key = tuple(source.languages), f"{where}.languages"
        rewrites, drops = tuple(source.rewrite), tuple(source.drop_paragraphs)
    rule_sets = tuple(level for level in levels if level.include or level.exclude)
    if not (rule_sets or languages or rewrites or drops):
        return None
    return Editing(rule_sets, languages, key, rewrites, drops)
