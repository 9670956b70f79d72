from django.urls import path

from trials import views

urlpatterns = [
    path("", views.home, name="home"),
    path("trials/", views.trial_list, name="trial_list"),
    path("trials/<str:code>/", views.trial_detail, name="trial_detail"),
    path("trials/<str:code>/design/", views.trial_design_amend, name="trial_design_amend"),
    path("trials/<str:code>/screen/", views.patient_screen, name="patient_screen"),
    path("patients/", views.patient_list, name="patient_list"),
    path("patients/<int:pk>/", views.patient_detail, name="patient_detail"),
    path("patients/<int:pk>/edit/", views.patient_edit, name="patient_edit"),
    path("patients/<int:pk>/eligibility/", views.patient_eligibility, name="patient_eligibility"),
    path("patients/<int:pk>/consent/", views.patient_consent, name="patient_consent"),
    path("patients/<int:pk>/enrol/", views.patient_enrol, name="patient_enrol"),
    path("patients/<int:pk>/status/", views.patient_status, name="patient_status"),
    path("patients/<int:pk>/contact/", views.last_contact, name="last_contact"),
    path("patients/<int:pk>/visits/new/", views.visit_add, name="visit_add"),
    path("visits/<int:pk>/", views.visit_record, name="visit_record"),
    path("history/<str:kind>/<int:pk>/", views.history, name="history"),
]
