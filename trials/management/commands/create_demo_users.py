from django.core.management.base import BaseCommand

from trials.demo import ensure_demo_users, format_accounts


class Command(BaseCommand):
    help = "Create the demo sites, trial shells and one account per role (idempotent)."

    def handle(self, *args, **options):
        accounts = ensure_demo_users()
        self.stdout.write("Demo accounts (development only):")
        self.stdout.write(format_accounts(accounts))
