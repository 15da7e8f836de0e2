"""The refusals a use case can give, below both the services that raise them and the API that
answers them (ltplabs.api.errors maps each to its HTTP status)."""


class ServiceError(Exception):
    """A refusal the caller can act on; `status` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class PreconditionFailed(ServiceError):
    """The caller's If-Match is not the resource's current version."""

    status = 412


class InvalidCredentials(ServiceError):
    status = 401

    def __init__(self):
        super().__init__("Invalid e-mail or password.")


class Refused(ServiceError):
    """A refusal with a machine-readable `code` beside its sentence (the error body carries both)."""

    status = 403

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code
