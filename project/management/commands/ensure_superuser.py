import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "For a local run: create the superuser `admin` if no superuser exists, "
        "and print how to log in. The password comes from BOXOFFICE_ADMIN_PASSWORD, "
        "or is generated once and kept in .run/admin-password."
    )

    def handle(self, *args, **options) -> None:
        user_model = get_user_model()
        password_file = settings.RUN_DIR / "admin-password"
        if not user_model.objects.filter(is_superuser=True).exists():
            password = os.environ.get("BOXOFFICE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            user_model.objects.create_superuser("admin", "admin@localhost", password)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            self.stdout.write(self.style.SUCCESS("created superuser admin"))
        if password_file.exists():
            password = password_file.read_text().strip()
            self.stdout.write(f"admin login: admin / {password}  (kept in {password_file})")
        else:
            self.stdout.write("admin login: your existing superuser (manage.py changepassword)")
