from django.urls import path

from survival import views

urlpatterns = [
    path("", views.analysis_index, name="survival_index"),
    path("<str:code>/", views.trial_analysis, name="survival_trial"),
    path("<str:code>/plots/km.<str:fmt>", views.km_plot, name="survival_km_plot"),
    path("<str:code>/plots/swimmer.<str:fmt>", views.swimmer_plot, name="survival_swimmer_plot"),
    path("<str:code>/exports/", views.export_start, name="survival_export_start"),
    path("<str:code>/exports/<int:pk>/", views.export_detail, name="survival_export"),
    path(
        "<str:code>/exports/<int:pk>/status.json",
        views.export_status,
        name="survival_export_status",
    ),
    path(
        "<str:code>/exports/<int:pk>/download/",
        views.export_download,
        name="survival_export_download",
    ),
]
