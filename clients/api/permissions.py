from rest_framework.permissions import BasePermission, DjangoModelPermissions

from .authentication import ClientPrincipal, ServiceAccountPrincipal


class StaffModelPermissions(DjangoModelPermissions):
    """Active staff users, and Django's model permissions for each verb (reads need `view`);
    API keys too, whose scopes stand for those permissions (ServiceAccountPrincipal.has_perm).

    A viewset action may name its own permission in `action_permissions`:
    {"extend": ("change", Client)} or {"demos": {"GET": ("view", ClientDemoAccess), ...}}.
    """

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated or isinstance(user, ClientPrincipal):
            return False
        if not getattr(user, "is_staff", False) and not isinstance(user, ServiceAccountPrincipal):
            return False
        rule = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if isinstance(rule, dict):
            rule = rule.get(request.method)
        if rule is None:
            return super().has_permission(request, view)
        verb, model = rule
        return user.has_perm(f"{model._meta.app_label}.{verb}_{model._meta.model_name}")


class IsClient(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, ClientPrincipal)


class HasScope(BasePermission):
    """An API key with the view's `required_scope` (staff and client tokens: refused)."""

    message = "This API key's scopes do not allow this route."

    def has_permission(self, request, view):
        user = request.user
        return isinstance(user, ServiceAccountPrincipal) and view.required_scope in user.scopes
