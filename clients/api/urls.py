from django.urls import path
from rest_framework.routers import SimpleRouter

from . import auth_views, views

router = SimpleRouter(trailing_slash=False)  # the contract's routes have no trailing slash
router.register("clients", views.ClientViewSet, basename="client")
router.register("demos", views.DemoViewSet, basename="demo")
router.register("audit-log", views.AuditLogViewSet, basename="audit-log")

urlpatterns = [
    *router.urls,  # first: the resource routes take the traffic
    path("auth/token", auth_views.StaffTokenView.as_view(), name="token"),
    path("auth/token/refresh", auth_views.StaffTokenRefreshView.as_view(), name="token-refresh"),
    path("auth/token/verify", auth_views.StaffTokenVerifyView.as_view(), name="token-verify"),
    path("auth/logout", auth_views.StaffLogoutView.as_view(), name="logout"),
    path("auth/logout-all", auth_views.StaffLogoutAllView.as_view(), name="logout-all"),
    path("client-auth/login", views.ClientLoginView.as_view(), name="client-login"),
    path("client-auth/refresh", views.ClientRefreshView.as_view(), name="client-refresh"),
    path("client-auth/logout", views.ClientLogoutView.as_view(), name="client-logout"),
    path("me", views.MeView.as_view(), name="me"),
    path("me/password", views.MePasswordView.as_view(), name="me-password"),
    path("me/demos/<str:slug>/open", views.MeDemoOpenView.as_view(), name="me-demo-open"),
    path("entitlements/check", views.EntitlementCheckView.as_view(), name="entitlement-check"),
]
