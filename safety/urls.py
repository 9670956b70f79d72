from django.urls import path

from safety import views

urlpatterns = [
    path("", views.index, name="safety_index"),
    path("patients/<int:pk>/adverse-events/new/", views.ae_new, name="safety_ae_new"),
    path("adverse-events/<int:pk>/", views.ae_detail, name="safety_ae_detail"),
    path("adverse-events/<int:pk>/edit/", views.ae_edit, name="safety_ae_edit"),
    path("adverse-events/<int:pk>/grade/", views.ae_grade_change, name="safety_ae_grade"),
    path(
        "adverse-events/<int:pk>/attribution/",
        views.ae_attribution,
        name="safety_ae_attribution",
    ),
    path(
        "lab-suggestions/<int:pk>/confirm/",
        views.suggestion_confirm,
        name="safety_suggestion_confirm",
    ),
    path(
        "lab-suggestions/<int:pk>/dismiss/",
        views.suggestion_dismiss,
        name="safety_suggestion_dismiss",
    ),
    path("potential-dlts/<int:pk>/", views.potential_dlt_detail, name="safety_potential_dlt"),
    path(
        "potential-dlts/<int:pk>/adjudicate/",
        views.potential_dlt_adjudicate,
        name="safety_adjudicate",
    ),
    path("sae/<int:pk>/", views.sae_detail, name="safety_sae_detail"),
    path("sae/<int:pk>/submit/", views.sae_submit, name="safety_sae_submit"),
    path("sae/<int:pk>/sign/", views.sae_sign, name="safety_sae_sign"),
    path("<str:code>/", views.trial_home, name="safety_trial"),
    path("<str:code>/adverse-events/", views.ae_list, name="safety_ae_list"),
    path("<str:code>/lab-suggestions/", views.lab_suggestions, name="safety_lab_suggestions"),
    path("<str:code>/dlt/", views.dlt_queue, name="safety_dlt_queue"),
    path("<str:code>/sae/", views.sae_list, name="safety_sae_list"),
    path("<str:code>/tables/", views.tables, name="safety_tables"),
]
