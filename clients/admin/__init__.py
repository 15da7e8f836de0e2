from . import clients  # noqa: F401  (registers the model admins)
