"""TOTP two-factor authentication: who needs it, setting it up, and the second sign-in step.

Codes are real: computed from the device's own key, as an authenticator app would.
"""

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.otp import user_requires_otp
from tests.conftest import TwoSiteTrial, client_for
from tests.factories import UserFactory
from tests.security.helpers import confirmed_device, totp_code, wrong_code
from trials.models import Membership

pytestmark = pytest.mark.django_db

SETUP_URL = "/accounts/two-factor/"
VERIFY_URL = "/accounts/login/verify/"


def sign_in_with_password(user, password) -> Client:
    client = Client()
    response = client.post(reverse("login"), {"username": user.email, "password": password})
    assert response.status_code == 302
    return client


def verified_client(user, password) -> tuple[Client, TOTPDevice]:
    device = confirmed_device(user)
    client = sign_in_with_password(user, password)
    response = client.post(VERIFY_URL, {"otp_token": totp_code(device), "next": "/"})
    assert response.status_code == 302
    return client, device


def test_investigators_and_trial_admins_need_two_factor(two_site_trial: TwoSiteTrial):
    t = two_site_trial

    assert user_requires_otp(t.investigator)
    assert user_requires_otp(t.trial_admin)
    assert not user_requires_otp(t.coordinator_a)
    assert not user_requires_otp(t.statistician)
    assert not user_requires_otp(t.monitor_a)


def test_an_inactive_membership_does_not_require_two_factor(two_site_trial: TwoSiteTrial):
    Membership.objects.filter(user=two_site_trial.investigator).update(active=False)

    assert not user_requires_otp(two_site_trial.investigator)


def test_setup_page_shows_the_secret_the_uri_and_a_local_qr_code(two_site_trial: TwoSiteTrial):
    client = client_for(two_site_trial.investigator)

    response = client.get(SETUP_URL)

    body = response.content.decode()
    device = TOTPDevice.objects.get(user=two_site_trial.investigator)
    assert response.status_code == 200
    assert not device.confirmed
    assert "otpauth://totp/TrialDesk" in body
    assert response.context["secret"] in device.config_url
    assert "<svg" in body
    assert "<img" not in body and "http" not in body.split("<svg", 1)[1].split("</svg>")[0]


def test_reloading_the_setup_page_keeps_the_same_secret(two_site_trial: TwoSiteTrial):
    client = client_for(two_site_trial.investigator)

    first = client.get(SETUP_URL).context["secret"]
    second = client.get(SETUP_URL).context["secret"]

    assert first == second
    assert TOTPDevice.objects.filter(user=two_site_trial.investigator).count() == 1


def test_a_wrong_code_does_not_turn_two_factor_on(two_site_trial: TwoSiteTrial):
    client = client_for(two_site_trial.investigator)
    client.get(SETUP_URL)
    device = TOTPDevice.objects.get(user=two_site_trial.investigator)

    response = client.post(SETUP_URL, {"otp_token": wrong_code(device)})

    device.refresh_from_db()
    assert response.status_code == 200
    assert response.context["form"].errors["otp_token"]
    assert not device.confirmed


def test_the_right_code_confirms_the_device_and_verifies_the_session(
    two_site_trial: TwoSiteTrial,
):
    client = client_for(two_site_trial.investigator)
    client.get(SETUP_URL)
    device = TOTPDevice.objects.get(user=two_site_trial.investigator)

    response = client.post(SETUP_URL, {"otp_token": totp_code(device)})

    device.refresh_from_db()
    assert response.status_code == 302
    assert device.confirmed
    assert client.session["otp_device_id"] == device.persistent_id
    assert "Two-factor authentication is on" in client.get(SETUP_URL).content.decode()


def test_replacing_the_authenticator_keeps_the_old_one_until_the_new_is_confirmed(
    two_site_trial: TwoSiteTrial, password
):
    user = two_site_trial.investigator
    client, old = verified_client(user, password)

    client.get(SETUP_URL + "?replace=1")
    new = TOTPDevice.objects.get(user=user, confirmed=False)
    still_two = TOTPDevice.objects.filter(user=user).count()
    response = client.post(SETUP_URL, {"otp_token": totp_code(new), "replace": "1"})

    assert still_two == 2
    assert response.status_code == 302
    assert list(TOTPDevice.objects.filter(user=user)) == [new]
    assert TOTPDevice.objects.get(pk=new.pk).confirmed


def test_banner_asks_investigators_without_a_device_to_set_one_up(two_site_trial: TwoSiteTrial):
    t = two_site_trial

    investigator_home = client_for(t.investigator).get("/").content.decode()
    coordinator_home = client_for(t.coordinator_a).get("/").content.decode()

    assert "Set up two-factor authentication" in investigator_home
    assert f'href="{SETUP_URL}"' in investigator_home
    assert "Set up two-factor authentication" not in coordinator_home


def test_banner_is_gone_once_the_device_is_confirmed(two_site_trial: TwoSiteTrial, password):
    client, _ = verified_client(two_site_trial.investigator, password)

    home = client.get("/")

    assert home.status_code == 200
    assert "Set up two-factor authentication" not in home.content.decode()


def test_a_user_with_a_device_must_pass_the_second_step(two_site_trial: TwoSiteTrial, password):
    user = two_site_trial.investigator
    device = confirmed_device(user)
    client = sign_in_with_password(user, password)

    page = client.get("/patients/")
    api = client.get("/api/me/")
    wrong = client.post(VERIFY_URL, {"otp_token": wrong_code(device), "next": "/patients/"})
    skipped = "otp_device_id" not in client.session
    # a wrong code holds further tries back for a second; let that second pass
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    right = client.post(VERIFY_URL, {"otp_token": totp_code(device), "next": "/patients/"})
    after = client.get("/patients/")

    assert page.status_code == 302
    assert page["Location"].startswith(VERIFY_URL)
    assert api.status_code == 403
    assert "authenticator" in api.json()["detail"]
    assert wrong.status_code == 200
    assert wrong.context["form"].errors["otp_token"]
    assert skipped
    assert right.status_code == 302
    assert right["Location"] == "/patients/"
    assert after.status_code == 200


def test_the_admin_login_form_cannot_skip_the_second_step(password):
    admin_user = UserFactory(email="root@example.org", is_staff=True, is_superuser=True)
    confirmed_device(admin_user)
    client = Client()

    client.post("/admin/login/", {"username": admin_user.email, "password": password})
    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(VERIFY_URL)


def test_users_without_a_device_sign_in_with_the_password_alone(
    two_site_trial: TwoSiteTrial, password
):
    client = sign_in_with_password(two_site_trial.coordinator_a, password)

    assert client.get("/patients/").status_code == 200


def test_the_second_step_never_redirects_to_another_site(two_site_trial: TwoSiteTrial, password):
    user = two_site_trial.investigator
    device = confirmed_device(user)
    client = sign_in_with_password(user, password)

    response = client.post(
        VERIFY_URL, {"otp_token": totp_code(device), "next": "https://evil.example/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_wrong_codes_slow_down_further_tries(two_site_trial: TwoSiteTrial, password):
    user = two_site_trial.investigator
    device = confirmed_device(user)
    client = sign_in_with_password(user, password)

    client.post(VERIFY_URL, {"otp_token": wrong_code(device)})
    client.post(VERIFY_URL, {"otp_token": wrong_code(device)})
    throttled = client.post(VERIFY_URL, {"otp_token": totp_code(device)})

    assert throttled.status_code == 200
    assert "Wait" in throttled.context["form"].errors["otp_token"][0]
    assert "otp_device_id" not in client.session
