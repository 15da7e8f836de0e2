"""How the OpenAPI document describes the gateway's two kinds of bearer token."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class StaffJWTScheme(OpenApiAuthenticationExtension):
    target_class = "clients.api.authentication.StaffJWTAuthentication"
    name = "staffJWT"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "Staff access token from /api/auth/token"}


class ClientJWTScheme(OpenApiAuthenticationExtension):
    target_class = "clients.api.authentication.ClientJWTAuthentication"
    name = "clientJWT"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "Client access token from /api/client-auth/login"}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "clients.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A service account's key: `Api-Key <prefix>.<secret>` (scopes: clients:read, clients:write, "
            "audit:read, entitlements:check)",
        }
