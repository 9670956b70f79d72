"""The bare API endpoint: authentication plus one trivial query.

``make bench`` uses it as the baseline every page is compared with (the same server, the same
middleware and session authentication, and nothing of the application's own work), and clients
can use it to check that their token works.
"""

from __future__ import annotations

from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView


class PingView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        responses=inline_serializer(
            "Ping", {"ok": serializers.BooleanField(), "user": serializers.EmailField()}
        ),
        summary="Check authentication (one trivial query; the benchmark's baseline)",
    )
    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return Response({"ok": True, "user": request.user.email})
