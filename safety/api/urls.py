from django.urls import path

from safety.api import views

urlpatterns = [
    path("ctcae-terms/", views.CtcaeTermSearchView.as_view(), name="api-safety-ctcae-terms"),
    path("adverse-events/", views.AdverseEventListView.as_view(), name="api-safety-ae-list"),
    path(
        "adverse-events/<int:pk>/",
        views.AdverseEventDetailView.as_view(),
        name="api-safety-ae-detail",
    ),
    path(
        "adverse-events/<int:pk>/grade-changes/",
        views.AdverseEventGradeChangeView.as_view(),
        name="api-safety-ae-grade-change",
    ),
    path(
        "adverse-events/<int:pk>/attributions/",
        views.AdverseEventAttributionView.as_view(),
        name="api-safety-ae-attribution",
    ),
    path(
        "lab-suggestions/",
        views.LabSuggestionListView.as_view(),
        name="api-safety-lab-suggestions",
    ),
    path(
        "lab-suggestions/<int:pk>/confirm/",
        views.LabSuggestionConfirmView.as_view(),
        name="api-safety-lab-suggestion-confirm",
    ),
    path(
        "lab-suggestions/<int:pk>/dismiss/",
        views.LabSuggestionDismissView.as_view(),
        name="api-safety-lab-suggestion-dismiss",
    ),
    path("dlt-windows/", views.DltWindowListView.as_view(), name="api-safety-dlt-windows"),
    path("potential-dlts/", views.PotentialDltListView.as_view(), name="api-safety-potential-dlts"),
    path(
        "potential-dlts/<int:pk>/adjudicate/",
        views.PotentialDltAdjudicateView.as_view(),
        name="api-safety-adjudicate",
    ),
    path("sae-reports/", views.SaeReportListView.as_view(), name="api-safety-sae-list"),
    path(
        "sae-reports/<int:pk>/", views.SaeReportDetailView.as_view(), name="api-safety-sae-detail"
    ),
    path(
        "sae-reports/<int:pk>/submit/",
        views.SaeReportSubmitView.as_view(),
        name="api-safety-sae-submit",
    ),
    path(
        "sae-reports/<int:pk>/sign/", views.SaeReportSignView.as_view(), name="api-safety-sae-sign"
    ),
    path("tables/ae/", views.AeTablesView.as_view(), name="api-safety-ae-tables"),
    path("tables/dlt/", views.DltListingView.as_view(), name="api-safety-dlt-listing"),
]
