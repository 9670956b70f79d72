"""The API-schema deploy check: real schema problems fail `check --deploy`, enum names do not."""

from drf_spectacular.drainage import warn
from drf_spectacular.settings import spectacular_settings

from ops.checks import api_schema_check


class FakeGenerator:
    messages: tuple[str, ...] = ()

    def get_schema(self, request=None, public=False):
        for message in self.messages:
            warn(message)
        return {}


def test_unresolvable_types_are_reported_but_enum_naming_is_not(monkeypatch):
    class Generator(FakeGenerator):
        messages = (
            'enum naming encountered a non-optimally resolvable collision for fields named "x".',
            "encountered multiple names for the same choice set (XEnum).",
            "unable to resolve type hint for function 'score'.",
        )

    monkeypatch.setattr(spectacular_settings, "DEFAULT_GENERATOR_CLASS", Generator)

    problems = api_schema_check(None)

    assert [p.id for p in problems] == ["ops.W001"]
    assert "unable to resolve type hint" in problems[0].msg


def test_a_broken_schema_is_an_error(monkeypatch):
    class Generator(FakeGenerator):
        def get_schema(self, request=None, public=False):
            raise RuntimeError("a serializer cannot be introspected")

    monkeypatch.setattr(spectacular_settings, "DEFAULT_GENERATOR_CLASS", Generator)

    problems = api_schema_check(None)

    assert [p.id for p in problems] == ["ops.E001"]
