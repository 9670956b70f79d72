"""Stand-in signing endpoints (the real ones come with dose escalation) built only from the
public helpers of config.otp, exactly as signing views are meant to use them."""

from django.http import HttpResponse
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.otp import OtpVerifiedForSigning, otp_verified_for_signing, verify_signature
from config.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


class SignView(APIView):
    permission_classes = [IsAuthenticated, OtpVerifiedForSigning]

    def post(self, request):
        verify_signature(
            request,
            password=request.data.get("password"),
            otp_token=request.data.get("otp_token"),
            action="test-decision:1 approve",
        )
        return Response({"signed": True})


@otp_verified_for_signing
def sign_page(request):
    return HttpResponse("signing form")


urlpatterns = [
    path("api/test-sign/", SignView.as_view()),
    path("test-sign/", sign_page),
    *urlpatterns,
]
