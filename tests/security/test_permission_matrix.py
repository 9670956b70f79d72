"""Every URL pattern × every actor: the outcome stated in ``tests/security/matrix.py``.

The URL patterns are walked from the project's resolver (the DRF routers included), so a URL
added without a matrix entry fails ``test_every_url_pattern_has_a_matrix_entry``. Each (URL,
actor) pair is its own test. Every answer is also searched for the site A patient's direct
identifiers, which only the site's coordinators and monitors may see.

The records are built once for the module, inside a transaction that is rolled back at the end;
each test runs in its own savepoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLResolver, get_resolver, path, reverse
from rest_framework.test import APIClient

from tests.security.matrix import (
    ACTORS,
    ADMIN_LOGIN,
    ADMIN_PREFIX,
    ENTRIES,
    LOGIN,
    MATRIX,
    NAMED_BODIES,
    REDIRECT,
    TWO_FACTOR,
    WRITES,
    Entry,
)
from tests.security.world import (
    DATE_OF_BIRTH_FORMS,
    FAMILY_NAME,
    GIVEN_NAME,
    World,
    build_world,
)

#: Roles that see a patient's direct identifiers (at the patient's site).
SEE_IDENTIFIERS = {"coordinator", "monitor"}
IDENTIFIERS = (GIVEN_NAME, FAMILY_NAME, *DATE_OF_BIRTH_FORMS)
FORMAT_SUFFIX = ("(?P<format>", "<drf_format_suffix:format>")


# --- Walking the URL patterns -----------------------------------------------------------------


def walk(patterns: Iterable, prefix: str = "", namespace: str | None = None) -> Iterator:
    """(route, name, kwarg names) of every pattern, resolvers (includes, routers) expanded."""
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = namespace
            if p.namespace:
                ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
            yield from walk(p.url_patterns, prefix + str(p.pattern), ns)
        else:
            name = f"{namespace}:{p.name}" if namespace and p.name else p.name
            yield prefix + str(p.pattern), name, tuple(p.pattern.regex.groupindex)


def matrix_key(route: str, name: str | None) -> str:
    """The matrix entry that covers a pattern: its name; ``admin`` for the admin's URLs; the
    route itself for an unnamed pattern (which then has no entry and fails)."""
    if route.startswith(ADMIN_PREFIX):
        return "admin"
    return name or route


def missing_entries(patterns: Iterable) -> list[str]:
    return sorted({matrix_key(route, name) for route, name, _ in walk(patterns)} - set(MATRIX))


def routes_by_name(patterns: Iterable) -> dict[str, set[str]]:
    """Routes of each name, DRF's format-suffix variants folded into their base route."""
    found: dict[str, set[str]] = {}
    for route, name, _ in walk(patterns):
        if route.startswith(ADMIN_PREFIX):
            continue
        base = route
        for marker in FORMAT_SUFFIX:
            base = base.split(marker)[0]
        base = base.rstrip("$").removesuffix("\\.").rstrip("/")
        found.setdefault(matrix_key(route, name), set()).add(base)
    return found


def test_every_url_pattern_has_a_matrix_entry():
    assert missing_entries(get_resolver().url_patterns) == []


def test_every_matrix_entry_is_a_url_pattern():
    keys = {matrix_key(route, name) for route, name, _ in walk(get_resolver().url_patterns)}

    assert sorted(set(MATRIX) - keys) == []


def test_each_name_is_one_route():
    """The matrix is keyed by name: two routes under one name would share an entry."""
    shared = {n: r for n, r in routes_by_name(get_resolver().url_patterns).items() if len(r) > 1}

    assert shared == {}


def test_a_url_without_an_entry_fails_the_matrix():
    def view(request):
        raise AssertionError("never called")

    patterns = [
        *get_resolver().url_patterns,
        path("api/new-thing/", view, name="api-new-thing"),
        path("reports/<int:pk>/", view),
    ]

    assert missing_entries(patterns) == ["api-new-thing", "reports/<int:pk>/"]


