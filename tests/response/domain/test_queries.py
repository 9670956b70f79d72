"""The response query workflow as a transition table: who may take which step."""

import pytest

from response.domain.queries import QueryTransitionError, check_query_transition, query_targets


@pytest.mark.parametrize(
    ("current", "target", "actors"),
    [
        ("open", "answered", {"coordinator"}),
        ("open", "answered", {"investigator"}),
        ("answered", "closed", {"investigator"}),
        ("answered", "open", {"investigator"}),
        ("open", "closed", {"investigator"}),
        ("open", "withdrawn", {"system"}),
        ("answered", "withdrawn", {"system"}),
    ],
)
def test_allowed_steps(current, target, actors):
    assert check_query_transition(current, target, actors=actors).value == target


@pytest.mark.parametrize(
    ("current", "target", "actors", "fragment"),
    [
        ("answered", "closed", {"coordinator"}, "Only the investigator"),
        ("open", "withdrawn", {"investigator"}, "Only the system"),
        ("closed", "open", {"investigator"}, "it is final"),
        ("withdrawn", "answered", {"coordinator"}, "it is final"),
        ("open", "lost", {"investigator"}, "Unknown query status"),
    ],
)
def test_refused_steps_say_why(current, target, actors, fragment):
    with pytest.raises(QueryTransitionError) as caught:
        check_query_transition(current, target, actors=actors)

    assert fragment in caught.value.message


def test_targets_per_actor():
    assert query_targets("open", {"coordinator"}) == ["answered"]
    assert set(query_targets("answered", {"investigator"})) == {"closed", "open"}
    assert query_targets("closed", {"investigator", "coordinator", "system"}) == []
