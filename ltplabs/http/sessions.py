"""Admin sessions whose keys are never stored: the database holds a SHA-256 of each key, so a
session row read from the file (a backup, a read-only consumer, a staff user's SQL) cannot be
sent back as a `sessionid` cookie. The browser keeps the only copy of the key."""

import hashlib

from django.contrib.sessions.backends import db


def stored_key(session_key: str) -> str:
    # django_session.session_key holds 40 characters: 160 bits of the digest, hex.
    return hashlib.sha256(session_key.encode()).hexdigest()[:40]


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        try:
            return self.model.objects.get(session_key=stored_key(self.session_key), expire_date__gt=db.timezone.now())
        except self.model.DoesNotExist:
            self._session_key = None

    def exists(self, session_key):
        return self.model.objects.filter(session_key=stored_key(session_key)).exists()

    def create_model_instance(self, data):
        return self.model(session_key=stored_key(self._get_or_create_session_key()), session_data=self.encode(data),
                          expire_date=self.get_expiry_date())  # fmt: skip

    def delete(self, session_key=None):
        session_key = session_key or self.session_key
        if session_key is not None:
            self.model.objects.filter(session_key=stored_key(session_key)).delete()


def end_sessions(user_id) -> int:
    """Delete every admin session of that user (their keys are not stored: the rows are read)."""
    from django.contrib.auth import SESSION_KEY
    from django.contrib.sessions.models import Session

    store = SessionStore()
    ended = [
        row.pk
        for row in Session.objects.filter(expire_date__gt=db.timezone.now())
        if store.decode(row.session_data).get(SESSION_KEY) == str(user_id)
    ]
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)