# --- The records, once per module --------------------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        # Like TestCase's class-level transaction: services that must not nest
        # (``atomic(durable=True)``) still run inside it.
        atomic._from_testcase = True
        atomic.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def url_for(entry: Entry, world: World) -> str:
    if entry.name == "admin":
        return reverse("admin:index")
    kwargs = {}
    for _, name, kwarg_names in walk(get_resolver().url_patterns):
        if name == entry.name:
            for kwarg in kwarg_names:
                if kwarg == "format":
                    continue
                key = entry.pk if kwarg == "pk" else kwarg
                assert key, f"{entry.name}: say which record its <pk> is"
                kwargs[kwarg] = world.objects[key]
            break
    return reverse(entry.name, kwargs=kwargs) + entry.query


def once(function, key):
    """``function``, answering a second call with the same ``key(*args, **kwargs)`` from the
    first call's result (which it keeps, so keys built on ``id`` stay unique)."""
    made: dict = {}

    def remembered(*args, **kwargs):
        k = key(*args, **kwargs)
        if k not in made:
            made[k] = function(*args, **kwargs)
        return made[k]

    return remembered


@pytest.fixture(scope="module")
def made_once() -> Iterator[None]:
    """The OpenAPI schema, the survival analysis and its plots, the operating-characteristics
    plot and the Simon design search cost up to seconds each, and none depends on who asks:
    the schema is public, the others are trial-level and drawn after the view's role check.
    The first request of the module makes each one; later requests, each still a real request
    of its own actor through the middleware, the view and its role check, get the same bytes.
    Keys are the inputs (the trial and data cut, the plotted data's ``repr``), not the actor.
    """
    from drf_spectacular.generators import SchemaGenerator

    from dosing import plots as dosing_plots
    from response import selectors as response_selectors
    from survival import services as survival_services
    from survival.domain.analysis import SurvivalAnalysis

    def by_self(self, *args, **kwargs):  # ``self`` is kept by ``survival_analysis``'s memo
        return id(self), args, tuple(sorted(kwargs.items()))

    def by_arguments(*args, **kwargs):
        return repr(args), tuple(sorted(kwargs.items()))

    patch = pytest.MonkeyPatch()
    patch.setattr(
        SchemaGenerator,
        "get_schema",
        once(SchemaGenerator.get_schema, lambda self, request=None, public=False: public),
    )
    patch.setattr(
        survival_services,
        "survival_analysis",
        once(
            survival_services.survival_analysis,
            lambda trial, *, data_cut: (trial.pk, data_cut),
        ),
    )
    for name in ("km_plot", "swimmer_plot"):
        patch.setattr(SurvivalAnalysis, name, once(getattr(SurvivalAnalysis, name), by_self))
    patch.setattr(dosing_plots, "oc_figure", once(dosing_plots.oc_figure, by_arguments))
    patch.setattr(
        dosing_plots, "render", once(dosing_plots.render, lambda fig, fmt: (id(fig), fmt))
    )
    patch.setattr(
        response_selectors,
        "search_designs",
        once(response_selectors.search_designs, by_arguments),
    )
    yield
    patch.undo()


@pytest.fixture(scope="module")
def clients(world, django_db_blocker) -> dict:
    """One signed-in page client per actor (signing in is a good part of a request's cost)."""
    with django_db_blocker.unblock():
        built = {}
        for actor, user in world.users.items():
            built[actor] = Client()
            built[actor].force_login(user)
    return built


def client_for_actor(entry: Entry, world: World, actor: str, clients: dict | None = None):
    if clients is not None and not entry.is_api and actor != "anonymous":
        return clients[actor]
    if entry.is_api:
        client = APIClient()
        if actor != "anonymous":
            client.force_authenticate(world.users[actor])
        return client
    client = Client()
    if actor != "anonymous":
        client.force_login(world.users[actor])
    return client


def request(entry: Entry, world: World, actor: str, clients: dict | None = None):
    client = client_for_actor(entry, world, actor, clients)
    url = url_for(entry, world)
    if entry.method == "get":
        return client.get(url)
    if entry.is_api:
        return getattr(client, entry.method)(url, entry.data, format="json")
    return getattr(client, entry.method)(url, entry.data)


