from django.urls import path

from dosing.api import views

urlpatterns = [
    path("levels/", views.DoseLevelListView.as_view(), name="api-dosing-levels"),
    path("slots/", views.SlotListView.as_view(), name="api-dosing-slots"),
    path("escalation/", views.EscalationStateView.as_view(), name="api-dosing-escalation"),
    path("decisions/", views.DecisionListView.as_view(), name="api-dosing-decisions"),
    path("decisions/<int:pk>/", views.DecisionDetailView.as_view(), name="api-dosing-decision"),
    path(
        "decisions/<int:pk>/sign/",
        views.DecisionSignView.as_view(),
        name="api-dosing-decision-sign",
    ),
    path(
        "decisions/<int:pk>/override/",
        views.DecisionOverrideView.as_view(),
        name="api-dosing-decision-override",
    ),
    path("decision-table/", views.DecisionTableView.as_view(), name="api-dosing-decision-table"),
    path("what-if/", views.WhatIfView.as_view(), name="api-dosing-what-if"),
    path(
        "operating-characteristics/",
        views.OperatingCharacteristicsView.as_view(),
        name="api-dosing-oc",
    ),
    path(
        "operating-characteristics/simulations/",
        views.SimulationListView.as_view(),
        name="api-dosing-simulations",
    ),
    path(
        "operating-characteristics/simulations/<int:pk>/",
        views.SimulationDetailView.as_view(),
        name="api-dosing-simulation",
    ),
]
