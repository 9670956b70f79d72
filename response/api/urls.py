"""The response API, mounted at /api/response/."""

from django.urls import path

from response.api import views

urlpatterns = [
    path("patients/", views.PatientResponseListView.as_view(), name="api-response-list"),
    path(
        "patients/<int:pk>/", views.PatientResponseDetailView.as_view(), name="api-response-patient"
    ),
    path("patients/<int:pk>/entries/", views.EntryListView.as_view(), name="api-response-entries"),
    path(
        "patients/<int:pk>/entries/<int:entry_id>/",
        views.EntryDetailView.as_view(),
        name="api-response-entry",
    ),
    path("patients/<int:pk>/sign/", views.SignView.as_view(), name="api-response-sign"),
    path(
        "patients/<int:pk>/recist/lesions/",
        views.LesionListView.as_view(),
        name="api-response-lesions",
    ),
    path(
        "patients/<int:pk>/recist/lesions/<int:lesion_id>/",
        views.LesionDetailView.as_view(),
        name="api-response-lesion",
    ),
    path(
        "patients/<int:pk>/recist/assessments/",
        views.RecistAssessmentListView.as_view(),
        name="api-response-recist-assessments",
    ),
    path("queries/", views.QueryListView.as_view(), name="api-response-queries"),
    path("queries/<int:query_id>/", views.QueryDetailView.as_view(), name="api-response-query"),
    path(
        "queries/<int:query_id>/transition/",
        views.QueryTransitionView.as_view(),
        name="api-response-query-transition",
    ),
    path("trials/<str:code>/summary/", views.SummaryView.as_view(), name="api-response-summary"),
    path(
        "trials/<str:code>/waterfall/", views.WaterfallView.as_view(), name="api-response-waterfall"
    ),
    path("trials/<str:code>/simon/", views.SimonMonitorView.as_view(), name="api-response-simon"),
    path("simon/design/", views.SimonDesignView.as_view(), name="api-response-simon-design"),
]
