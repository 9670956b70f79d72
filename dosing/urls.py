from django.urls import path

from dosing import views

urlpatterns = [
    path("", views.index, name="dosing_index"),
    path("<str:code>/", views.escalation, name="dosing_escalation"),
    path("<str:code>/evaluate/", views.evaluate_now, name="dosing_evaluate"),
    path("<str:code>/decisions/", views.decision_list, name="dosing_decisions"),
    path("<str:code>/decisions/<int:pk>/", views.decision_detail, name="dosing_decision"),
    path("<str:code>/decisions/<int:pk>/sign/", views.decision_sign, name="dosing_decision_sign"),
    path(
        "<str:code>/decisions/<int:pk>/override/",
        views.decision_override,
        name="dosing_decision_override",
    ),
    path("<str:code>/decision-table/", views.decision_table_page, name="dosing_decision_table"),
    path("<str:code>/dose-paths/", views.dose_paths_page, name="dosing_dose_paths"),
    path("<str:code>/operating-characteristics/", views.oc_page, name="dosing_oc"),
    path(
        "<str:code>/operating-characteristics/plot.<str:fmt>",
        views.oc_plot,
        name="dosing_oc_plot",
    ),
    path(
        "<str:code>/operating-characteristics/simulations/",
        views.simulation_start,
        name="dosing_simulation_start",
    ),
    path(
        "<str:code>/operating-characteristics/simulations/<int:pk>/",
        views.simulation,
        name="dosing_simulation",
    ),
    path(
        "<str:code>/operating-characteristics/simulations/<int:pk>/status/",
        views.simulation_status,
        name="dosing_simulation_status",
    ),
]
