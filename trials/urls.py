from django.urls import path

from trials import views

urlpatterns = [
    path("", views.home, name="home"),
    path("trials/", views.trial_list, name="trial_list"),
    path("trials/<str:code>/", views.trial_detail, name="trial_detail"),
    path("patients/", views.patient_list, name="patient_list"),
    path("patients/<int:pk>/", views.patient_detail, name="patient_detail"),
    path("patients/<int:pk>/edit/", views.patient_edit, name="patient_edit"),
    path("history/<str:kind>/<int:pk>/", views.history, name="history"),
]
