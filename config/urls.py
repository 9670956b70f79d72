from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from config import accounts_views
from config.api_docs import SwaggerDocsView
from config.health import health
from config.ping import PingView
from trials.forms import EmailAuthenticationForm

urlpatterns = [
    path("health/", health, name="health"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            authentication_form=EmailAuthenticationForm,
            extra_context={
                "failure_limit": settings.AXES_FAILURE_LIMIT,
                "cooloff_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
            },
        ),
        name="login",
    ),
    path("accounts/login/verify/", accounts_views.login_verify, name="login_verify"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/two-factor/", accounts_views.two_factor_setup, name="two_factor_setup"),
    path(
        "accounts/password/change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/ping/", PingView.as_view(), name="api-ping"),
    path("api/response/", include("response.api.urls")),
    path("api/survival/", include("survival.api.urls")),
    path("api/safety/", include("safety.api.urls")),
    path("api/dosing/", include("dosing.api.urls")),
    path("api/", include("trials.api.urls")),
    path("response/", include("response.urls")),
    path("survival/", include("survival.urls")),
    path("safety/", include("safety.urls")),
    path("dosing/", include("dosing.urls")),
    path("", include("trials.urls")),
]

handler400 = "config.errors.bad_request"
handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"
handler403 = "config.errors.forbidden"
