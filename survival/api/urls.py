from django.urls import path

from survival.api import views

urlpatterns = [
    path("trials/<str:code>/exports/", views.ExportListView.as_view(), name="api-survival-exports"),
    path(
        "trials/<str:code>/exports/<int:pk>/",
        views.ExportJobView.as_view(),
        name="api-survival-export",
    ),
    path(
        "trials/<str:code>/exports/<int:pk>/download/",
        views.ExportDownloadView.as_view(),
        name="api-survival-export-download",
    ),
    path("trials/<str:code>/data-cuts/", views.DataCutListView.as_view(), name="api-survival-cuts"),
    path("trials/<str:code>/km/", views.KmSummaryView.as_view(), name="api-survival-km"),
    path(
        "trials/<str:code>/plots/km.<str:fmt>",
        views.KmPlotView.as_view(),
        name="api-survival-km-plot",
    ),
    path(
        "trials/<str:code>/plots/swimmer.<str:fmt>",
        views.SwimmerPlotView.as_view(),
        name="api-survival-swimmer-plot",
    ),
]
