"""The interactive API documentation (Swagger UI), under the site's Content-Security-Policy.

drf-spectacular's stock page runs an inline script and style without a nonce; this view renders
the same page with the request's CSP nonce on them (``templates/api_docs/swagger_ui.html``),
so /api/docs/ needs no exemption from the policy.
"""

from drf_spectacular.views import SpectacularSwaggerView


class SwaggerDocsView(SpectacularSwaggerView):
    template_name = "api_docs/swagger_ui.html"
