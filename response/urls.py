"""The response pages, mounted at /response/."""

from django.urls import path

from response import views

app_name = "response"

urlpatterns = [
    path("queries/", views.query_list, name="queries"),
    path("patients/<int:pk>/", views.patient_response, name="patient"),
    path("patients/<int:pk>/entries/", views.entry_record, name="entry"),
    path("patients/<int:pk>/sign/", views.sign, name="sign"),
    path("patients/<int:pk>/labs/", views.labs_record, name="labs"),
    path("patients/<int:pk>/lesions/", views.lesion_add, name="lesion_add"),
    path("patients/<int:pk>/assessments/", views.recist_assessment_add, name="recist_assessment"),
    path("queries/<int:query_id>/act/", views.query_act, name="query_act"),
    path("trials/<str:code>/", views.trial_summary, name="trial"),
    path("trials/<str:code>/simon/", views.simon, name="simon"),
    path("trials/<str:code>/waterfall.<str:fmt>", views.waterfall, name="waterfall"),
]
