"""Whether the admin and the API docs can find their static files.

Outside development the pages name their CSS and scripts through collectstatic's manifest
(whitenoise's CompressedManifestStaticFilesStorage): without `collectstatic`, every admin page
and /api/docs/ is a 500 while /health stays 200. So gunicorn.conf.py refuses to start on it (in
its master, before any worker loads the app), and /health/ready answers 503 should the files go
missing later. A worker never refuses on its own: one replaced later would stop the whole server,
API included, over the admin's CSS.
"""

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage

# What every admin page and the API docs page link to.
PAGE_FILES = ("admin/css/base.css", "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")


def static_files_problem() -> str | None:
    """One sentence naming the command to run, or None when the pages can be rendered and served."""
    if not isinstance(staticfiles_storage, ManifestFilesMixin):
        return None  # development: whitenoise serves each app's own folder
    for name in PAGE_FILES:
        try:
            stored = staticfiles_storage.stored_name(name)
        except ValueError:
            stored = None
        if stored is None or not staticfiles_storage.exists(stored):
            return (
                f"The static files are not collected in {settings.STATIC_ROOT} ({name} is missing): "
                "run `python manage.py collectstatic --noinput` with the same settings, then start the gateway."
            )
    return None
