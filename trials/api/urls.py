from django.urls import path
from rest_framework.routers import DefaultRouter

from trials.api import views

router = DefaultRouter()
router.register("trials", views.TrialViewSet, basename="api-trial")
router.register("sites", views.SiteViewSet, basename="api-site")
router.register("patients", views.PatientViewSet, basename="api-patient")
router.register("visits", views.VisitViewSet, basename="api-visit")
router.register("labs", views.LabViewSet, basename="api-lab")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("history/<str:kind>/<int:pk>/", views.HistoryView.as_view(), name="api-history"),
    *router.urls,
]