def body_text(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode("utf-8", "replace")


def check_outcome(response, expected) -> None:
    status = response.status_code
    location = response.get("Location", "")
    if expected == LOGIN:
        assert (status, location.startswith(reverse("login"))) == (302, True), location
    elif expected == ADMIN_LOGIN:
        assert (status, location.startswith(reverse("admin:login"))) == (302, True), location
    elif expected == TWO_FACTOR:
        assert (status, location.startswith(reverse("two_factor_setup"))) == (302, True)
    elif expected == REDIRECT:
        assert status == 302
        assert not location.startswith((reverse("login"), reverse("admin:login")))
    elif isinstance(expected, tuple):
        assert status in expected
    else:
        assert status == expected, body_text(response)[:500]


CASES = [
    pytest.param(entry, actor, id=f"{entry.name}-{actor}") for entry in ENTRIES for actor in ACTORS
]


@pytest.mark.django_db
@pytest.mark.parametrize(("entry", "actor"), CASES)
def test_matrix(world, clients, made_once, entry, actor, settings):
    # No worker here: /health/ still publishes its ping to the broker for every actor, then
    # answers 503 after 50 ms instead of the 10 s a real deployment waits for a worker.
    settings.HEALTH_WORKER_TIMEOUT = 0.05

    response = request(entry, world, actor, clients)

    check_outcome(response, entry.outcome(actor))
    if actor not in SEE_IDENTIFIERS and response.status_code == 200:
        body = body_text(response)
        assert [x for x in IDENTIFIERS if x in body] == []


# --- Writes: the role before the body ------------------------------------------------------

WRITE_CASES = [
    pytest.param(entry, actor, id=f"{entry.name}-{entry.method}-{actor}")
    for entry in WRITES
    for actor in ACTORS
]


def test_every_write_is_a_matrix_url_with_a_named_body():
    names = [entry.name for entry in WRITES]

    assert (sorted(set(names) - set(MATRIX)), sorted(set(names) ^ set(NAMED_BODIES))) == ([], [])


def named_body(entry: Entry, world: World) -> dict:
    body = NAMED_BODIES[entry.name]
    return {k: world.patient_pk if v == "<patient>" else v for k, v in body.items()}


@pytest.mark.django_db
@pytest.mark.parametrize(("entry", "actor"), WRITE_CASES)
def test_writes_check_the_role_before_the_body(world, entry, actor):
    """An empty body: a writer gets the 400, a role that may not write the 403. The same role
    sends a body naming the trial or patient: still the 403, whatever the body."""
    check_outcome(request(entry, world, actor), entry.outcome(actor))

    if entry.outcome(actor) == 403:
        named = replace(entry, data=named_body(entry, world))
        check_outcome(request(named, world, actor), 403)


# --- Direct identifiers and pseudonymised study IDs -------------------------------------------

PATIENT_VIEWS = ["patient_detail", "history", "api-patient-detail", "api-history"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", PATIENT_VIEWS)
@pytest.mark.parametrize("actor", ["coordinator", "monitor"])
def test_the_sites_coordinators_and_monitors_see_direct_identifiers(world, name, actor):
    response = request(MATRIX[name], world, actor)

    body = body_text(response)
    assert response.status_code == 200
    assert (GIVEN_NAME in body, FAMILY_NAME in body) == (True, True)


@pytest.mark.django_db
@pytest.mark.parametrize("name", PATIENT_VIEWS)
@pytest.mark.parametrize("actor", ["statistician", "investigator", "trial_admin"])
def test_others_see_the_study_id_and_no_direct_identifier(world, name, actor):
    response = request(MATRIX[name], world, actor)

    body = body_text(response)
    assert response.status_code == 200
    assert world.study_id in body
    assert [x for x in IDENTIFIERS if x in body] == []


@pytest.mark.django_db
def test_the_statistician_patient_api_carries_no_identifier_fields(world):
    client = client_for_actor(MATRIX["api-patient-detail"], world, "statistician")

    body = client.get(url_for(MATRIX["api-patient-detail"], world)).json()
    listed = client.get(reverse("api-patient-list")).json()["results"]

    assert body["study_id"] == world.study_id
    identifier_fields = {"given_name", "family_name", "date_of_birth"}
    assert identifier_fields & {k for k, v in body.items() if v} == set()
    assert all(identifier_fields & {k for k, v in row.items() if v} == set() for row in listed)
