from trials.models import Role
from trials.selectors import request_user_roles


def navigation(request):
    """Which navigation entries the signed-in user's roles call for."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_roles": set()}
    roles = request_user_roles(request)
    return {
        "nav_roles": roles,
        "nav_sees_patients": bool(roles),
        "nav_is_investigator": Role.INVESTIGATOR in roles,
        "nav_is_statistician": Role.STATISTICIAN in roles,
        "nav_is_trial_admin": Role.TRIAL_ADMIN in roles,
    }
