"""The test settings, with e-mail written to files (``SOAK_MAIL_DIR``) so the soak can count
what every process sent: a periodic job that ran twice must not have mailed twice."""

import os

from tests.settings import *  # noqa: F403

if os.environ.get("SOAK_MAIL_DIR"):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = os.environ["SOAK_MAIL_DIR"]
