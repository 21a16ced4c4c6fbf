"""Names are plain text everywhere and cannot pass for someone else's (core.text)."""
import pytest
from markdown_it import MarkdownIt

from core.text import TextError, display_name, plain, skeleton

GFM = MarkdownIt("commonmark").enable(["table", "strikethrough"])   # images, links, <autolinks>, HTML


@pytest.mark.parametrize("name", ["![b](http://evil.example/beacon.png)", "[x](http://evil.example)",
                                  "<img src=x onerror=alert(1)>", "**bold** _i_ `c`", "<http://evil.example>", "# title", "| a | b |", ":red[x] :smile: $x^2$"])
def test_a_name_in_markdown_renders_as_exactly_its_characters(name):
    html = GFM.render(plain(name))
    assert "<img" not in html and "<a " not in html and "<strong" not in html and "<h1" not in html
    text = GFM.parse(plain(name))[1].children
    assert "".join(t.content for t in text if t.type in ("text", "html_inline")) == name


def test_plain_leaves_letters_alone():
    assert plain("Ada Lovelace 3") == "Ada Lovelace 3" and plain("Zoë 李") == "Zoë 李"


@pytest.mark.parametrize("typed, stored", [("Ａｄａ", "Ada"), ("  Ada   L. ", "Ada L."), ("Μαρία", "Μαρία"),
                                           ("李小龙", "李小龙"), ("Zoë", "Zoë")])
def test_names_are_normalised(typed, stored):
    assert display_name(typed) == stored


@pytest.mark.parametrize("bad, why", [("Аda", "look-alike"), ("ㅤ", "visible"), ("Ada\u200b", "visible"),
                                      ("A\u202eda", "visible"), ("a\x00b", "visible"), ("", "type"),
                                      ("...", "letter"), ("x" * 41, "at most")])
def test_look_alike_invisible_and_empty_names_are_refused(bad, why):
    with pytest.raises(TextError, match=why):
        display_name(bad)


def test_a_huge_name_is_refused_before_it_is_normalised():
    with pytest.raises(TextError, match="at most 40"):
        display_name("a" * 10_000_000)


def test_look_alike_names_have_the_same_skeleton():
    assert skeleton("Аԁа") == skeleton("ADA") == skeleton("Ada") != skeleton("Adam")
