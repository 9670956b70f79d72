"""Error pages: JSON under /api/, HTML elsewhere. Never a debug page in production."""

from django.http import JsonResponse
from django.shortcuts import render


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def forbidden(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"detail": "You do not have permission for this."}, status=403)
    return render(request, "403.html", {"message": str(exception or "")}, status=403)


def server_error(request):
    if _wants_json(request):
        return JsonResponse({"detail": "Server error. It has been logged."}, status=500)
    return render(request, "500.html", status=500)
