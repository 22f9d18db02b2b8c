"""``manage.py policies export|plan|apply DIR``: approval policies as code (see README)."""

from __future__ import annotations

import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from approvals import policy_apply, policy_dryrun, policy_files
from tenants.models import User

COMMIT = re.compile(r"^[0-9a-fA-F]{7,64}$")


class Command(BaseCommand):
    help = "Export, plan (validate, diff, dry run) and apply department approval policies."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="Write every department's policy as YAML.")
        export.add_argument("directory")
        plan = sub.add_parser("plan", help="Validate the files, diff them, dry-run them.")
        plan.add_argument("directory")
        plan.add_argument("--days", type=int, default=30, help="Dry run over N days (30).")
        apply = sub.add_parser("apply", help="Write what differs as new policy versions.")
        apply.add_argument("directory")
        apply.add_argument("--commit", required=True, help="The commit the files come from.")
        apply.add_argument("--actor", default="", help="E-mail of who applies (recorded).")

    def handle(self, *args, action: str, directory: str, **options) -> None:
        path = Path(directory)
        if action == "export":
            for written in policy_files.write_directory(path):
                self.stdout.write(str(written))
            return
        if not path.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        documents = self._validated(path)
        if action == "plan":
            self._plan(documents, options["days"])
        else:
            self._apply(documents, options["commit"], options["actor"])

    def _validated(self, path: Path) -> dict[str, dict]:
        documents, errors = policy_files.validate(policy_files.read_directory(path))
        for error in errors:
            self.stderr.write(str(error))
        if errors:
            raise CommandError(f"{len(errors)} error(s) in the policy files; nothing done.")
        return documents

    def _plan(self, documents: dict[str, dict], days: int) -> None:
        if not 1 <= days <= 366:
            raise CommandError("--days must be between 1 and 366.")
        changes = policy_files.changes_by_department(documents)
        for slug, items in changes.items():
            if not items:
                self.stdout.write(f"{slug}: no changes")
                continue
            self.stdout.write(f"{slug}: {len(items)} change(s)")
            for change in items:
                self.stdout.write(f"  {change['path']}: {change['live']!r} -> {change['file']!r}")
        result = policy_dryrun.dry_run(documents, days=days)
        self.stdout.write(policy_dryrun.headline(result))
        for line in result["summary"]:
            self.stdout.write(f"  {line}")

    def _apply(self, documents: dict[str, dict], commit: str, email: str) -> None:
        if not COMMIT.match(commit):
            raise CommandError("--commit must be a commit id (7 to 64 hexadecimal digits).")
        actor = None
        if email:
            actor = User.objects.filter(email__iexact=email, is_active=True).first()
            if actor is None:
                raise CommandError(f"No active user with the e-mail {email}.")
        applied = policy_apply.apply(documents, actor=actor, commit=commit, via="command")
        for entry in applied:
            version = f" (policy version {entry['version']})" if entry["version"] else ""
            count = len(entry["changes"])
            self.stdout.write(f"{entry['department']}: {count} change(s) applied{version}")
        if not applied:
            self.stdout.write("Nothing to apply: every policy is as the files say.")
