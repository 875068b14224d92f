import pytest
from hypothesis import given
from hypothesis import strategies as st

from mplm_bench.runtime import protocol
from mplm_bench.runtime.protocol import Action, ProtocolError

names = st.from_regex(r"[A-Za-z0-9_.#-]{1,8}", fullmatch=True)
payloads = st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=30)
tasks = st.text(st.characters(blacklist_characters="|\n\r", blacklist_categories=("Cs",)),
                min_size=1, max_size=12).filter(lambda t: t.strip())
free_lines = st.lists(st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)),
                              max_size=20).filter(lambda line: not line.startswith("@")), max_size=3)

actions = st.one_of(
    st.builds(Action, st.sampled_from(sorted(protocol.VERBS_BARE))),
    st.builds(Action, st.sampled_from(["answer", "return"]), payloads),
    st.builds(lambda p, t: Action("send", p, tuple(t)), payloads, st.lists(names, min_size=1, max_size=4)),
    st.builds(lambda t: Action("fork", "", tuple(t)), st.lists(tasks, min_size=1, max_size=4)),
)


@given(actions, free_lines)
def test_format_then_parse_is_identity(action, lines):
    segment = "".join(line + "\n" for line in lines) + protocol.format_action(action)
    assert protocol.parse_segment(segment) == action
    assert protocol.find_action_end(segment) == len(segment)


def test_action_end_ignores_text_after_the_action_line():
    text = "thinking\n@send a,b hi\nextra"
    assert protocol.find_action_end(text) == len("thinking\n@send a,b hi\n")
    assert protocol.parse_segment(text) == Action("send", "hi", ("a", "b"))


def test_no_action_yet():
    assert protocol.find_action_end("thinking\n@send a") is None
    with pytest.raises(ProtocolError, match="no complete action"):
        protocol.parse_segment("just text\n")


@pytest.mark.parametrize("line, reason", [
    ("@jump x", "unknown action @jump"),
    ("@join now", "@join takes nothing"),
    ("@send a;b hi", "bad recipient name"),
    ("@fork ", "@fork needs"),
    ("@fork a |  | b", "@fork needs"),
])
def test_bad_action_lines(line, reason):
    with pytest.raises(ProtocolError, match=reason):
        protocol.parse_action(line)


def test_insert_line_format():
    assert protocol.format_insert("r1c2", "r1c2=5") == "<< r1c2: r1c2=5\n"


def test_grammar_lists_only_the_paradigm_verbs():
    text = protocol.grammar(frozenset({"send", "recv", "exit", "answer"}))
    assert '"@recv"' in text and '"@send " name' in text and '"@answer " payload' in text
    assert "@fork" not in text and "@join" not in text
    assert text.startswith("root ::= line* action")


@pytest.mark.parametrize("text, action, repairs", [
    ("@answer 42\n", Action("answer", "42"), ()),
    ("**@answer** 42\n", Action("answer", "42"), ("markup",)),
    ("So the answer is @answer 42\n", Action("answer", "42"), ("inline",)),
    ("So: **@answer 42**\n", Action("answer", "42"), ("inline", "markup")),
    ("- `@recv`\n", Action("recv"), ("markup",)),
    ("mail a@answer.com\n@send b,c hi\n", Action("send", "hi", ("b", "c")), ()),
    ("thinking\n@answer 42", Action("answer", "42"), ("no-newline",)),
    ("I think it is Paris.\n\n", Action("answer", "I think it is Paris."), ("no-action",)),
    ("**Paris**", Action("answer", "Paris"), ("no-action",)),
    ("@jump high\n@send a;b x\n", Action("answer", "@send a;b x"), ("no-action",)),
])
def test_tolerant_reading_counts_its_repairs(text, action, repairs):
    assert protocol.parse_segment_tolerant(text, fallback="answer") == (action, repairs)


def test_tolerant_stop_detection_and_no_fallback():
    assert protocol.find_action_end("so **@recv**\nmore") == None
    assert protocol.find_action_end("so **@recv**\nmore", tolerant=True) == len("so **@recv**\n")
    assert protocol.find_action_end("write me at x@recv.org\n", tolerant=True) is None
    with pytest.raises(ProtocolError, match="no action"):
        protocol.parse_segment_tolerant("just prose\n")
